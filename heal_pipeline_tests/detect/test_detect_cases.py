"""Case files for the checks, against a real PostgreSQL: setup SQL (+ code) → exactly these issues.

Negative cases reproduce the false positives the peer tools are known for (ANCHORS.md §4).
"""

import textwrap

import psycopg
import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.detect import REGISTRY, DetectContext, Thresholds, run_detection
from heal_pipeline.db import connect
from heal_pipeline.introspect import take_snapshot

CASES = [
    # --- PG001 fk_without_index -------------------------------------------------------------
    dict(id="PG001-fail-unindexed-fk", only={"fk_without_index"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id));""",
         expect={("fk_without_index", "public", "c", "c_p_id_fkey")}),
    dict(id="PG001-pass-composite-pk-prefix (splinter#90)", only={"fk_without_index"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (p_id int REFERENCES p (id), n int, PRIMARY KEY (p_id, n));""", expect=set()),
    dict(id="PG001-pass-multicolumn-index-prefix", only={"fk_without_index"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id), at date);
        CREATE INDEX c_p_at ON c (p_id, at);""", expect=set()),
    dict(id="PG001-fail-fk-column-second-in-index", only={"fk_without_index"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id), at date);
        CREATE INDEX c_at_p ON c (at, p_id);""",
         expect={("fk_without_index", "public", "c", "c_p_id_fkey")}),
    dict(id="PG001-fail-partial-index-does-not-cover", only={"fk_without_index"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id));
        CREATE INDEX c_p_partial ON c (p_id) WHERE p_id > 10;""",
         expect={("fk_without_index", "public", "c", "c_p_id_fkey")}),
    # --- PG002 duplicate_index --------------------------------------------------------------
    dict(id="PG002-fail-identical", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE INDEX t_a_1 ON t (a); CREATE INDEX t_a_2 ON t (a);""",
         expect={("duplicate_index", "public", "t", "t_a_2")}),
    dict(id="PG002-fail-prefix-of-unique-composite (pghero#508)", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
        CREATE INDEX t_a ON t (a);""",
         expect={("duplicate_index", "public", "t", "t_a")}),
    dict(id="PG002-pass-second-column-is-not-a-prefix", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int);
        CREATE INDEX t_ab ON t (a, b); CREATE INDEX t_b ON t (b);""", expect=set()),
    dict(id="PG002-fail-identical-unique-keeps-the-constraint (issue 12.6)", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE UNIQUE INDEX t_a_u ON t (a); ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);""",
         expect={("duplicate_index", "public", "t", "t_a_u")}),
    dict(id="PG002-pass-different-predicate-or-expression", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a text);
        CREATE INDEX t_a ON t (a); CREATE INDEX t_a_part ON t (a) WHERE a IS NOT NULL;
        CREATE INDEX t_lower ON t (lower(a));""", expect=set()),
    dict(id="PG002-pass-different-method", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE INDEX t_a ON t (a); CREATE INDEX t_a_hash ON t USING hash (a);""", expect=set()),
    # --- PG004 unused_index: the freshly-restored false positive (pghero#140) ---------------
    dict(id="PG004-pass-window-not-covered", only={"unused_index"}, window=7 * 86400, coverage=3600,
         sql="CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX t_a ON t (a);",
         expect=set(), unchecked={"unused_index"}),
    dict(id="PG004-fail-never-scanned", only={"unused_index"}, window=0, coverage=0,
         sql="CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX t_a ON t (a);",
         expect={("unused_index", "public", "t", "t_a")}),
    dict(id="PG004-pass-only-fk-cover", only={"unused_index"}, window=0, coverage=0, sql="""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id));
        CREATE INDEX c_p ON c (p_id);""", expect=set()),
    # --- PG005 no_primary_key --------------------------------------------------------------
    dict(id="PG005-fail-and-pass", only={"no_primary_key"}, sql="""
        CREATE TABLE nopk (a int); CREATE TABLE haspk (a int PRIMARY KEY);
        CREATE TABLE part (a int, b int) PARTITION BY RANGE (a);
        CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (10);""",
         expect={("no_primary_key", "public", "nopk"), ("no_primary_key", "public", "part")}),
    # --- PG008 type_mismatch ---------------------------------------------------------------
    dict(id="PG008-fail-declared-int4-int8", only={"type_mismatch"}, sql="""
        CREATE TABLE p (id bigint PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id));""",
         expect={("type_mismatch", "public", "c", "p_id")}),
    dict(id="PG008-pass-naming-alone (block/spirit#903)", only={"type_mismatch"}, sql="""
        CREATE TABLE clients (id int PRIMARY KEY);
        INSERT INTO clients SELECT g FROM generate_series(1, 10) g;
        CREATE TABLE deals (id int PRIMARY KEY, client_id text);
        INSERT INTO deals SELECT g, 'ext-' || g FROM generate_series(1, 50) g;""", expect=set()),
    dict(id="PG008-fail-naming-plus-data", only={"type_mismatch"}, sql="""
        CREATE TABLE clients (id int PRIMARY KEY);
        INSERT INTO clients SELECT g FROM generate_series(1, 50) g;
        CREATE TABLE deals (id int PRIMARY KEY, client_id bigint);
        INSERT INTO deals SELECT g, g FROM generate_series(1, 50) g;""",
         expect={("type_mismatch", "public", "deals", "client_id")}),
    dict(id="PG008-fail-code-join-evidence", only={"type_mismatch", "cast_workaround"}, sql="""
        CREATE TABLE accounts (id int PRIMARY KEY);
        CREATE TABLE logins (id int PRIMARY KEY, owner text);""",
         code={"app.py": '''
            async def f(conn, a):
                return await conn.fetch(
                    "SELECT l.id FROM logins l JOIN accounts a ON l.owner = a.id::text WHERE a.id = $1", a)
            '''},
         expect={("type_mismatch", "public", "logins", "owner"), ("cast_workaround", "app.py", 3)}),
    # --- PG009 orphaned_rows -----------------------------------------------------------------
    dict(id="PG009-fail-not-valid-fk", only={"orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
        CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 99);
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;""",
         expect={("orphaned_rows", "public", "c", "p_id")}),
    dict(id="PG009-pass-not-valid-fk-without-orphans", only={"orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
        CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, NULL);
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;""",
         expect=set()),
    # --- PG010/PG011 missing_table / missing_column: never CTEs, aliases, functions, catalogs --
    dict(id="PG010-pass-cte-alias-function-catalog", only={"missing_table", "missing_column"}, sql="""
        CREATE TABLE users (id int PRIMARY KEY, email text);""",
         code={"q.py": '''
            def f(cur):
                cur.execute("WITH recent AS (SELECT id FROM users) SELECT r.id FROM recent r")
                cur.execute("SELECT u.email FROM users AS u JOIN generate_series(1, 3) g ON g = u.id")
                cur.execute("SELECT relname FROM pg_catalog.pg_class")
                cur.execute("SELECT table_name FROM information_schema.tables")
                cur.execute("SELECT count(*) FROM pg_stat_activity")
            '''}, expect=set()),
    dict(id="PG010-fail-missing-table-and-column", only={"missing_table", "missing_column"}, sql="""
        CREATE TABLE users (id int PRIMARY KEY, email text);""",
         code={"q.py": '''
            def f(cur, uid):
                cur.execute("SELECT u.nickname FROM users u WHERE u.id = %s", (uid,))
                cur.execute("SELECT * FROM audit.events WHERE user_id = %s", (uid,))
            '''},
         expect={("missing_column", "public", "users", "nickname"), ("missing_table", "audit", "events")}),
    # --- PG013 broken_statement: the server's own verdict (heal_pipeline/verify) ---------------
    dict(id="PG013-fail-server-rejects-pass-valid", only={"broken_statement"}, sql="""
        CREATE TABLE users (id int PRIMARY KEY, email text);""",
         code={"q.py": '''
            def f(cur, uid):
                cur.execute("SELECT id FROM users WHERE email = 1")
                cur.execute("SELECT id FROM users WHERE id = %s", (uid,))
                cur.execute("CREATE TABLE made_at_runtime (a int)")
            '''}, expect={("broken_statement", "q.py", 2)}),
]


def _key(i):
    if i.file:
        return (i.issue_type, i.file, i.line)
    ident = {"fk_without_index": ("schema_name", "table_name", "object_name"),
             "duplicate_index": ("schema_name", "table_name", "object_name"),
             "unused_index": ("schema_name", "table_name", "object_name"),
             "no_primary_key": ("schema_name", "table_name"),
             "missing_table": ("schema_name", "table_name")}.get(
        i.issue_type, ("schema_name", "table_name", "column_name"))
    return (i.issue_type, *(getattr(i, f) for f in ident))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, fresh_dsn, tmp_path):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(textwrap.dedent(case["sql"]))
        conn.execute("ANALYZE")
    for name, src in case.get("code", {}).items():
        (tmp_path / name).write_text(textwrap.dedent(src).lstrip("\n"))
    code = scan([tmp_path])  # an empty tree is "scanned, no SQL" (not "not checked")
    snap = take_snapshot(fresh_dsn, target_db="t")
    ctx = DetectContext(
        target_db="t", snapshot=snap, code=code,
        connect=lambda: connect(fresh_dsn, autocommit=False),
        thresholds=Thresholds(observation_window_s=case.get("window", 0)),
        stats_coverage_s=case.get("coverage", 0))
    result = run_detection(ctx, only=case["only"])
    assert {_key(i) for i in result.issues} == case["expect"]
    assert {u["check"] for u in result.unchecked} == case.get("unchecked", set())


def test_every_check_is_documented():
    for issue_type, cls in REGISTRY.items():
        doc = cls.__doc__ or ""
        assert "Anti-pattern" in doc and "Best practice" in doc, issue_type
        assert cls.code[:2] in ("PG", "PY") and cls.name.count(".") == 1
    assert len({c.code for c in REGISTRY.values()}) == len(REGISTRY)
