"""Detection on SQLite files: a case per issue type, the app log, and honest 'not applicable'."""

from __future__ import annotations

import json
from pathlib import Path

from heal_pipeline.scan import scan_target
from heal_pipeline.sqlite.applog import read_app_log
from heal_pipeline.sqlite.demo import PLANTED
from heal_pipeline.sqlite.sqlparse import analyze
from heal_pipeline.targets import Target

from .conftest import make_file


def _keys(result):
    return {(i.issue_type, i.table_name, i.column_name) for i in result.issues}


def test_demo_every_planted_issue_and_nothing_else_critical(demo_target):
    out = scan_target(demo_target)
    found = _keys(out.result)
    for t, table, col in PLANTED:
        assert any(k[0] == t and k[1] == table and (col is None or k[2] == col) for k in found), (t, table, col)
    planted_types = {(t, tb) for t, tb, _ in PLANTED}
    extra = {k for k in found if (k[0], k[1]) not in planted_types}
    # the only unplanted finding: order_items.product_id also lacks an index (its FK is not the PK prefix)
    assert extra == {("fk_without_index", "order_items", None)}
    unchecked = {u["check"]: u["reason"] for u in out.result.unchecked}
    assert "not applicable" in unchecked["unused_index"] and "not applicable" in unchecked["slow_query"]
    assert "not applicable" in unchecked["invalid_index"] and "not checked" in unchecked["cast_workaround"]
    orphans = next(i for i in out.result.issues if i.issue_type == "orphaned_rows")
    assert orphans.evidence["orphans"] == 3 and sorted(orphans.evidence["sample"]) == ["398", "399", "400"]
    unused = next(i for i in out.result.issues if i.issue_type == "unused_table")
    assert unused.evidence["scan_statistics"] == "not kept by SQLite" and "code only" in unused.detail
    mt = next(i for i in out.result.issues if i.issue_type == "missing_table")
    assert mt.evidence["migration"]["file"].endswith("0002_refunds.sql")
    mc = next(i for i in out.result.issues if i.issue_type == "missing_column")
    assert mc.evidence["inferred_type"] == "REAL"
    assert all("CONCURRENTLY" not in i.detail for i in out.result.issues)


def _target(tmp_path, script: str, code: str | None, log: str | None = None) -> Target:
    db = make_file(tmp_path / "t.db", script)
    src = ()
    if code is not None:
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "app.py").write_text(code)
        src = (tmp_path / "app",)
    qlog = None
    if log is not None:
        qlog = tmp_path / "app.log"
        qlog.write_text(log)
    return Target(name="t", dsn=f"sqlite:///{db}", store_dsn="", source_dirs=src, query_log=qlog)


def test_orphans_with_foreign_keys_off_and_implicit(tmp_path):
    t = _target(tmp_path, """
        CREATE TABLE p (id INTEGER PRIMARY KEY);
        CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id), q_id INTEGER);
        CREATE INDEX c_p ON c (p_id);
        INSERT INTO p VALUES (1), (2);
        INSERT INTO c VALUES (1, 1, 1), (2, 7, 2), (3, NULL, 9), (4, 8, 5);""",
        'def f(conn):\n    return conn.execute("SELECT c.id FROM c JOIN p ON p.id = c.q_id").fetchall()\n')
    out = scan_target(t)
    got = {(i.column_name, i.evidence["orphans"], tuple(sorted(i.evidence["sample"])))
           for i in out.result.issues if i.issue_type == "orphaned_rows"}
    assert got == {("p_id", 2, ("7", "8")), ("q_id", 2, (5, 9))}
    assert not [i for i in out.result.issues if i.issue_type == "type_mismatch"]


def test_type_mismatch_declared_and_joined(tmp_path):
    t = _target(tmp_path, """
        CREATE TABLE u (id INTEGER PRIMARY KEY);
        CREATE TABLE s (tok TEXT PRIMARY KEY, uid VARCHAR(10) REFERENCES u (id), other TEXT);
        CREATE INDEX s_uid ON s (uid);""",
        'def f(conn):\n    return conn.execute("SELECT 1 FROM s JOIN u ON s.other = u.id").fetchall()\n')
    issues = [i for i in scan_target(t).result.issues if i.issue_type == "type_mismatch"]
    by = {i.column_name: i for i in issues}
    assert set(by) == {"uid", "other"}
    assert by["uid"].evidence["declared_fk"] and by["uid"].evidence["child_affinity"] == "text"
    assert not by["other"].evidence["declared_fk"] and by["other"].evidence["sources"][0]["kind"] == "code_join"


def test_missing_objects_from_sqlite_dialect_code(tmp_path):
    t = _target(tmp_path, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);", (
        'def f(conn):\n'
        '    conn.execute("INSERT OR REPLACE INTO a (id, nick) VALUES (?, ?)", (1, 2))\n'
        '    conn.execute("SELECT x.id FROM ghosts x WHERE x.id = ?", (1,))\n'
        '    conn.execute("WITH r AS (SELECT id FROM a) SELECT id FROM r")\n'
        '    conn.execute("SELECT a.rowid, name FROM a ORDER BY name")\n'))
    out = scan_target(t)
    assert {(i.issue_type, i.table_name, i.column_name) for i in out.result.issues
            if i.issue_type.startswith("missing")} == {("missing_table", "ghosts", None),
                                                      ("missing_column", "a", "nick")}
    assert not [i for i in out.result.issues if i.issue_type == "unused_table"]  # a is used


