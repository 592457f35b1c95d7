"""`heal check` with an application's own JSON error log (issue 12 item 8): HEAL_QUERY_LOG_KEYS maps
its keys, a runtime 42883 becomes a broken_statement, unrecognised lines are reported, a bad mapping
is a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg

LINES = [
    {"t": "2026-12-03T06:10:00Z", "lvl": "ERROR", "pg_error": {"code": "42883"},
     "text": "operator does not exist: text > integer", "sql": "SELECT id FROM tags WHERE label > 5"},
    {"t": "2026-12-03T06:10:01Z", "lvl": "ERROR", "pg_error": {"code": "42883"},
     "text": "operator does not exist: text > integer", "sql": "SELECT id FROM tags WHERE label > 9"},
    {"t": "2026-12-03T06:10:02Z", "lvl": "ERROR", "text": "payment provider timed out"},  # unrecognised
    {"t": "2026-12-03T06:10:03Z", "lvl": "INFO", "text": "request served"},  # not a failure
]


def _heal(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "heal_pipeline.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_heal_check_reads_an_app_json_log_through_the_key_mapping(fresh_dsn, tmp_path):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tags (id int PRIMARY KEY, label text)")
    log = tmp_path / "app-errors.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    env = {"HEAL_DATABASE_URL": fresh_dsn, "HEAL_QUERY_LOG": str(log), "HEAL_OBSERVATION_WINDOW": "0",
           "HEAL_QUERY_LOG_KEYS": "sqlstate=pg_error.code,message=text,statement=sql,timestamp=t,severity=lvl"}
    p = _heal("check", "--json", "--fail-on", "critical", env_extra=env)
    out = json.loads(p.stdout)
    assert p.returncode == 1, p.stderr  # the runtime 42883 is critical
    (broken,) = [i for i in out["issues"] if i["issue_type"] == "broken_statement"]
    assert broken["object_name"] == "select id from tags where label > $1"
    assert broken["evidence"]["kind"] == "runtime" and broken["evidence"]["runtime_count"] == 2
    assert broken["evidence"]["runtime"][0]["first_seen"] == "2026-12-03T06:10:00+00:00"
    (note,) = [u for u in out["not_checked"] if u["check"] == "failed_queries"]
    assert note["reason"].startswith("1 line(s) of the query log were not recognised")
    assert "line 3:" in note["reason"]
    # without the mapping the same log yields no failure — and says so (none of its 4 lines is read)
    env.pop("HEAL_QUERY_LOG_KEYS")
    p = _heal("check", "--json", env_extra=env)
    out = json.loads(p.stdout)
    assert [i for i in out["issues"] if i["issue_type"] == "broken_statement"] == []
    (note,) = [u for u in out["not_checked"] if u["check"] == "failed_queries"]
    assert note["reason"].startswith("4 line(s) of the query log were not recognised")


def test_a_bad_key_mapping_stops_heal_check_with_one_line(fresh_dsn, tmp_path):
    p = _heal("check", env_extra={"HEAL_DATABASE_URL": fresh_dsn, "HEAL_QUERY_LOG_KEYS": "state=code"})
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.strip().count("\n") == 0
    assert "HEAL_QUERY_LOG_KEYS: unknown field 'state'" in p.stderr


def test_heal_check_reports_slow_query_from_the_servers_duration_lines(fresh_dsn, pg_server):
    """No pg_stat_statements in the database: `heal check` reads the server's jsonlog (HEAL_QUERY_LOG)
    and reports the statement its duration lines show slow, attributed to this database only."""
    import time

    import pytest
    from psycopg import sql

    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 0").format(sql.Identifier(db)))
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.21), 'cli'", prepare=False)
    time.sleep(0.5)  # the logging collector writes asynchronously
    env = {"HEAL_DATABASE_URL": fresh_dsn, "HEAL_QUERY_LOG": str(pg_server.info().jsonlog),
           "HEAL_OBSERVATION_WINDOW": "0"}
    out = json.loads(_heal("check", "--json", env_extra=env).stdout)
    slow = [i for i in out["issues"] if i["issue_type"] == "slow_query"]
    assert [(i["object_name"], i["evidence"]["source"], i["evidence"]["calls"]) for i in slow] == [
        ("select pg_sleep($1), $2", "log", 3)]
    assert not any(u["check"] == "slow_query" for u in out["not_checked"])  # 0 ms ≤ 200 ms: complete
