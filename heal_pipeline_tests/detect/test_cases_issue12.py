"""Case files for issue 12 (detection on real schemas and code): items 1, 2, 6 and 7.

Same runner and style as test_detect_cases.py: setup SQL (+ code) → exactly these issues, and
exactly these checks reported as not checked. Negative cases are the false positives the issue saw.
"""

import pytest

from .test_detect_cases import test_case as run_case

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
]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_issue12_case(case, fresh_dsn, tmp_path):
    run_case(case, fresh_dsn, tmp_path)
