"""Column defaults are deparsed without their relation (02_columns.sql): the text must equal
``pg_get_expr(adbin, adrelid)`` for every default shape, and generated columns keep their relation."""

from __future__ import annotations

import psycopg

from heal_pipeline.introspect import take_snapshot

DEFAULTS_SQL = '''
CREATE SCHEMA "Odd ""S""";
CREATE SEQUENCE "Odd ""S"""."my seq";
CREATE TYPE "Odd ""S""".mood AS ENUM ('ok', 'sad');
CREATE DOMAIN "Odd ""S""".posint AS int CHECK (VALUE > 0);
CREATE FUNCTION "Odd ""S""".f(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE TABLE "Odd ""S"""."T;1" (
    id bigserial PRIMARY KEY,
    ident int GENERATED ALWAYS AS IDENTITY,
    n numeric(12,2) DEFAULT 0,
    at timestamptz DEFAULT now(),
    d date DEFAULT (CURRENT_DATE + 1),
    t text DEFAULT 'it''s; "quoted"',
    v varchar(10) DEFAULT 'x'::character varying,
    s bigint DEFAULT nextval('"Odd ""S"""."my seq"'::regclass),
    m "Odd ""S""".mood DEFAULT 'ok',
    p "Odd ""S""".posint DEFAULT 7,
    j jsonb DEFAULT '{"a": [1, 2]}'::jsonb,
    arr int[] DEFAULT ARRAY[1, 2, 3],
    u uuid DEFAULT gen_random_uuid(),
    fx int DEFAULT "Odd ""S""".f(41),
    c int DEFAULT CASE WHEN random() > 2 THEN 1 ELSE 0 END,
    "Ünï" text DEFAULT upper('ü'),
    g int GENERATED ALWAYS AS (fx * 2 + ident) STORED,
    g2 text GENERATED ALWAYS AS (t || "Ünï") STORED
);
'''


def test_defaults_equal_pg_get_expr_with_their_relation(make_db):
    dsn = make_db(prefix="heal_t_defaults_")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(DEFAULTS_SQL)
        want = {r[0]: r[1] for r in conn.execute(
            "SELECT a.attname, pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad"
            " JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum"
            " WHERE ad.adrelid = '\"Odd \"\"S\"\"\".\"T;1\"'::regclass")}
    snap = take_snapshot(dsn)
    got = {c.name: c.default for c in snap.columns if c.table == "T;1" and c.default is not None}
    assert len(want) == 17  # every default and generated expression above
    assert got == want
    assert "fx * 2" in got["g"] and got["g2"] == want["g2"]  # generated: column names deparsed
