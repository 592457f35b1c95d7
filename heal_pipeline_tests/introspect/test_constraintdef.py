"""Constraint definitions spelt by heal (constraintdef.py) equal pg_get_constraintdef, over every shape."""

from __future__ import annotations

import psycopg
import pytest

from heal_pipeline.db import load_query
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.introspect.snapshot import _version_columns

SHAPES_SQL = '''
CREATE SCHEMA s;
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE p (id int PRIMARY KEY, a int, b int, "Ünï" text, UNIQUE (a, b), UNIQUE ("Ünï"));
CREATE TABLE public.pg_class (id int PRIMARY KEY);           -- shadowed by pg_catalog.pg_class
CREATE TABLE s.p (id int PRIMARY KEY, x int UNIQUE NULLS NOT DISTINCT, y int, z int,
                  CONSTRAINT p_yz UNIQUE (y, z) DEFERRABLE);
CREATE TABLE "Odd ""Schema"""."P q" ("K" int PRIMARY KEY, "select" int, inc int,
                                     CONSTRAINT "weird; name" UNIQUE ("select") INCLUDE (inc));
CREATE TABLE s.gap (d1 int, d2 int, id int, v int);
ALTER TABLE s.gap DROP COLUMN d1;
ALTER TABLE s.gap DROP COLUMN d2;
ALTER TABLE s.gap ADD CONSTRAINT gap_pk PRIMARY KEY (id);
ALTER TABLE s.gap ADD CONSTRAINT gap_v_key UNIQUE (v) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE s.parted (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE s.parted_1 PARTITION OF s.parted FOR VALUES FROM (0) TO (10);
CREATE TABLE c (id int PRIMARY KEY, pid int, a int, b int, sid int, q int, "select" int, g int, pk int,
    u text, cls int,
    CHECK (a > 0),
    EXCLUDE USING btree (g WITH =),
    FOREIGN KEY (pid) REFERENCES p,
    FOREIGN KEY (a, b) REFERENCES p (a, b) MATCH FULL ON DELETE CASCADE ON UPDATE SET NULL,
    FOREIGN KEY (sid) REFERENCES s.p (id) ON DELETE SET NULL (sid) DEFERRABLE,
    FOREIGN KEY (q) REFERENCES "Odd ""Schema"""."P q" ON UPDATE RESTRICT ON DELETE SET DEFAULT
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY ("select") REFERENCES s.p (x) ON DELETE NO ACTION ON UPDATE CASCADE,
    FOREIGN KEY (g) REFERENCES s.gap (id) ON DELETE RESTRICT,
    FOREIGN KEY (pk, g) REFERENCES s.parted (id, k),
    FOREIGN KEY (u) REFERENCES p ("Ünï") ON DELETE SET NULL,
    FOREIGN KEY (cls) REFERENCES public.pg_class (id));
ALTER TABLE c ADD CONSTRAINT c_nv FOREIGN KEY (pid) REFERENCES p NOT VALID;
ALTER TABLE c ADD CONSTRAINT "C Mixed" FOREIGN KEY (q) REFERENCES s.p (id) MATCH FULL NOT VALID;
CREATE TABLE "Odd ""Schema""".child (id int REFERENCES p, r int REFERENCES "Odd ""Schema"""."P q");
'''
NOT_ENFORCED = "ALTER TABLE c ADD CONSTRAINT c_ne FOREIGN KEY (pid) REFERENCES p NOT ENFORCED"


@pytest.fixture(scope="module")
def shapes_dsn(admin_dsn):
    from heal_pipeline_tests.conftest import _create_db, _drop_db

    name = "heal_t_constraintdef"
    _drop_db(admin_dsn, name)
    dsn = _create_db(admin_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SHAPES_SQL)
        if conn.info.server_version >= 180000:
            conn.execute(NOT_ENFORCED)
    yield dsn
    _drop_db(admin_dsn, name)


def _server_defs(dsn: str) -> dict[tuple[str, str, str], str]:
    with psycopg.connect(dsn) as conn:
        return {(s, t, n): d for s, t, n, d in conn.execute(
            "SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con"
            " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('public', 's', 'Odd \"Schema\"') AND con.contype IN ('p', 'f', 'u', 'c', 'x')")}


