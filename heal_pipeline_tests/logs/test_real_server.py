"""Failing queries fired at a real PostgreSQL 18, read back from its jsonlog and csvlog."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.config import with_database
from heal_pipeline.logs import cursor_at_end, diagnose, read_new

NEWLINE_SQL = "select *\nfrom t\nwhere name = 'it''s \"quoted\"'\n  and nope = 1"
FAILING: list[tuple[str, tuple | None]] = [
    ("select * from billing.refunds where id = 1", None),
    ("select * from billing.refunds where id = 2", None),
    ("SELECT * FROM billing.refunds WHERE id = 3", None),
    ("select u.last_login_at from users u where u.id = 1", None),
    ("select * from t where name = 1", None),
    ("insert into t values (1, 'x')", None),  # the second time: unique violation
    (NEWLINE_SQL, None),
    ("select * from users where id = %s", ("abc",)),  # bound parameter, fails at BIND
]


def _wait_for(path, cursor, dbname: str, want: int, timeout: float = 20.0):
    """Read until ``want`` failures of ``dbname`` have arrived (the logging collector is async)."""
    records, deadline = [], time.monotonic() + timeout
    while True:
        res = read_new(path, cursor)
        assert res.garbage == 0, res.garbage_samples
        records += [r for r in res.records if r.database == dbname]
        cursor = res.cursor
        if len(records) >= want or time.monotonic() > deadline:
            return records, cursor
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fired(pg_server):
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    info = pg_server.info()
    admin = info.dsn("postgres")
    dbname = f"heal_logs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    cursors = {"json": cursor_at_end(info.jsonlog), "csv": cursor_at_end(info.csvlog)}
    try:
        with psycopg.connect(with_database(admin, dbname), autocommit=True,
                             application_name="heal-logs-test") as conn:
            conn.execute("CREATE SCHEMA billing; CREATE TABLE users (id int PRIMARY KEY, name text, "
                         "last_login timestamptz); CREATE TABLE t (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO t VALUES (1, 'x')")
            for query, params in FAILING:
                with pytest.raises(psycopg.Error):
                    conn.execute(query, params)
        json_recs, json_cursor = _wait_for(info.jsonlog, cursors["json"], dbname, len(FAILING))
        csv_recs, _ = _wait_for(info.csvlog, cursors["csv"], dbname, len(FAILING))
        yield {"info": info, "db": dbname, "json": json_recs, "csv": csv_recs, "json_cursor": json_cursor,
               "admin": admin}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def test_both_logs_hold_the_same_failures(fired):
    j, c = fired["json"], fired["csv"]
    assert len(j) == len(c) == len(FAILING)
    for a, b in zip(j, c):
        assert (a.sqlstate, a.message, a.detail, a.hint, a.context, a.statement, a.cursor_position,
                a.timestamp, a.user, a.application) == (
            b.sqlstate, b.message, b.detail, b.hint, b.context, b.statement, b.cursor_position,
            b.timestamp, b.user, b.application)
    assert [r.sqlstate for r in j] == ["42P01", "42P01", "42P01", "42703", "42883", "23505", "42703", "22P02"]
    multi = next(r for r in c if r.statement == NEWLINE_SQL)
    assert multi.message == 'column "nope" does not exist'
    assert all(r.application == "heal-logs-test" for r in j)


def test_grouping_and_diagnosis_of_real_failures(fired):
    from heal_pipeline.logs import group_failed

    groups = group_failed(fired["json"])
    by_state = {}
    for g in groups:
        by_state.setdefault(g.sqlstate, []).append(g)
    (missing_table,) = by_state["42P01"]
    assert missing_table.count == 3
    assert missing_table.normalized == "select * from billing.refunds where id = $1"
    assert missing_table.database == fired["db"]
    d = diagnose(missing_table)
    assert (d["kind"], d["schema"], d["table"]) == ("missing_table", "billing", "refunds")

    alias = next(g for g in by_state["42703"] if "last_login_at" in g.statement)
    newline = next(g for g in by_state["42703"] if g.statement == NEWLINE_SQL)
    d = diagnose(newline)
    assert (d["kind"], d["table"], d["column"], d["suggestion"]) == ("missing_column", "t", "nope", "name")
    d = diagnose(alias)
    assert (d["kind"], d["schema"], d["table"], d["column"], d["qualifier"], d["suggestion"]) == (
        "missing_column", None, "users", "last_login_at", "u", "last_login")

    (mismatch,) = by_state["42883"]
    d = diagnose(mismatch)
    assert (d["kind"], d["types"], d["table"], d["column"]) == ("type_mismatch", ["text", "integer"], "t", "name")

    (dup,) = by_state["23505"]
    d = diagnose(dup)
    assert (d["kind"], d["constraint"], d["table"], d["key_columns"]) == ("unique_violation", "t_pkey", "t", ["id"])

    (bad_input,) = by_state["22P02"]
    assert bad_input.context.startswith("unnamed portal parameter $1")
    d = diagnose(bad_input)
    assert (d["kind"], d["table"], d["column"], d["param"], d["value"]) == ("invalid_input", "users", "id", 1, "abc")


def test_the_cursor_follows_the_live_log(fired):
    info, cursor = fired["info"], fired["json_cursor"]
    with psycopg.connect(with_database(fired["admin"], fired["db"]), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from billing.refunds where id = 99")
    recs, cursor = _wait_for(info.jsonlog, cursor, fired["db"], 1)
    assert [r.statement for r in recs] == ["select * from billing.refunds where id = 99"]
    res = read_new(info.jsonlog, cursor)
    assert [r for r in res.records if r.database == fired["db"]] == []
