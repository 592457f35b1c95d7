"""Fixes on SQLite files: the 12-step rebuild, backups, rollback that keeps the app's writes, a
concurrent writer, SIGKILL mid-rebuild, and the heal.fix_history record."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from heal_pipeline.scan import scan_target
from heal_pipeline.sqlite.fix import apply_plan, plan_fix, rollback
from heal_pipeline.sqlite.rebuild import Refused, rebuild_table
from heal_pipeline.store import open_store

from .conftest import make_file

REPO = Path(__file__).resolve().parents[2]


def _plans(target, path):
    issues = scan_target(target).result.issues
    return {(i.issue_type, i.table_name, i.column_name): plan_fix(i, path) for i in issues}


def test_every_fix_on_the_demo_then_clean(demo, demo_target, tmp_path, fresh_dsn):
    path = Path(demo["path"])
    plans = _plans(demo_target, path)
    assert plans[("fk_without_index", "orders", None)].tier == "auto"
    rb = plans[("type_mismatch", "order_items", "product_id")]
    assert rb.rows_rewritten == 200 and "holds the write lock for ~" in rb.notes[0]
    store = open_store(fresh_dsn)
    try:
        for key, plan in plans.items():
            if plan is None:
                continue
            res = apply_plan(plan, path, tmp_path / "home", store=store)
            assert res["status"] == "verified", (key, res)
            assert Path(res["backup_ref"]).exists() and res["verify"]["integrity_check"] == "ok"
        rows = store.execute("SELECT issue_type, status, engine, lock_ms, backup_ref FROM heal.fix_history "
                             "ORDER BY fix_id").fetchall()
    finally:
        store.close()
    assert len(rows) == sum(1 for p in plans.values() if p) and all(r[1] == "verified" and r[2] == "sqlite" for r in rows)
    assert all(r[3] is not None and r[3] >= 0 and r[4] for r in rows)
    left = {(i.issue_type, i.table_name) for i in scan_target(demo_target).result.issues}
    for fixed in [("missing_table", "refunds"), ("missing_column", "orders"), ("type_mismatch", "order_items"),
                  ("type_mismatch", "sessions"), ("fk_without_index", "orders")]:
        assert fixed not in left
    c = sqlite3.connect(path)
    assert c.execute("SELECT typeof(product_id), count(*) FROM order_items GROUP BY 1").fetchall() == [("integer", 200)]
    assert c.execute("SELECT count(*) FROM user_orders").fetchone()[0] == 197  # the view was recreated
    c.execute("INSERT INTO orders (id, user_id, created_at) VALUES (5000, 1, 'x')")  # the trigger too
    assert c.execute("SELECT count(*) FROM audit_log WHERE payload = 5000").fetchone() == (1,)
    c.close()


def test_refuses_values_that_do_not_convert(tmp_path):
    db = make_file(tmp_path / "r.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                                      "INSERT INTO t VALUES (1, '5'), (2, 'abc'), (3, '007'), (4, NULL);")
    before = db.read_bytes()
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(Refused) as e:
        rebuild_table(conn, "t", {"v": "INTEGER"})
    assert sorted(e.value.samples) == ["007", "abc"] and "nothing was changed" in str(e.value)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,) and not conn.in_transaction
    conn.close()
    assert db.read_bytes() == before


def test_foreign_keys_setting_restored_and_no_cascade(tmp_path):
    db = make_file(tmp_path / "c.db", """
        CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT);
        CREATE TABLE ch (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id) ON DELETE CASCADE);
        INSERT INTO p VALUES (1, '10'), (2, '20'); INSERT INTO ch VALUES (1, 1), (2, 2);""")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    r = rebuild_table(conn, "p", {"code": "INTEGER"})
    assert r.rows == 2 and conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM ch").fetchone() == (2,)  # the DROP did not cascade
    assert conn.execute("SELECT typeof(code) FROM p").fetchall() == [("integer",), ("integer",)]
    conn.close()


def test_rollback_keeps_rows_the_app_wrote_since(tmp_path, fresh_dsn):
    db = make_file(tmp_path / "b.db", """
        CREATE TABLE u (id INTEGER PRIMARY KEY);
        CREATE TABLE s (id INTEGER PRIMARY KEY, uid TEXT REFERENCES u (id), note TEXT);
        CREATE INDEX s_uid ON s (uid);""" + "".join(
        f"INSERT INTO u VALUES ({i}); INSERT INTO s VALUES ({i}, '{i}', 'n{i}');" for i in range(1, 11)))
    from heal_pipeline.targets import Target

    t = Target(name="b", dsn=f"sqlite:///{db}", store_dsn="")
    plan = _plans(t, db)[("type_mismatch", "s", "uid")]
    store = open_store(fresh_dsn)
    try:
        res = apply_plan(plan, db, tmp_path / "home", store=store)
        assert res["status"] == "verified"
        c = sqlite3.connect(db)
        c.execute("UPDATE s SET note = 'app' WHERE id = 3")
        c.execute("DELETE FROM s WHERE id = 4")
        c.execute("INSERT INTO s VALUES (11, 11, 'new')")
        c.commit()
        c.close()
        rb = rollback(plan, res, db, store=store)
        hist = store.execute("SELECT status, outcome, conflicts, rollback_of FROM heal.fix_history "
                             "WHERE rollback_of IS NOT NULL").fetchone()
        assert store.execute("SELECT rolled_back_by IS NOT NULL FROM heal.fix_history WHERE fix_id = %s",
                             (res["fix_id"],)).fetchone() == (True,)
    finally:
        store.close()
    assert rb["status"] == "rolled_back_with_conflicts"
    assert sorted((c["key"], c["reason"].split()[0]) for c in rb["conflicts"]) == [("3", "changed"), ("4", "deleted")]
    assert hist[0] == hist[1] == "rolled_back_with_conflicts" and hist[3] == res["fix_id"]
    assert sorted(c["key"] for c in hist[2]) == ["3", "4"]
    c = sqlite3.connect(db)
    rows = dict((r[0], r[1:]) for r in c.execute("SELECT id, typeof(uid), uid, note FROM s"))
    c.close()
    assert rows[1] == ("text", "1", "n1")  # restored from the backup: the original text value
    assert rows[3] == ("text", "3", "app")  # the app's update is kept
    assert 4 not in rows and rows[11] == ("text", "11", "new")  # the delete stays; the insert is kept
    assert rb["verify"]["integrity_check"] == "ok"


WRITER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
print("ready", flush=True)
n = 0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    c.execute("INSERT INTO big (id, v) VALUES (?, ?)", (10_000_000 + n, str(n)))
    n += 1
print(n, flush=True)
"""


