"""Runtime failures become issues (issue 12 item 8): 42883, 22P02 and 23503 fired at a real server,
read back from its jsonlog, and matched to type_mismatch / orphaned_rows issues or reported as
broken_statement — positive and negative cases."""

from __future__ import annotations

import time

import psycopg
import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, run_detection
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.logs import cursor_at_end, read_new
from heal_pipeline.model import FailedQuery

SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, email text);
INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 20) g;
CREATE TABLE sessions (id int PRIMARY KEY, user_id text);              -- text vs users.id integer
INSERT INTO sessions SELECT g, (g % 20 + 1)::text FROM generate_series(1, 40) g;
CREATE TABLE orders (id int PRIMARY KEY, user_id int);
INSERT INTO orders VALUES (1, 1), (2, 99);                              -- 99: an orphan
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users NOT VALID;
CREATE TABLE payments (id int PRIMARY KEY, user_id int REFERENCES users);
CREATE TABLE tags (id int PRIMARY KEY, label text);
CREATE TABLE flags (id int PRIMARY KEY, enabled boolean);
"""

APP = '''
def pay(cur, pid, uid):
    cur.execute("INSERT INTO payments (id, user_id) VALUES (%s, %s)", (pid, uid))


def tags(cur):
    cur.execute("SELECT id FROM tags WHERE label = %s", ("x",))
'''

FIRED = [
    ("SELECT id FROM sessions WHERE user_id = 5", None),  # 42883 text = integer → type_mismatch
    ("SELECT email FROM users WHERE id = %s", ("abc",)),  # 22P02 on users.id → type_mismatch (parent)
    ("INSERT INTO orders (id, user_id) VALUES (10, 77)", None),  # 23503 NOT VALID FK → orphaned_rows
    ("INSERT INTO payments (id, user_id) VALUES (%s, %s)", (1, 55)),  # 23503, code site → broken_statement
    ("SELECT id FROM tags WHERE label > 5", None),  # 42883, nothing matches, no code site
    ("SELECT id FROM tags WHERE label > 6", None),  # the same statement: one group, count 2
    ("SELECT id FROM tags WHERE label <> %s", (5,)),  # 42883 text <> smallint: a bound Python int
    ("INSERT INTO flags (id, enabled) VALUES (1, %s)", (5,)),  # 42804 boolean vs smallint
    ("INSERT INTO users VALUES (1, 'dup')", None),  # 23505: not a runtime-evidence code (negative)
]


@pytest.fixture
def fired(fresh_dsn, pg_server, tmp_path):
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    log = pg_server.info().jsonlog
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        db = conn.execute("SELECT current_database()").fetchone()[0]
    cursor = cursor_at_end(log)
    with psycopg.connect(fresh_dsn, autocommit=True, application_name="shop") as conn:
        for q, params in FIRED:
            with pytest.raises(psycopg.Error):
                conn.execute(q, params)
    failed, deadline = [], time.monotonic() + 20
    while time.monotonic() < deadline:
        res = read_new(log, cursor, database=db)
        cursor, failed = res.cursor, failed + res.failed
        if sum(f.count for f in failed) >= len(FIRED):
            break
        time.sleep(0.1)
    (tmp_path / "app.py").write_text(APP.lstrip("\n"))
    code = scan([tmp_path])
    return fresh_dsn, failed, code


def _ctx(dsn, failed, code) -> DetectContext:
    return DetectContext(target_db="t", snapshot=take_snapshot(dsn, target_db="t"), code=code,
                         failed=list(failed), connect=lambda: connect(dsn, autocommit=False))


ONLY = {"type_mismatch", "orphaned_rows", "cast_workaround", "missing_table", "missing_column",
        "broken_statement"}


def test_runtime_failures_become_evidence_or_broken_statements(fired):
    dsn, failed, code = fired
    assert sorted(f.sqlstate for f in failed) == ["22P02", "23503", "23503", "23505", "42804", "42883", "42883",
                                                  "42883"]
    result = run_detection(_ctx(dsn, failed, code), only=ONLY)
    by = {(i.issue_type, i.table_name, i.column_name, i.file, i.line): i for i in result.issues}

    tm = by[("type_mismatch", "sessions", "user_id", None, None)]
    states = sorted(e["sqlstate"] for e in tm.evidence["runtime"])
    assert states == ["22P02", "42883"] and tm.evidence["runtime_count"] == 2
    assert tm.detail.endswith("; the log has 2 runtime failure(s) of it (22P02 ×1, 42883 ×1)")
    e42883 = next(e for e in tm.evidence["runtime"] if e["sqlstate"] == "42883")
    assert e42883["diagnosis"]["types"] == ["text", "integer"] and e42883["diagnosis"]["column"] == "user_id"
    e22 = next(e for e in tm.evidence["runtime"] if e["sqlstate"] == "22P02")
    assert (e22["diagnosis"]["table"], e22["diagnosis"]["column"], e22["diagnosis"]["value"]) == (
        "users", "id", "abc")  # the bound parameter, located through the CONTEXT line

    orphans = by[("orphaned_rows", "orders", "user_id", None, None)]
    (rt,) = orphans.evidence["runtime"]
    assert rt["sqlstate"] == "23503" and rt["diagnosis"]["constraint"] == "orders_user_fk"

    broken = [i for i in result.issues if i.issue_type == "broken_statement"]
    pay = next(i for i in broken if i.file == "app.py")
    assert (pay.line, pay.severity, pay.evidence["kind"]) == (2, "warning", "runtime")
    assert pay.evidence["runtime"][0]["diagnosis"]["referenced_table"] == "users"
    assert "failed 1 time(s) at run time with 23503 (foreign_key_violation)" in pay.detail
    op = next(i for i in broken if i.object_name == "select id from tags where label > $1")
    assert op.severity == "critical" and op.object_name == "select id from tags where label > $1"
    assert op.evidence["runtime_count"] == 2 and op.evidence["reproduced"] is True
    assert pay.evidence["reproduced"] is None  # a 23503 depends on the values: never re-asked
    # negatives: the 23505 attaches nowhere; the statement that only ran fine (tags = $1) has no issue;
    # a failure is evidence once, never both on an issue and as a broken_statement
    # the bound int: re-asked with the type the message names (text <> smallint), so it is still rejected
    bound = next(i for i in broken if i.object_name == "select id from tags where label <> $1")
    assert bound.evidence["reproduced"] is True and bound.severity == "critical"
    dm = next(i for i in broken if i.object_name == "insert into flags(id, enabled) values ($1, $2)")
    assert (dm.severity, dm.evidence["sqlstate"], dm.evidence["reproduced"]) == ("critical", "42804", None)
    assert dm.evidence["runtime"][0]["diagnosis"]["column"] == "enabled"
    assert len(broken) == 4
    assert not any(e["sqlstate"] == "23505" for i in result.issues for e in i.evidence.get("runtime", []))
    assert sum(i.evidence.get("runtime_count", 0) for i in result.issues) == 8


def test_fixed_or_old_failures_are_history_not_issues(fired):
    """After the fix the server accepts the statement again: the logged 42883 is stale. A failure
    last seen a month ago is outside the window."""
    from dataclasses import replace

    dsn, failed, code = fired
    tags = [f for f in failed if "tags" in (f.statement or "")]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '5s'")
        conn.execute("ALTER TABLE tags ALTER COLUMN label TYPE integer USING length(label)")
    result = run_detection(_ctx(dsn, tags, code), only={"broken_statement"})
    assert [i for i in result.issues if i.file is None] == []
    from datetime import datetime, timedelta, timezone

    month_ago = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    old = [replace(f, last_seen=month_ago) for f in failed if f.sqlstate == "23503"]
    result = run_detection(_ctx(dsn, old, code), only=ONLY)
    assert not any(i.evidence.get("kind") == "runtime" or "runtime" in i.evidence for i in result.issues)


def test_without_runtime_failures_nothing_is_added(fired):
    dsn, failed, code = fired
    result = run_detection(_ctx(dsn, [f for f in failed if f.sqlstate == "23505"], code), only=ONLY)
    assert not any("runtime" in i.evidence for i in result.issues)
    assert [i for i in result.issues if i.issue_type == "broken_statement"] == []
    assert any(i.issue_type == "type_mismatch" for i in result.issues)  # still found from the data


def test_the_store_keeps_what_the_diagnosis_needs(fresh_dsn):
    """cursor_position and CONTEXT survive heal.failed_queries (the bound 22P02 value is found through
    them), and logged durations accumulate in heal.logged_statements."""
    from heal_pipeline.logs import load_durations, merge_durations
    from heal_pipeline.model import LoggedStatement
    from heal_pipeline.store import ingest_failed_queries, load_failed_queries, open_store

    fq = FailedQuery(sqlstate="22P02", message='invalid input syntax for type integer: "abc"',
                     statement="SELECT email FROM users WHERE id = $1", normalized="select email from users where id = $1",
                     cursor_position=None, context="unnamed portal parameter $1 = '...'",
                     first_seen="2026-12-03T06:00:00+00:00", last_seen="2026-12-03T06:00:00+00:00")
    g = LoggedStatement(normalized="select $1", statement="SELECT 1", calls=2, total_ms=500.0, max_ms=300.0,
                        first_seen="2026-12-03T06:00:00+00:00", last_seen="2026-12-03T06:01:00+00:00")
    with open_store(fresh_dsn) as store:
        ingest_failed_queries(store, "t", "/x.json", [fq], {"v": 1}, durations=[g])
        ingest_failed_queries(store, "t", "/x.json", [], {"v": 1}, durations=merge_durations([g]))
        (back,) = load_failed_queries(store, "t")
        (d,) = load_durations(store, "t")
    assert back.context == fq.context and back.sqlstate == "22P02"
    assert (d.calls, d.total_ms, d.max_ms, d.mean_ms) == (4, 1000.0, 300.0, 250.0)
