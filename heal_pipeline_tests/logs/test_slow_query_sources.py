"""slow_query without pg_stat_statements (issue 12 item 9): the real server's ``duration:`` lines, and
``EXPLAIN (GENERIC_PLAN)`` of the code's statements ("likely slow"). Positive and negative cases."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.codescan import scan
from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, Thresholds, run_detection
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.logs import cursor_at_end, read_new


def _ctx(dsn, **kw) -> DetectContext:
    return DetectContext(target_db="t", snapshot=take_snapshot(dsn, target_db="t"),
                         connect=lambda: connect(dsn, autocommit=False), **kw)


def _dbname(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT current_database()").fetchone()[0]


@pytest.fixture
def logged_dsn(fresh_dsn, pg_server):
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    return fresh_dsn, pg_server.info().jsonlog


def test_slow_statements_from_the_servers_duration_lines(logged_dsn):
    dsn, log = logged_dsn
    cursor = cursor_at_end(log)
    db = _dbname(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET log_min_duration_statement = 0")
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.06)", prepare=False)  # slow, 3 calls: reported
        for _ in range(2):
            conn.execute("SELECT pg_sleep(0.06), 'twice'", prepare=False)  # slow, too few calls
        for i in range(3):
            conn.execute(f"SELECT {i} AS fast", prepare=False)  # fast
    deadline, slow = time.monotonic() + 20, []
    while time.monotonic() < deadline:
        res = read_new(log, cursor, database=db)
        cursor, slow = res.cursor, slow + res.slow
        if any("fast" in g.normalized for g in slow):
            break
        time.sleep(0.1)
    ctx = _ctx(dsn, durations=slow, thresholds=Thresholds(slow_query_mean_ms=50))
    assert ctx.snapshot.pg_stat_statements != "ok"  # the extension is not created in this database
    result = run_detection(ctx, only={"slow_query"})
    (issue,) = result.issues
    assert issue.object_name == "select pg_sleep($1)"
    ev = issue.evidence
    assert ev["source"] == "log" and ev["calls"] == 3 and ev["mean_ms"] >= 50 and ev["max_ms"] >= ev["mean_ms"]
    assert ev["statement"] == "SELECT pg_sleep(0.06)"
    # heal's own session sees the server default (1000 ms): statements between 50 and 1000 ms that
    # the application's sessions did not log are invisible — said, so the check is never "clean"
    assert ev["log_min_duration_statement_ms"] == 1000
    assert [u["check"] for u in result.unchecked] == ["slow_query"]
    assert "log_min_duration_statement = 1000 ms is above the 50 ms threshold" in result.unchecked[0]["reason"]


def test_with_the_threshold_covered_the_log_check_is_complete(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 100").format(
            sql.Identifier(_dbname(fresh_dsn))))
    result = run_detection(_ctx(fresh_dsn, durations=[]), only={"slow_query"})
    assert result.issues == [] and result.unchecked == []
    # what heal.logged_statements holds: one statement still logged, one last logged a month ago
    from datetime import datetime, timedelta, timezone

    from heal_pipeline.model import LoggedStatement

    now = datetime.now(timezone.utc)
    groups = [LoggedStatement(normalized=f"select * from {t} where x = $1", statement=f"SELECT * FROM {t} WHERE x = 1",
                              calls=5, total_ms=2500.0, max_ms=900.0, last_seen=seen.isoformat())
              for t, seen in (("recent", now - timedelta(hours=1)), ("fixed_long_ago", now - timedelta(days=30)))]
    result = run_detection(_ctx(fresh_dsn, durations=groups), only={"slow_query"})
    assert [i.object_name for i in result.issues] == ["select * from recent where x = $1"]
    assert result.issues[0].evidence["mean_ms"] == 500.0 and result.unchecked == []


def test_no_log_or_logging_off_is_not_checked_never_clean(fresh_dsn):
    result = run_detection(_ctx(fresh_dsn, durations=None), only={"slow_query"})
    assert result.issues == []
    assert result.unchecked[0]["reason"].endswith("no server log read for duration lines (HEAL_QUERY_LOG)")
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = -1").format(
            sql.Identifier(_dbname(fresh_dsn))))
    result = run_detection(_ctx(fresh_dsn, durations=[]), only={"slow_query"})
    assert result.issues == []
    assert "log_min_duration_statement = -1: the server logs no statement durations" in result.unchecked[0]["reason"]


# --------------------------------------------------------------------------------------
# EXPLAIN (GENERIC_PLAN)
# --------------------------------------------------------------------------------------

APP = '''
def handlers(cur, key, ident, flag):
    cur.execute("SELECT id FROM events WHERE payload = %s", (key,))
    cur.execute("SELECT payload FROM events WHERE id = %s", (ident,))
    cur.execute("SELECT count(*) FROM events")
    cur.execute("SELECT id FROM events WHERE flag = %s", (flag,))
    cur.execute("SELECT id FROM small WHERE v = %s", (key,))
    cur.execute("DELETE FROM events WHERE payload = %s", (key,))
    cur.execute("SELECT nope FROM events WHERE payload = %s", (key,))
'''


@pytest.fixture
def big_db(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id int PRIMARY KEY, payload text, flag boolean)")
        conn.execute("INSERT INTO events SELECT g, 'p' || g, g % 2 = 0 FROM generate_series(1, 120000) g")
        conn.execute("CREATE TABLE small (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO small SELECT g, 'v' || g FROM generate_series(1, 500) g")
        conn.execute("ANALYZE events; ANALYZE small")
    return fresh_dsn


def test_generic_plan_flags_a_seq_scan_of_a_large_table_for_a_selective_filter(big_db, tmp_path, pg_server):
    (tmp_path / "app.py").write_text(APP.lstrip("\n"))
    ctx = _ctx(big_db, code=scan([tmp_path]), durations=[])
    log = pg_server.info().jsonlog if pg_server is not None else None
    cursor = cursor_at_end(log) if log else None
    result = run_detection(ctx, only={"slow_query"})
    if log:  # heal's own planning leaves no failure the log reader would take for the application's
        time.sleep(0.3)
        assert [r for r in read_new(log, cursor, database=_dbname(big_db)).records if r.is_failure] == []
    likely = {i.line: i for i in result.issues if i.evidence.get("source") == "generic_plan"}
    # payload = $1 (SELECT and DELETE) are likely slow; the PK lookup, the unfiltered count, the 50 %
    # boolean filter, the small table and the statement the server rejects are not
    assert set(likely) == {2, 7}, {k: v.detail for k, v in likely.items()}
    i = likely[2]
    assert (i.severity, i.file, i.schema_name, i.table_name) == ("warning", "app.py", "public", "events")
    ev = i.evidence
    assert ev["verdict"] == "likely slow" and ev["table_rows"] >= 100_000 and ev["selectivity"] <= 0.01
    assert "payload" in ev["filter"] and i.detail.startswith("likely slow: ")
    with psycopg.connect(big_db) as conn:  # EXPLAIN without ANALYZE: the DELETE never ran
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 120000
    # without the verifier's verdicts every statement is explained: the rejected one fails, the
    # transaction starts afresh for the rest, and the answer is the same
    from heal_pipeline.detect.pg011_broken_statement import seed_statement_checks

    cursor = cursor_at_end(log) if log else None
    ctx2 = _ctx(big_db, code=ctx.code, durations=[])
    seed_statement_checks(ctx2, None)
    again = run_detection(ctx2, only={"slow_query"})
    assert {i.line for i in again.issues if i.evidence.get("source") == "generic_plan"} == {2, 7}
    assert not any("explained" in u["reason"] for u in again.unchecked), again.unchecked
    if log:  # the rejected EXPLAIN ran as heal_verify: not a failure of the application
        time.sleep(0.3)
        assert [r for r in read_new(log, cursor, database=_dbname(big_db)).records if r.is_failure] == []
    # a higher bar for "large" flags nothing
    ctx = _ctx(big_db, code=ctx.code, durations=[], thresholds=Thresholds(likely_slow_min_rows=1_000_000))
    assert [i for i in run_detection(ctx, only={"slow_query"}).issues
            if i.evidence.get("source") == "generic_plan"] == []


def test_a_statement_measured_slow_is_not_also_likely_slow(big_db, tmp_path):
    from datetime import datetime, timezone

    from heal_pipeline.model import LoggedStatement

    (tmp_path / "app.py").write_text(APP.lstrip("\n"))
    with psycopg.connect(big_db, autocommit=True) as conn:  # the log covers the 200 ms threshold
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 100").format(
            sql.Identifier(_dbname(big_db))))
    logged = [LoggedStatement(normalized="select id from events where payload = $1",
                              statement="SELECT id FROM events WHERE payload = $1", calls=4, total_ms=2000.0,
                              max_ms=700.0, last_seen=datetime.now(timezone.utc).isoformat())]
    result = run_detection(_ctx(big_db, code=scan([tmp_path]), durations=logged), only={"slow_query"})
    (measured,) = [i for i in result.issues if i.evidence["source"] == "log"]
    assert measured.evidence["code_sites"] == [{"file": "app.py", "line": 2}]
    assert {i.line for i in result.issues if i.evidence["source"] == "generic_plan"} == {7}
    assert result.unchecked == []


def test_a_locked_table_is_not_checked_never_clean(big_db, tmp_path):
    """EXPLAIN takes ACCESS SHARE: behind a migration's ACCESS EXCLUSIVE it times out on the lock
    (lock_timeout), and those statements are "not checked"."""
    from heal_pipeline.detect.pg011_broken_statement import seed_statement_checks

    (tmp_path / "app.py").write_text(APP.lstrip("\n"))
    ctx = _ctx(big_db, code=scan([tmp_path]), durations=[], thresholds=Thresholds(likely_slow_timeout_ms=200))
    seed_statement_checks(ctx, None)
    with psycopg.connect(big_db) as locker:
        locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        result = run_detection(ctx, only={"slow_query"})
        locker.rollback()
    assert [i for i in result.issues if i.evidence.get("source") == "generic_plan"] == []
    (note,) = [u["reason"] for u in result.unchecked if "explained" in u["reason"]]
    assert note == "6 code statement(s) could not be explained: 55P03 6"


def test_the_same_statement_at_many_call_sites_is_explained_at_each(big_db, tmp_path):
    """psycopg prepares a query it sees 5 times: EXPLAIN must not become a prepared statement that
    owns the $n (bind message supplies 0 parameters)."""
    body = "".join(f'    cur.execute("SELECT id FROM events WHERE payload = %s", (k{i},))\n' for i in range(8))
    (tmp_path / "many.py").write_text("def f(cur, " + ", ".join(f"k{i}" for i in range(8)) + "):\n" + body)
    result = run_detection(_ctx(big_db, code=scan([tmp_path]), durations=[]), only={"slow_query"})
    assert sorted(i.line for i in result.issues) == list(range(2, 10))
    assert not any("explained" in u["reason"] for u in result.unchecked), result.unchecked


def test_generic_plan_is_not_checked_on_postgresql_15(tmp_path):
    """A real Debian PostgreSQL 15 (the what-if tests' server): EXPLAIN (GENERIC_PLAN) does not exist
    there, so the code's statements are "not checked", never clean."""
    from heal_pipeline.whatif import pg15

    if not (pg15.PG15_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL 15 server at {pg15.PG15_BIN}")
    try:
        server = pg15.start()
    except Exception as exc:  # noqa: BLE001 - a server that cannot start: skip, saying why
        pytest.skip(f"the PostgreSQL 15 test server did not start: {exc}")
    try:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE events (id int PRIMARY KEY, payload text, flag boolean)")
            conn.execute("CREATE TABLE small (id int PRIMARY KEY, v text)")
        (tmp_path / "app.py").write_text(APP.lstrip("\n"))
        ctx = _ctx(server.dsn, code=scan([tmp_path]), durations=[])
        assert ctx.snapshot.server_version_num // 10000 == 15
        result = run_detection(ctx, only={"slow_query"})
    finally:
        server.stop()
    assert [i for i in result.issues if i.evidence.get("source") == "generic_plan"] == []
    assert any(u["check"] == "slow_query" and "EXPLAIN (GENERIC_PLAN) needs PostgreSQL 16+ (the server is 15."
               in u["reason"] for u in result.unchecked), result.unchecked