def _big(tmp_path, rows: int) -> Path:
    db = make_file(tmp_path / "big.db", "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX big_v ON big (v);")
    c = sqlite3.connect(db)
    c.executemany("INSERT INTO big VALUES (?, ?)", ((i, str(i)) for i in range(rows)))
    c.commit()
    c.close()
    return db


def test_writer_during_rebuild_waits_and_loses_nothing(tmp_path):
    db = _big(tmp_path, 150_000)
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        r = rebuild_table(conn, "big", {"v": "INTEGER"})
        conn.close()
        written = int(w.stdout.readline())
    finally:
        w.wait(timeout=60)
    assert r.lock_s > 0.05 and written > 0
    c = sqlite3.connect(db)
    extra = c.execute("SELECT count(*) FROM big WHERE id >= 10000000").fetchone()[0]
    kinds = c.execute("SELECT typeof(v), count(*) FROM big WHERE id < 10000000 GROUP BY 1").fetchall()
    c.close()
    assert extra == written  # every write the writer made is there (before or after the rebuild)
    assert kinds == [("integer", 150_000)]


KILLED = """
import sqlite3, sys, time
sys.path.insert(0, sys.argv[2])
from heal_pipeline.sqlite.rebuild import rebuild_table
c = sqlite3.connect(sys.argv[1], isolation_level=None)
def pause(stage):
    print(stage, flush=True)
    time.sleep(60)
rebuild_table(c, "big", {"v": "INTEGER"}, pause=pause)
"""


