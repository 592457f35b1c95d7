"""Case files for issue 12 (detection on real schemas and code): items 1, 2, 6 and 7.

Same runner and style as test_detect_cases.py: setup SQL (+ code) → exactly these issues, and
exactly these checks reported as not checked. Negative cases are the false positives the issue saw.
"""

import textwrap

import psycopg
import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, Thresholds, run_detection
from heal_pipeline.introspect import take_snapshot

from .test_detect_cases import _key

CASES = [
    # --- 6. duplicate_index: identical UNIQUE indexes are duplicates, one is kept -------------
    dict(id="PG002-fail-two-identical-unique-indexes-later-name", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, email text);
        CREATE UNIQUE INDEX t_email_a ON t (email); CREATE UNIQUE INDEX t_email_b ON t (email);""",
         expect={("duplicate_index", "public", "t", "t_email_b")}),
    dict(id="PG002-fail-unique-index-identical-to-primary-key", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE UNIQUE INDEX a_t_id_again ON t (id);""",
         expect={("duplicate_index", "public", "t", "a_t_id_again")}),
    dict(id="PG002-fail-keeps-the-index-an-fk-references-over-the-earlier-name", only={"duplicate_index"},
         sql="""
        CREATE TABLE p (id int PRIMARY KEY, code text);
        CREATE UNIQUE INDEX p_code_b ON p (code);
        CREATE TABLE c (id int PRIMARY KEY, code text REFERENCES p (code));
        CREATE INDEX c_code ON c (code);
        CREATE UNIQUE INDEX p_code_a ON p (code);  -- after the FK: the FK depends on p_code_b""",
         expect={("duplicate_index", "public", "p", "p_code_a")}),
    dict(id="PG002-pass-unique-differs-in-nulls-not-distinct", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE UNIQUE INDEX t_a_1 ON t (a); CREATE UNIQUE INDEX t_a_2 ON t (a) NULLS NOT DISTINCT;""",
         expect=set()),
    dict(id="PG002-pass-unique-differs-in-include", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int);
        CREATE UNIQUE INDEX t_a_1 ON t (a); CREATE UNIQUE INDEX t_a_2 ON t (a) INCLUDE (b);""",
         expect=set()),
    dict(id="PG002-pass-deferrable-unique-vs-immediate", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);
        ALTER TABLE t ADD CONSTRAINT t_a_dkey UNIQUE (a) DEFERRABLE INITIALLY DEFERRED;""",
         expect=set()),
    dict(id="PG002-pass-unique-prefix-is-not-redundant", only={"duplicate_index"}, sql="""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int);
        CREATE UNIQUE INDEX t_a ON t (a); CREATE UNIQUE INDEX t_ab ON t (a, b);""",
         expect=set()),
    # --- 7. severity and wording ---------------------------------------------------------------
    dict(id="PG008-info-declared-fk-text-vs-varchar", only={"type_mismatch"}, sql="""
        CREATE TABLE locales (code varchar(8) PRIMARY KEY);
        CREATE TABLE profiles (id int PRIMARY KEY, locale text REFERENCES locales (code));""",
         expect={("type_mismatch", "public", "profiles", "locale")},
         severity={("type_mismatch", "public", "profiles", "locale"): "info"},
         detail={("type_mismatch", "public", "profiles", "locale"): "compare without a cast"}),
    dict(id="PG008-info-code-join-varchar-lengths-and-no-cast-workaround",
         only={"type_mismatch", "cast_workaround"}, sql="""
        CREATE TABLE countries (iso varchar(2) PRIMARY KEY);
        CREATE TABLE shops (id int PRIMARY KEY, country varchar(3));""",
         code={"shops.py": '''
            def f(cur):
                cur.execute("SELECT s.id FROM shops s JOIN countries c ON s.country::text = c.iso::text")
            '''},
         expect={("type_mismatch", "public", "shops", "country")},
         severity={("type_mismatch", "public", "shops", "country"): "info"}),
    dict(id="PG008-critical-declared-fk-int4-int8-unchanged", only={"type_mismatch"}, sql="""
        CREATE TABLE p (id bigint PRIMARY KEY);
        CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id));""",
         expect={("type_mismatch", "public", "c", "p_id")},
         severity={("type_mismatch", "public", "c", "p_id"): "critical"}),
    dict(id="PY001-uuid-generation-is-no-workaround-a-cast-of-an-id-is",
         only={"type_mismatch", "cast_workaround"}, sql="""
        CREATE TABLE sessions (id text PRIMARY KEY, user_id int);
        CREATE TABLE tokens (id int PRIMARY KEY, session_id uuid);""",
         code={"auth.py": '''
            import uuid
            from uuid import uuid4


            async def f(conn, user_id, session_uuid):
                await conn.fetch("SELECT t.id FROM tokens t JOIN sessions s ON s.id = t.session_id::text")
                await conn.execute("INSERT INTO sessions (id, user_id) VALUES ($1, $2)", str(uuid.uuid4()), user_id)
                sid = str(uuid4())
                await conn.execute("INSERT INTO sessions (id, user_id) VALUES ($1, $2)", sid, user_id)
                await conn.execute("DELETE FROM sessions WHERE id = $1", str(session_uuid))
            '''},
         expect={("type_mismatch", "public", "tokens", "session_id"), ("cast_workaround", "auth.py", 6),
                 ("cast_workaround", "auth.py", 10)}),
    dict(id="PY002-quoted-identifiers-are-not-unsafe-advice-follows-position", only={"unsafe_sql"}, sql="""
        CREATE TABLE users (id int PRIMARY KEY, email text);""",
         code={"admin.py": '''
            from psycopg import sql
            from psycopg2.extensions import quote_ident


            def f(cur, table, email, col):
                cur.execute(f"SELECT count(*) FROM {quote_ident(table, cur)}")
                cur.execute(f"SELECT {sql.Identifier(col).as_string(cur)} FROM {quote_ident(table, cur)}")
                cur.execute(f"SELECT count(*) FROM {table}")
                cur.execute(f"SELECT id FROM {quote_ident(table, cur)} WHERE email = '{email}'")
                cur.execute(f"SELECT id FROM users WHERE email = '{quote_ident(email, cur)}'")
            '''},
         expect={("unsafe_sql", "admin.py", 8), ("unsafe_sql", "admin.py", 9), ("unsafe_sql", "admin.py", 10)},
         detail={("unsafe_sql", "admin.py", 8): "compose `table` with psycopg.sql.Identifier",
                 ("unsafe_sql", "admin.py", 9): "pass `email` as bound parameters",
                 ("unsafe_sql", "admin.py", 10): "as bound parameters"},
         not_in_detail={("unsafe_sql", "admin.py", 8): "bound param"}),
    # --- 2. orphaned_rows: a dirty column is examined, its orphan share drives the severity -----
    dict(id="PG009-fail-implicit-15-percent-orphans-was-hidden-by-the-90-percent-bar", only={"orphaned_rows"},
         sql="""
        CREATE TABLE customers (id int PRIMARY KEY);
        INSERT INTO customers SELECT g FROM generate_series(1, 100) g;
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int);
        INSERT INTO orders SELECT g, CASE WHEN g % 20 < 3 THEN 5000 + g ELSE 1 + g % 100 END
          FROM generate_series(1, 400) g;  -- 15 % point at deleted customers""",
         expect={("orphaned_rows", "public", "orders", "customer_id")},
         severity={("orphaned_rows", "public", "orders", "customer_id"): "warning"},  # naming + data only
         detail={("orphaned_rows", "public", "orders", "customer_id"): "60 of 400 row(s) (15.0%)"},
         evidence={("orphaned_rows", "public", "orders", "customer_id"): {
             "orphans": 60, "rows_checked": 400,
             "relationship": {"code": False, "naming": True, "parent_key": True, "types": "same",
                              "containment": 0.85, "found": 340, "sampled": 400, "bar": 0.5,
                              "strong": True, "by": "naming+data"}}}),
    dict(id="PG009-pass-naming-but-containment-below-the-50-percent-bar", only={"orphaned_rows", "type_mismatch"},
         sql="""
        CREATE TABLE clients (id int PRIMARY KEY);
        INSERT INTO clients SELECT g FROM generate_series(1, 30) g;
        CREATE TABLE deals (id int PRIMARY KEY, client_id int);
        INSERT INTO deals SELECT g, g FROM generate_series(1, 100) g;  -- 30 % found: another id space""",
         expect=set()),
    dict(id="PG009-pass-too-few-values-found", only={"orphaned_rows"}, sql="""
        CREATE TABLE teams (id int PRIMARY KEY);
        INSERT INTO teams VALUES (1), (2), (3), (4);
        CREATE TABLE boards (id int PRIMARY KEY, team_id int);
        INSERT INTO boards SELECT g, CASE WHEN g <= 4 THEN g ELSE 100 + g END FROM generate_series(1, 8) g;""",
         expect=set()),
    dict(id="PG009-critical-not-valid-fk-20-percent-orphans", only={"orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p SELECT g FROM generate_series(1, 10) g;
        CREATE TABLE c (id int PRIMARY KEY, p_id int);
        INSERT INTO c SELECT g, CASE WHEN g % 5 = 0 THEN 99 ELSE 1 + g % 10 END FROM generate_series(1, 100) g;
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;""",
         expect={("orphaned_rows", "public", "c", "p_id")},
         severity={("orphaned_rows", "public", "c", "p_id"): "critical"}),
    dict(id="PG009-info-not-valid-fk-one-straggler-in-2000", only={"orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p SELECT g FROM generate_series(1, 10) g;
        CREATE TABLE c (id int PRIMARY KEY, p_id int);
        INSERT INTO c SELECT g, CASE WHEN g = 7 THEN 99 ELSE 1 + g % 10 END FROM generate_series(1, 2000) g;
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;""",
         expect={("orphaned_rows", "public", "c", "p_id")},
         severity={("orphaned_rows", "public", "c", "p_id"): "info"}),
    dict(id="PG008-pass-cross-type-needs-90-percent", only={"type_mismatch", "orphaned_rows"}, sql="""
        CREATE TABLE vendors (id int PRIMARY KEY);
        INSERT INTO vendors SELECT g FROM generate_series(1, 100) g;
        CREATE TABLE bills (id int PRIMARY KEY, vendor_id text);
        INSERT INTO bills SELECT g, CASE WHEN g % 20 < 3 THEN 'v-' || g ELSE (1 + g % 100)::text END
          FROM generate_series(1, 400) g;  -- 85 %: enough for the same type, not across types""",
         expect=set()),
]


def run_case(case, dsn, tmp_path, *, ctx_extra=None):
    """Set up, scan, detect; assert the identities, severities, detail words and unchecked checks."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(textwrap.dedent(case["sql"]))
        conn.execute("ANALYZE")
    for name, src in case.get("code", {}).items():
        (tmp_path / name).write_text(textwrap.dedent(src).lstrip("\n"))
    code = scan([tmp_path])
    snap = take_snapshot(dsn, target_db="t")
    ctx = DetectContext(
        target_db="t", snapshot=snap, code=code,
        connect=lambda: connect(dsn, autocommit=False),
        thresholds=Thresholds(observation_window_s=case.get("window", 0)),
        stats_coverage_s=case.get("coverage", 0), **(ctx_extra or {}))
    result = run_detection(ctx, only=case["only"])
    found = {_key(i): i for i in result.issues}
    assert set(found) == case["expect"], [i.detail for i in result.issues]
    for k, sev in case.get("severity", {}).items():
        assert found[k].severity == sev, found[k].detail
    for k, words in case.get("detail", {}).items():
        assert words in found[k].detail, found[k].detail
    for k, ev in case.get("evidence", {}).items():
        for name, want in ev.items():
            assert found[k].evidence[name] == want, (name, found[k].evidence[name])
    for k, words in case.get("not_in_detail", {}).items():
        assert words not in found[k].detail, found[k].detail
    assert {u["check"] for u in result.unchecked} == case.get("unchecked", set()), result.unchecked
    return result


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_issue12_case(case, fresh_dsn, tmp_path):
    run_case(case, fresh_dsn, tmp_path)