def _query_rows(dsn: str) -> list[dict]:
    with psycopg.connect(dsn) as conn:
        q = load_query("introspect/03_constraints.sql", **_version_columns(conn.info.server_version))
        cur = conn.execute(q, {"exclude": []})
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _spelt_by_heal(dsn: str) -> set[str]:
    """Constraints whose text heal spells itself (not the server, not the CHECK memory)."""
    return {r["name"] for r in _query_rows(dsn) if r["definition"] is None and r["_xmin"] is None}


@pytest.mark.parametrize("options", ["", " options='-c quote_all_identifiers=on'",
                                     " options='-c search_path=s,public'"])
def test_every_constraint_shape_equals_pg_get_constraintdef(shapes_dsn, options):
    dsn = shapes_dsn + options
    expected = _server_defs(dsn)
    snap = take_snapshot(dsn, target_db="t")
    got = {(c.schema, c.table, c.name): c.definition for c in snap.constraints
           if c.schema in ("public", "s", 'Odd "Schema"')}
    assert set(got) == set(expected) and len(got) >= 25
    assert {k: (got[k], expected[k]) for k in got if got[k] != expected[k]} == {}
    if not options:
        assert expected[("public", "c", "c_cls_fkey")] == "FOREIGN KEY (cls) REFERENCES public.pg_class(id)"
        assert expected[("public", "c", "c_pid_fkey")] == "FOREIGN KEY (pid) REFERENCES p(id)"


def test_plain_shapes_take_the_fast_path_and_the_rest_ask_the_server(shapes_dsn):
    fast = _spelt_by_heal(shapes_dsn)
    assert {"p_pkey", "p_a_b_key", "p_x_key", "p_yz", "gap_pk", "gap_v_key", "parted_pkey", "c_pid_fkey", "c_a_b_fkey",
            "c_q_fkey", "c_select_fkey", "c_g_fkey", "c_pk_g_fkey", "c_u_fkey", "c_cls_fkey", "c_nv",
            "C Mixed", "child_id_fkey", "child_r_fkey"} <= fast
    assert not fast & {"weird; name", "c_a_check", "c_g_excl", "c_sid_fkey", "c_ne"}
    # checks come without text, to be read from checkdefs.py's memory or asked in a second query
    rows = {r["name"]: r for r in _query_rows(shapes_dsn)}
    assert rows["c_a_check"]["definition"] is None and rows["c_a_check"]["_xmin"] is not None
    assert rows["c_g_excl"]["definition"] and rows["c_g_excl"]["_xmin"] is None


def test_keys_naming_columns_the_snapshot_does_not_read_are_spelt_by_the_server(make_db):
    """A foreign key into an excluded schema (heal's own): its referenced columns are not in the
    columns query, so heal cannot spell it and asks the server by oid in the same transaction."""
    dsn = make_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA heal; CREATE TABLE heal.ref (k int PRIMARY KEY);"
                     " CREATE TABLE app_t (id int PRIMARY KEY, k int CONSTRAINT app_t_k_fkey REFERENCES heal.ref (k))")
        expected = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                                " WHERE conname = 'app_t_k_fkey'").fetchone()[0]
    assert "app_t_k_fkey" not in _spelt_by_heal_excluding(dsn, ["heal"])
    got = {c.name: c.definition for c in take_snapshot(dsn, target_db="t").constraints}
    assert got["app_t_k_fkey"] == expected == "FOREIGN KEY (k) REFERENCES heal.ref(k)"
    assert got["app_t_pkey"] == "PRIMARY KEY (id)"


def _spelt_by_heal_excluding(dsn: str, exclude: list[str]) -> set[str]:
    """Names whose definition the query left to heal and heal could spell (columns known)."""
    from heal_pipeline.introspect.build import build_columns, build_constraints
    from heal_pipeline.introspect.indexdef import Quoter

    with psycopg.connect(dsn) as conn:
        holes = _version_columns(conn.info.server_version)

        def rows(path):
            cur = conn.execute(load_query(path, **holes), {"exclude": exclude})
            return [d.name for d in cur.description], cur.fetchall()

        _, cols = build_columns(*rows("introspect/02_columns.sql"))
        unspelt: list = []
        built = build_constraints(*rows("introspect/03_constraints.sql"), cols, Quoter(()), unspelt, [])
        left = {id(c) for _, c in unspelt}
        return {c.name for c in built if c.definition is not None and id(c) not in left}
