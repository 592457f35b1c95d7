"""CHECK texts remembered between snapshots (checkdefs.py) and the three-connection read.

Every test compares heal's text with the server's ``pg_get_constraintdef`` after a change that
alters that text without touching the constraint itself: a column, function, enum label, table or
schema renamed, a shadowing function, the search path, the time zone, a reg* constant's target.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.errors import HealError
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.introspect import checkdefs
from heal_pipeline.introspect.checkdefs import forget

from .test_snapshot import FIXTURE_SQL

SCHEMA_SQL = """
CREATE SCHEMA s2;
CREATE SCHEMA s3;
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE FUNCTION f(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT x > 0';
CREATE FUNCTION g(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT x > 1';
CREATE FUNCTION s3.h(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT x > 2';
CREATE TABLE other (id int);
CREATE TABLE t (a int, b text, "Odd;: col" int, m mood, at timestamptz,
    CONSTRAINT c_plain CHECK (a > 0 AND "Odd;: col" < 10),
    CONSTRAINT c_fn CHECK (f(a)),
    CONSTRAINT c_shadow CHECK (g(a)),
    CONSTRAINT c_hidden CHECK (s3.h(a)),
    CONSTRAINT c_enum CHECK (m <> 'sad'),
    CONSTRAINT c_time CHECK (at > '2020-01-01 00:00:00+00'::timestamptz),
    CONSTRAINT c_reg CHECK (tableoid <> 'other'::regclass),
    CONSTRAINT c_none CHECK (true) NO INHERIT
);
ALTER TABLE t ADD CONSTRAINT c_nv CHECK (b <> '') NOT VALID;
"""

CHANGES = [
    ("column renamed", "ALTER TABLE t RENAME COLUMN a TO a_renamed"),
    ("function renamed", "ALTER FUNCTION f(int) RENAME TO f_renamed"),
    ("enum label renamed", "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'"),
    ("function shadowed on the path",
     "CREATE FUNCTION s2.g(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT x > 5';"
     " ALTER DATABASE {db} SET search_path = s2, public"),
    ("schema put on the path", "ALTER DATABASE {db} SET search_path = s3, public"),
    ("schema renamed", "ALTER SCHEMA s3 RENAME TO s3_renamed"),
    ("time zone", "ALTER DATABASE {db} SET timezone = 'Asia/Tokyo'"),
    ("reg* constant's table renamed", "ALTER TABLE other RENAME TO other_renamed"),
    ("validated", "ALTER TABLE t VALIDATE CONSTRAINT c_nv"),
    ("column names swapped", "ALTER TABLE t RENAME COLUMN b TO tmp; ALTER TABLE t RENAME COLUMN \"Odd;: col\" TO b;"
     " ALTER TABLE t RENAME COLUMN tmp TO \"Odd;: col\""),
    ("table renamed", "ALTER TABLE t RENAME TO t_renamed"),
    ("constraint dropped and re-added",
     "ALTER TABLE t_renamed DROP CONSTRAINT c_plain;"
     " ALTER TABLE t_renamed ADD CONSTRAINT c_plain CHECK (a_renamed > 1)"),
]


def _server_checks(dsn: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(dsn) as conn:
        return {(t, n): d for t, n, d in conn.execute(
            "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con"
            " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE con.contype = 'c' AND n.nspname = 'public'")}


def _heal_checks(snap) -> dict[tuple[str, str], str]:
    return {(c.table, c.name): c.definition for c in snap.constraints
            if c.kind == "check" and c.schema == "public"}


@pytest.fixture
def checks_dsn(make_db, monkeypatch):
    monkeypatch.setattr(checkdefs, "MIN_CHECKS", 0)  # a dozen checks: remembered as if there were many
    dsn = make_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL)
    forget()
    yield dsn
    forget()


def _db(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.info.dbname


def test_every_change_that_alters_a_check_text_is_seen(checks_dsn):
    db = _db(checks_dsn)
    first = take_snapshot(checks_dsn, target_db="t")
    assert _heal_checks(first) == _server_checks(checks_dsn)
    again = take_snapshot(checks_dsn, target_db="t")
    assert _heal_checks(again) == _heal_checks(first)
    assert again.query_count == first.query_count  # c_reg's text is asked every time ...
    with psycopg.connect(checks_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE t DROP CONSTRAINT c_reg")
    without = take_snapshot(checks_dsn, target_db="t")
    assert without.query_count == first.query_count - 1  # ... the others are remembered: no second query
    with psycopg.connect(checks_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE t ADD CONSTRAINT c_reg CHECK (tableoid <> 'other'::regclass)")
    previous = _server_checks(checks_dsn)
    seen = {}
    for label, change in CHANGES:
        with psycopg.connect(checks_dsn, autocommit=True) as conn:
            for stmt in change.split("; "):  # (the column name holds ";:", not "; ")
                conn.execute(sql.SQL(stmt.replace("{db}", "{}")).format(sql.Identifier(db)))
        expected = _server_checks(checks_dsn)  # a new session: the database's settings apply
        assert expected != previous, f"{label}: the change must alter a text (else the test is vacuous)"
        got = _heal_checks(take_snapshot(checks_dsn, target_db="t"))
        assert got == expected, label
        previous = seen[label] = expected
    assert "public.g(" in seen["function shadowed on the path"][("t", "c_shadow")]
    assert "blue" in seen["enum label renamed"][("t", "c_enum")]
    assert "+09" in seen["time zone"][("t", "c_time")]
    assert "other_renamed" in seen["reg* constant's table renamed"][("t", "c_reg")]


def test_reg_constants_are_never_remembered(checks_dsn):
    take_snapshot(checks_dsn, target_db="t")
    (_env, kept), = checkdefs._MEMO.values()  # forgotten before the test: only this database's
    with psycopg.connect(checks_dsn) as conn:
        oid = conn.execute("SELECT oid FROM pg_constraint WHERE conname = 'c_reg'").fetchone()[0]
        plain = conn.execute("SELECT oid FROM pg_constraint WHERE conname = 'c_plain'").fetchone()[0]
    assert not any(k.startswith(f"{oid}:") for k in kept)
    assert any(k.startswith(f"{plain}:") for k in kept)


def _child_snapshot(dsn: str, cache_dir) -> dict:
    code = ("import json, sys; from heal_pipeline.introspect import checkdefs, take_snapshot;"
            "checkdefs.MIN_CHECKS = 0;"
            "s = take_snapshot(sys.argv[1], target_db='t', cache_dir=sys.argv[2]);"
            "print(json.dumps({'q': s.query_count, 'checks': {c.name: c.definition for c in s.constraints"
            " if c.kind == 'check'}}))")
    out = subprocess.run([sys.executable, "-c", code, dsn, str(cache_dir)], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cache_file_carries_texts_to_the_next_process_and_garbage_costs_only_a_refresh(checks_dsn, tmp_path):
    with psycopg.connect(checks_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE t DROP CONSTRAINT c_reg")  # asked every time: would hide the file's use
    cold = _child_snapshot(checks_dsn, tmp_path)
    files = list(tmp_path.glob("checkdefs-*.json"))
    assert len(files) == 1
    written = files[0].stat().st_mtime_ns
    warm = _child_snapshot(checks_dsn, tmp_path)
    assert warm["checks"] == cold["checks"] and warm["q"] == cold["q"] - 1
    assert files[0].stat().st_mtime_ns == written  # nothing learnt: not rewritten
    data = json.loads(files[0].read_text())
    key = next(iter(data["entries"]))
    data["entries"][key] = [data["entries"][key][0], "CHECK (forged)"]  # a wrong text for a valid key...
    data["environment"] = "0" * 32  # ... under another environment: never used
    files[0].write_text(json.dumps(data))
    assert _child_snapshot(checks_dsn, tmp_path)["checks"] == cold["checks"]
    files[0].write_bytes(b"\x00\xffnot json")
    again = _child_snapshot(checks_dsn, tmp_path)
    assert again["checks"] == cold["checks"] and again["q"] == cold["q"]


def _comparable(snap) -> dict:
    d = snap.to_dict()
    for k in ("taken_at", "query_count", "statements"):  # statements: heal's own queries in between
        d.pop(k, None)
    return d


def test_three_connections_read_what_one_reads(checks_dsn, make_db):
    catalog_dsn = make_db()
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute(FIXTURE_SQL)  # every kind of catalog fact, hostile identifiers
    for dsn in (checks_dsn, catalog_dsn):
        serial = take_snapshot(dsn, target_db="t", parallel=False)
        forget()
        parallel = take_snapshot(dsn, target_db="t", parallel=True)
        assert _comparable(parallel) == _comparable(serial)
        assert parallel.query_count > serial.query_count  # the snapshot export and the helpers' setup


def test_a_failing_group_fails_the_snapshot_cleanly(make_db):
    dsn = make_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format("
                     "'CREATE TABLE %I (id int PRIMARY KEY, v int CHECK (v > 0))', 'w' || i); END LOOP; END $$")
    before = threading.active_count()
    for _ in range(3):
        with pytest.raises(HealError, match="timed out"):
            take_snapshot(dsn, target_db="t", parallel=True, statement_timeout_ms=1)
    assert threading.active_count() == before  # no reader thread left waiting for the columns
    with psycopg.connect(dsn) as conn:
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND pid <> pg_backend_pid()").fetchone()[0]
    assert others == 0  # every helper connection closed
    assert take_snapshot(dsn, target_db="t", parallel=True).counts()["tables"] == 300