def test_no_primary_key_duplicate_index_fk_without_index(tmp_path):
    t = _target(tmp_path, """
        CREATE TABLE p (id INTEGER PRIMARY KEY);
        CREATE TABLE k (a INTEGER NOT NULL, b TEXT, p_id INTEGER REFERENCES p (id));
        CREATE UNIQUE INDEX k_a ON k (a);
        CREATE INDEX k_b1 ON k (b);
        CREATE INDEX k_b2 ON k (b);
        CREATE TABLE covered (id INTEGER PRIMARY KEY REFERENCES p (id));""", None)
    out = scan_target(t)
    keys = _keys(out.result)
    assert ("no_primary_key", "k", None) in keys
    npk = next(i for i in out.result.issues if i.issue_type == "no_primary_key")
    assert npk.evidence["candidate_key"] == ["a"] and "rebuild" in npk.detail
    dup = [i for i in out.result.issues if i.issue_type == "duplicate_index"]
    assert [i.object_name for i in dup] == ["k_b2"]
    fk = [i.table_name for i in out.result.issues if i.issue_type == "fk_without_index"]
    assert fk == ["k"]  # covered.id is the rowid: covered
    assert any(u["check"] == "unused_table" and "code not scanned" in u["reason"] for u in out.result.unchecked)


def test_runtime_errors_from_app_log(tmp_path):
    log = "\n".join([
        "2025-01-01 ERROR sqlite3.OperationalError: no such table: invoices sql=SELECT * FROM invoices WHERE id = 4",
        "2025-01-01 ERROR sqlite3.OperationalError: no such table: invoices sql=SELECT * FROM invoices WHERE id = 5",
        json.dumps({"level": "error", "error": "no such column: nick", "sql": "UPDATE a SET nick = 'x' WHERE id = 1"}),
        "ERROR sqlite3.IntegrityError: datatype mismatch sql=INSERT INTO a (id, name) VALUES ('x', 'y')",
        "ERROR sqlite3.IntegrityError: FOREIGN KEY constraint failed sql=INSERT INTO a (id, name) VALUES (3, 'z')",
        "INFO all good",
    ])
    t = _target(tmp_path, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);", None, log)
    failed = read_app_log(t.query_log)
    assert sorted((f.sqlstate, f.count) for f in failed) == [("23503", 1), ("42703", 1), ("42804", 1), ("42P01", 2)]
    out = scan_target(t)
    got = {(i.issue_type, i.table_name, i.column_name) for i in out.result.issues}
    assert {("missing_table", "invoices", None), ("missing_column", "a", "nick"),
            ("type_mismatch", "a", None), ("orphaned_rows", "a", None)} <= got
    mt = next(i for i in out.result.issues if i.issue_type == "missing_table")
    assert mt.evidence["references"][0]["count"] == 2


def test_sqlglot_reads_sqlite_only_syntax():
    f = analyze("INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING a")
    assert f.error is None and f.tables == {"t"}
    assert analyze("SELEC nonsense FROM").error


def test_cli_demo_build_sqlite(tmp_path, capsys):
    from heal_pipeline.cli import main

    path = tmp_path / "d.db"
    assert main(["demo", "build", "--sqlite", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dsn"] == f"sqlite:///{path}" and (tmp_path / "app" / "shop.py").exists()
    assert main(["demo", "build", "--sqlite", str(path)]) == 2  # exists: refuses without --replace
    assert "--replace" in capsys.readouterr().err
    assert main(["demo", "build", "--sqlite", str(path), "--replace"]) == 0
    other = tmp_path / "app.db"
    make_file(other, "CREATE TABLE precious (a);")
    assert main(["demo", "build", "--sqlite", str(other), "--replace"]) == 2  # not heal's: never replaced
    assert "not a heal demo file" in capsys.readouterr().err


def test_type_mismatch_from_a_code_cast(tmp_path):
    t = _target(tmp_path, """
        CREATE TABLE u (id INTEGER PRIMARY KEY);
        CREATE TABLE s (tok TEXT PRIMARY KEY, user_ref TEXT);""",
        'def f(conn):\n    return conn.execute(\n'
        '        "SELECT 1 FROM s JOIN u ON CAST(s.user_ref AS INTEGER) = u.id").fetchall()\n')
    (issue,) = [i for i in scan_target(t).result.issues if i.issue_type == "type_mismatch"]
    assert issue.column_name == "user_ref" and issue.evidence["sources"][0]["kind"] == "code_cast"


def test_postgresql_only_commands_refuse_a_sqlite_target(demo):
    import pytest

    from heal_pipeline.db import connect
    from heal_pipeline.errors import ConnectionFailed

    with pytest.raises(ConnectionFailed, match="is a SQLite file"):
        connect(demo["dsn"])


def test_heal_check_reads_the_app_log_of_a_sqlite_target(demo, tmp_path, monkeypatch, capsys):
    from heal_pipeline.cli import main

    log = tmp_path / "app.log"
    log.write_text("ERROR sqlite3.OperationalError: no such table: coupons sql=SELECT * FROM coupons\n")
    monkeypatch.setenv("HEAL_QUERY_LOG", str(log))
    monkeypatch.delenv("HEAL_FLEET", raising=False)
    assert main(["check", "--dsn", demo["dsn"], "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert any(i["issue_type"] == "missing_table" and i["table_name"] == "coupons" for i in out["issues"])
