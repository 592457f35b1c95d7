"""broken_statement through the real detection registry: code scanned from files, real server."""

from __future__ import annotations

import psycopg

from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, run_detection
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.model import FailedQuery

APP = '''
def handlers(cur, user_id, email):
    cur.execute("SELECT id FROM users WHERE email = %s", (int(user_id),))
    cur.execute("SELECT id FROM users WHERE id = %s", (int(user_id),))
    cur.execute("SELECT nickname FROM users WHERE id = %s", (user_id,))
    cur.execute("SELECT id FROM users WHERE name = 42")
    cur.execute("SELECT * FROM refunds")
    cur.execute("SELECT name FROM users WHERE id = %s", (user_id,))
'''


def make_ctx(dsn, tmp_path, src, failed=(), connect_ok=True):
    from heal_pipeline.codescan import scan

    (tmp_path / "app.py").write_text(src.lstrip("\n"))
    return DetectContext(target_db="t", snapshot=take_snapshot(dsn, target_db="t"), code=scan([tmp_path]),
                         failed=list(failed),
                         connect=(lambda: connect(dsn, autocommit=False)) if connect_ok else None)


def test_broken_statements_with_file_line_log_links_and_evidence(vdb, tmp_path):
    failed = [FailedQuery(sqlstate="42883", message="operator does not exist: text = integer",
                          statement="SELECT id FROM users WHERE name = 7", normalized="x", count=12,
                          first_seen="2026-12-01T00:00:00Z", last_seen="2026-12-02T00:00:00Z"),
              FailedQuery(sqlstate="42P01", message='relation "other" does not exist',
                          statement="SELECT * FROM other", normalized="y")]
    ctx = make_ctx(vdb, tmp_path, APP, failed)
    result = run_detection(ctx, only={"broken_statement", "missing_table", "missing_column"})
    broken = {i.line: i for i in result.issues if i.issue_type == "broken_statement"}
    # lines 4 and 6 are named by missing_column / missing_table: reported once, there
    assert set(broken) == {2, 5}, {k: v.detail for k, v in broken.items()}
    assert all(i.severity == "critical" and i.file == "app.py" for i in broken.values())
    p = broken[2].evidence
    assert p["kind"] == "parameter_type"
    assert p["parameters"][0]["python_cast"] == "int" and p["parameters"][0]["server_type"] == "text"
    op = broken[5].evidence
    assert op["sqlstate"] == "42883" and op["log_count"] == 12 and op["log"][0]["count"] == 12
    assert "the log has 12 failure(s)" in broken[5].detail
    # the server's verdict is evidence on the parser-based issues
    mt = next(i for i in result.issues if i.issue_type == "missing_table" and i.table_name == "refunds")
    assert mt.evidence["server"]["agrees"] is True
    assert mt.evidence["server"]["statements"][0]["sqlstate"] == "42P01"
    mc = next(i for i in result.issues if i.issue_type == "missing_column")
    assert mc.column_name == "nickname" and mc.evidence["server"]["agrees"] is True
    assert mc.evidence["server"]["statements"] == [
        {"file": "app.py", "line": 4, "status": "rejected", "sqlstate": "42703", "reason": None,
         "message": 'column "nickname" does not exist'}]
    assert result.unchecked == []


def test_type_mismatch_gets_the_server_verdict(vdb, tmp_path):
    with psycopg.connect(vdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE sessions (id int PRIMARY KEY, user_id text)")
    src = '''
def f(cur):
    cur.execute("SELECT s.id FROM sessions s JOIN users u ON s.user_id = u.id")
'''
    ctx = make_ctx(vdb, tmp_path, src)
    result = run_detection(ctx, only={"broken_statement", "type_mismatch"})
    tm = [i for i in result.issues if i.issue_type == "type_mismatch"]
    assert tm and tm[0].evidence["server"]["statements"][0]["sqlstate"] == "42883"
    assert [i.line for i in result.issues if i.issue_type == "broken_statement"] == [2]


def test_without_a_connection_it_is_not_checked_never_clean(vdb, tmp_path):
    ctx = make_ctx(vdb, tmp_path, APP, connect_ok=False)
    result = run_detection(ctx, only={"broken_statement"})
    assert result.issues == []
    assert result.unchecked == [{"check": "broken_statement",
                                 "reason": "no database connection: statements not verified by the server"}]


def test_statements_that_could_not_be_checked_make_the_check_partial(vdb, tmp_path):
    src = '''
def f(cur):
    cur.execute("SELECT v FROM watched")
    cur.execute("SELECT id FROM orders WHERE name = 1")
'''
    ctx = make_ctx(vdb, tmp_path, src)
    holder = psycopg.connect(vdb)
    try:
        holder.execute("LOCK TABLE watched IN ACCESS EXCLUSIVE MODE")
        result = run_detection(ctx, only={"broken_statement"})
    finally:
        holder.rollback()
        holder.close()
    assert [(i.issue_type, i.line) for i in result.issues] == [("broken_statement", 3)]
    assert result.unchecked == [{"check": "broken_statement",
                                 "reason": "1 statement(s) could not be verified: lock 1"}]