def test_sigkill_mid_rebuild_leaves_before_and_next_run_converges(tmp_path):
    db = _big(tmp_path, 20_000)
    p = subprocess.Popen([sys.executable, "-c", KILLED, str(db), str(REPO)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "copied"  # inside the transaction, new table filled
    p.send_signal(signal.SIGKILL)
    p.wait()
    c = sqlite3.connect(db, isolation_level=None)  # the hot journal is rolled back on open
    assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    names = [r[0] for r in c.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    assert names == ["big"]  # before: no heal_new_big left behind
    assert c.execute("SELECT typeof(v), count(*) FROM big GROUP BY 1").fetchall() == [("text", 20_000)]
    r = rebuild_table(c, "big", {"v": "INTEGER"})  # the next run converges
    assert r.rows == 20_000
    assert c.execute("SELECT typeof(v), count(*) FROM big GROUP BY 1").fetchall() == [("integer", 20_000)]
    c.close()


def test_backup_includes_wal_content_while_the_app_runs(tmp_path):
    from heal_pipeline.sqlite.backup import take_backup
    from heal_pipeline.sqlite.target import open_write

    db = make_file(tmp_path / "w.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);", wal=True)
    app = sqlite3.connect(db)
    app.execute("PRAGMA wal_autocheckpoint = 0")
    app.executemany("INSERT INTO t VALUES (?, ?)", ((i, str(i)) for i in range(1000)))
    app.commit()  # committed, still only in w.db-wal
    assert (tmp_path / "w.db-wal").stat().st_size > 0
    conn = open_write(db)
    bak, _s = take_backup(conn, tmp_path, "w")
    conn.close()
    b = sqlite3.connect(bak)
    assert b.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    assert b.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    b.close()
    app.close()


def test_rollback_of_create_table_and_add_column_never_deletes_data(demo, demo_target, tmp_path):
    path = Path(demo["path"])
    plans = _plans(demo_target, path)
    results = {}
    for key in [("missing_table", "refunds", None), ("missing_column", "orders", "discount"),
                ("fk_without_index", "orders", None)]:
        results[key] = (plans[key], apply_plan(plans[key], path, tmp_path / "home"))
    c = sqlite3.connect(path)
    c.execute("INSERT INTO refunds (order_id, amount) VALUES (1, 2.5)")
    c.execute("UPDATE orders SET discount = 0.1 WHERE id = 7")
    c.commit()
    c.close()
    outs = {k: rollback(p, r, path) for k, (p, r) in results.items()}
    assert outs[("fk_without_index", "orders", None)]["status"] == "rolled_back"
    assert outs[("missing_table", "refunds", None)]["status"] == "rolled_back_with_conflicts"
    assert outs[("missing_column", "orders", "discount")]["conflicts"][0]["keys"] == [7]
    c = sqlite3.connect(path)
    assert c.execute("SELECT count(*) FROM refunds").fetchone() == (1,)  # kept
    assert c.execute("SELECT discount FROM orders WHERE id = 7").fetchone() == (0.1,)
    assert "orders_user_id_idx" not in {r[0] for r in c.execute("SELECT name FROM sqlite_schema")}
    c.close()


def test_cli_fix_and_rollback_through_fix_history(demo, fresh_dsn, monkeypatch, capsys, tmp_path):
    import json as _json

    from heal_pipeline.cli import main

    monkeypatch.setenv("HEAL_STORE_URL", fresh_dsn)
    monkeypatch.setenv("HEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HEAL_FLEET", raising=False)
    args = ["sqlite", "fix", "--dsn", demo["dsn"], "--source-dir", demo["source_dir"], "--json"]
    assert main(args) == 0
    first = _json.loads(capsys.readouterr().out)
    assert {r["status"] for r in first} == {"verified", "needs approval"}  # only the auto tier ran
    assert main(args + ["--approve", "--only", "type_mismatch"]) == 0
    done = [r for r in _json.loads(capsys.readouterr().out) if r["status"] == "verified"]
    assert len(done) == 2 and all(r["lock_s"] >= 0 for r in done)
    fix_id = next(r["fix_id"] for r in done if "order_items" in r["summary"])
    assert main(["sqlite", "rollback", str(fix_id), "--dsn", demo["dsn"]]) == 0
    assert capsys.readouterr().out.strip() == f"heal: fix {fix_id}: rolled_back"
    assert main(["sqlite", "rollback", str(fix_id), "--dsn", demo["dsn"]]) == 2
    assert "already rolled back" in capsys.readouterr().err
    c = sqlite3.connect(demo["path"])
    assert c.execute("SELECT DISTINCT typeof(product_id) FROM order_items").fetchall() == [("text",)]
    c.close()


def test_constraint_change_and_inferred_table(tmp_path):
    from heal_pipeline.targets import Target

    db = make_file(tmp_path / "k.db", """
        CREATE TABLE k (a INTEGER NOT NULL, b TEXT);
        CREATE UNIQUE INDEX k_a ON k (a);
        INSERT INTO k VALUES (20, 'x'), (10, 'y');  -- rowids 1, 2: not the key
        CREATE TABLE dup (a INTEGER, b TEXT);
        INSERT INTO dup VALUES (1, 'x'), (1, 'y');""")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.py").write_text(
        'def f(c):\n    c.execute("SELECT n.id, n.label FROM notes n WHERE n.id = ?", (1,))\n'
        '    c.execute("SELECT a, b FROM k")\n    c.execute("SELECT a, b FROM dup")\n')
    t = Target(name="k", dsn=f"sqlite:///{db}", store_dsn="", source_dirs=(tmp_path / "app",))
    plans = _plans(t, db)
    pk = plans[("no_primary_key", "k", None)]
    assert pk.steps[0].args["add_constraints"] == ['PRIMARY KEY ("a")']
    assert apply_plan(pk, db, tmp_path / "home")["status"] == "verified"
    inferred = plans[("missing_table", "notes", None)]
    assert inferred.inferred and inferred.tier == "approval"
    assert apply_plan(inferred, db, tmp_path / "home")["status"] == "verified"
    c = sqlite3.connect(db)
    assert c.execute("SELECT name, pk FROM pragma_table_info('k') WHERE pk > 0").fetchall() == [("a", 1)]
    assert c.execute("SELECT rowid, a, b FROM k ORDER BY a").fetchall() == [(10, 10, "y"), (20, 20, "x")]
    assert [r[1] for r in c.execute("PRAGMA table_info('notes')")] == ["id", "label"]
    c.close()
    # a key the rows do not satisfy: refused, nothing changed
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(Refused, match="do not satisfy"):
        rebuild_table(conn, "dup", {}, add_constraints=("PRIMARY KEY (a)",))
    assert conn.execute("SELECT count(*) FROM dup").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'heal_new_%'").fetchone() == (0,)
    conn.close()
    left = {(i.issue_type, i.table_name) for i in scan_target(t).result.issues}
    assert ("no_primary_key", "k") not in left and ("missing_table", "notes") not in left


HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
"""


def test_busy_timeout_and_bounded_retries(tmp_path):
    from heal_pipeline.sqlite.rebuild import begin_immediate
    from heal_pipeline.sqlite.target import SqliteError

    db = make_file(tmp_path / "r.db", "CREATE TABLE t (a);")
    for hold, expect_ok in ((0.6, True), (30, False)):
        h = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(hold)], stdout=subprocess.PIPE, text=True)
        try:
            assert h.stdout.readline().strip() == "locked"
            conn = sqlite3.connect(db, isolation_level=None, timeout=0.2)
            t0 = time.monotonic()
            if expect_ok:
                assert begin_immediate(conn, retries=4) > 1  # waited, retried, got the lock
                conn.execute("ROLLBACK")
            else:
                with pytest.raises(SqliteError, match="through 3 attempts"):
                    begin_immediate(conn, retries=3)
                assert time.monotonic() - t0 < 5  # bounded
            conn.close()
        finally:
            h.kill()
            h.wait()
