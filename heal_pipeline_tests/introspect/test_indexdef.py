"""Index definitions spelt by heal (indexdef.py) equal pg_get_indexdef, over every index shape."""

from __future__ import annotations

import psycopg
import pytest

from heal_pipeline.db import load_query
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.introspect.build import Opclasses, build_columns, build_indexes
from heal_pipeline.introspect.indexdef import Quoter
from heal_pipeline.introspect.snapshot import _version_columns

SHAPES_SQL = '''
CREATE SCHEMA s;
CREATE SCHEMA "Odd ""Schema""";
CREATE TYPE s.mood AS ENUM ('a', 'b');
CREATE DOMAIN s.posint AS int CHECK (VALUE > 0);
CREATE TABLE s.t (
    id bigint PRIMARY KEY,
    a int, b text, c varchar(40), d timestamptz, e numeric, f char(3),
    "Mixed Case" int, "select" int, "user" text, "1st" int, name text, "between" int, "left" int,
    "quote""d" int, jb jsonb, arr int[], bx box, rng int4range, tsv tsvector, m s.mood, p s.posint,
    cc text COLLATE "C", dropped int,
    UNIQUE (c),
    CONSTRAINT t_ab_key UNIQUE (a, b),
    CONSTRAINT t_rng_excl EXCLUDE USING gist (rng WITH &&),
    CONSTRAINT t_bx_excl EXCLUDE USING gist (bx WITH &&)
);
ALTER TABLE s.t DROP COLUMN dropped;
ALTER TABLE s.t ADD COLUMN late int;
CREATE INDEX t_a ON s.t (a);
CREATE INDEX t_multi ON s.t (a, b, c);
CREATE INDEX t_desc ON s.t (a DESC);
CREATE INDEX t_desc_nl ON s.t (a DESC NULLS LAST);
CREATE INDEX t_asc_nf ON s.t (a NULLS FIRST);
CREATE INDEX t_asc_nl ON s.t (a ASC NULLS LAST);
CREATE INDEX t_mixed_order ON s.t (a DESC, b, d NULLS FIRST, e DESC NULLS LAST);
CREATE UNIQUE INDEX t_uniq ON s.t (b, d);
CREATE INDEX t_incl ON s.t (a) INCLUDE (b, c);
CREATE UNIQUE INDEX t_uincl ON s.t (d DESC) INCLUDE ("Mixed Case");
CREATE INDEX t_partial ON s.t (a) WHERE a > 10;
CREATE INDEX t_partial2 ON s.t (b, a) WHERE b IS NOT NULL AND (a < 5 OR c LIKE 'x%%');
CREATE INDEX t_partial_incl ON s.t (a DESC) INCLUDE (e) WHERE d > '2020-01-01';
CREATE INDEX t_expr ON s.t (lower(b));
CREATE INDEX t_expr_mix ON s.t (a, (b || 'x'), lower(c) DESC);
CREATE INDEX t_expr_partial ON s.t ((a + 1)) WHERE a IS NOT NULL;
CREATE INDEX t_text_pattern ON s.t (b text_pattern_ops);
CREATE INDEX t_varchar ON s.t (c);
CREATE INDEX t_varchar_pattern ON s.t (c varchar_pattern_ops);
CREATE INDEX t_varchar_text_ops ON s.t (c text_ops);
CREATE INDEX t_char ON s.t (f);
CREATE INDEX t_coll ON s.t (b COLLATE "C");
CREATE INDEX t_coll_col ON s.t (cc);
CREATE INDEX t_coll_col_other ON s.t (cc COLLATE "POSIX");
CREATE INDEX t_hash ON s.t USING hash (b);
CREATE INDEX t_hash_varchar ON s.t USING hash (c);
CREATE INDEX t_gin_jsonb ON s.t USING gin (jb);
CREATE INDEX t_gin_jsonb_path ON s.t USING gin (jb jsonb_path_ops);
CREATE INDEX t_gin_arr ON s.t USING gin (arr);
CREATE INDEX t_gist_box ON s.t USING gist (bx);
CREATE INDEX t_gist_tsv_opts ON s.t USING gist (tsv tsvector_ops (siglen = 100));
CREATE INDEX t_spgist ON s.t USING spgist (b);
CREATE INDEX t_brin ON s.t USING brin (d);
CREATE INDEX t_brin_multi ON s.t USING brin (a, d) WITH (pages_per_range = 16);
CREATE INDEX t_fill ON s.t (a) WITH (fillfactor = 70);
CREATE INDEX t_enum ON s.t (m);
CREATE INDEX t_domain ON s.t (p);
CREATE UNIQUE INDEX t_nnd ON s.t (e) NULLS NOT DISTINCT;
CREATE INDEX t_after_drop ON s.t (late, a);
CREATE INDEX "Weird Index ""name""" ON s.t ("Mixed Case", "select", "user", "1st", name, "between", "left", "quote""d");
CREATE INDEX "select" ON s.t ("select");
CREATE TABLE "Odd ""Schema""".parted (k int, v text, PRIMARY KEY (k)) PARTITION BY RANGE (k);
CREATE TABLE "Odd ""Schema""".part1 PARTITION OF "Odd ""Schema""".parted FOR VALUES FROM (0) TO (100);
CREATE INDEX parted_v ON "Odd ""Schema""".parted (v DESC) WHERE v <> '';
CREATE MATERIALIZED VIEW s.mv AS SELECT a, b FROM s.t;
CREATE UNIQUE INDEX mv_a ON s.mv (a, b);
'''


@pytest.fixture(scope="module")
def shapes_dsn(admin_dsn):
    from heal_pipeline_tests.conftest import _create_db, _drop_db

    name = "heal_t_indexdef"
    _drop_db(admin_dsn, name)
    dsn = _create_db(admin_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SHAPES_SQL.replace("%%", "%"))
    yield dsn
    _drop_db(admin_dsn, name)


def _server_defs(dsn: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT n.nspname, c.relname, pg_get_indexdef(c.oid) FROM pg_class c"
                            " JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " WHERE c.relkind IN ('i', 'I') AND n.nspname IN ('s', 'Odd \"Schema\"')").fetchall()
    return {(s, n): d for s, n, d in rows}


def _spelt_by_heal(dsn: str) -> set[str]:
    """Names of the indexes heal spells itself (the fast path): left NULL by the catalog query and
    passing the default-opclass test of build.py — the rest goes to the server's second query."""
    with psycopg.connect(dsn) as conn:
        holes = _version_columns(conn.info.server_version)

        def rows(path):
            cur = conn.execute(load_query(path, **holes), {"exclude": []})
            return [d.name for d in cur.description], cur.fetchall()

        _, cols = build_columns(*rows("introspect/02_columns.sql"))
        opclasses = Opclasses.from_rows(rows("introspect/11_opclasses.sql")[1])
        names, index_rows = rows("introspect/04_indexes.sql")
        words = [w for (w,) in conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'")]
        unspelt: list = []
        built = build_indexes(names, index_rows, cols, opclasses, Quoter(words), unspelt)
        left = {id(ix) for _, ix in unspelt}
        asked = {r[names.index("name")] for r in index_rows if r[names.index("definition")] is not None}
        return {ix.name for ix in built if id(ix) not in left and ix.name not in asked}


def test_every_index_shape_equals_pg_get_indexdef(shapes_dsn):
    expected = _server_defs(shapes_dsn)
    snap = take_snapshot(shapes_dsn, target_db="t")
    got = {(i.schema, i.name): i.definition for i in snap.indexes if i.schema in ("s", 'Odd "Schema"')}
    assert set(got) == set(expected) and len(got) >= 50
    mismatched = {k: (got[k], expected[k]) for k in got if got[k] != expected[k]}
    assert not mismatched
    fast = _spelt_by_heal(shapes_dsn)
    # the shapes heal spells itself really went through the fast path ...
    assert {"t_pkey", "t_a", "t_multi", "t_desc", "t_desc_nl", "t_asc_nf", "t_asc_nl", "t_mixed_order",
            "t_uniq", "t_incl", "t_uincl", "t_partial", "t_partial2", "t_partial_incl", "t_varchar",
            "t_varchar_text_ops", "t_char", "t_coll_col", "t_hash", "t_hash_varchar", "t_gin_jsonb",
            "t_gist_box", "t_spgist", "t_brin", "t_nnd", "t_after_drop", 'Weird Index "name"', "select",
            "parted_v", "parted_pkey", "part1_v_idx", "mv_a", "t_c_key", "t_ab_key", "t_bx_excl"} <= fast
    # ... and the ones it must not spell were left to the server
    wrong = fast & {"t_expr", "t_expr_mix", "t_expr_partial", "t_text_pattern", "t_varchar_pattern",
                    "t_coll", "t_coll_col_other", "t_gin_jsonb_path", "t_gin_arr", "t_gist_tsv_opts",
                    "t_brin_multi", "t_fill", "t_enum", "t_domain", "t_rng_excl"}
    assert not wrong


def test_quote_all_identifiers_is_honoured(shapes_dsn):
    dsn = shapes_dsn + " options='-c quote_all_identifiers=on'"
    expected = _server_defs(dsn)
    assert expected[("s", "t_a")] == 'CREATE INDEX "t_a" ON "s"."t" USING "btree" ("a")'
    snap = take_snapshot(dsn, target_db="t")
    got = {(i.schema, i.name): i.definition for i in snap.indexes if i.schema in ("s", 'Odd "Schema"')}
    assert got == expected


def test_quoter_follows_quote_ident(shapes_dsn):
    with psycopg.connect(shapes_dsn) as conn:
        words = [r[0] for r in conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'")]
        quote = Quoter(words)
        probes = ["a", "_x1", "1a", "A", "é", "select", "user", "name", "action", "between", "left",
                  'q"q', "with space", "", "abc$", "int", "integer", "t" * 63]
        for p in probes:
            assert quote(p) == conn.execute("SELECT quote_ident(%s)", (p,)).fetchone()[0], p
