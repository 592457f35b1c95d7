"""The maintenance planners end to end on a real server: detect → plan (rendered, squawk-linted) →
apply through the normal executor → the effect is there and the fix is ``verified``."""

from __future__ import annotations

import psycopg
import pytest

from heal_pipeline.apply import apply_plan
from heal_pipeline.detect import run_detection
from heal_pipeline.plan import PlanContext, Thresholds as PlanThresholds, plan_issue
from heal_pipeline_tests.apply.helpers import TEST_POLICY

from .test_maintenance_cases import detect, setup


def one_issue(dsn, issue_type, sql, **thresholds):
    setup(dsn, {"sql": sql})
    snap, ctx = detect(dsn, **thresholds)
    issues = [i for i in run_detection(ctx, only={issue_type, "orphaned_rows"}).issues if i.issue_type == issue_type]
    assert len(issues) == 1, issues
    return snap, issues[0]


def plan_of(dsn, snap, issue, **plan_thresholds):
    with PlanContext.open(dsn, policy=TEST_POLICY,
                          thresholds=PlanThresholds(**plan_thresholds) if plan_thresholds else
                          PlanThresholds.from_policy(TEST_POLICY)) as ctx:
        return plan_issue(issue, snap, ctx)


def scalar(dsn, q):
    with psycopg.connect(dsn, autocommit=True) as c:
        return c.execute(q).fetchone()[0]  # test-only literal SQL


def test_stale_statistics_analyze_auto(fresh_dsn, store_dsn):
    snap, iss = one_issue(fresh_dsn, "stale_statistics", """
        CREATE TABLE loaded (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
        INSERT INTO loaded SELECT g FROM generate_series(1, 5000) g""")
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "auto" and plan.blocked is None, plan.blocked
    assert [s.sql for s in plan.steps if s.kind == "ddl"] == ['ANALYZE "public"."loaded"']
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY)
    assert res.status == "verified", res.reason
    assert scalar(fresh_dsn, "SELECT reltuples FROM pg_class WHERE relname = 'loaded'") == 5000


def test_table_bloat_vacuum_auto_outside_a_transaction(fresh_dsn, store_dsn):
    snap, iss = one_issue(fresh_dsn, "table_bloat", """
        CREATE TABLE churn (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        INSERT INTO churn SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g; ANALYZE churn;
        DELETE FROM churn WHERE id % 4 <> 0""")
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "auto" and plan.blocked is None, plan.blocked
    vac = [s for s in plan.steps if s.op == "vacuum_table"]
    assert vac and not vac[0].transactional and vac[0].sql == 'VACUUM (ANALYZE) "public"."churn"'
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY)
    assert res.status == "verified", res.reason
    assert scalar(fresh_dsn, "SELECT pg_stat_get_dead_tuples('churn'::regclass)") == 0
    assert scalar(fresh_dsn, "SELECT count(*) FROM churn") == 5000


def test_table_bloat_space_only_is_manual_advice(fresh_dsn):
    snap, iss = one_issue(fresh_dsn, "table_bloat", """
        CREATE TABLE holes (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        INSERT INTO holes SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;
        DELETE FROM holes WHERE id % 4 <> 0; VACUUM ANALYZE holes""", bloat_min_bytes=0)
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "manual" and any("pg_repack" in n for n in plan.notes)
    assert TEST_POLICY.gate(plan, approve=True) is not None  # manual: never applied


def test_sequence_exhaustion_widens_column_and_sequence_with_approval(fresh_dsn, store_dsn):
    snap, iss = one_issue(fresh_dsn, "sequence_exhaustion", """
        CREATE TABLE s (id serial PRIMARY KEY, v int);
        INSERT INTO s (v) SELECT g FROM generate_series(1, 50) g;
        SELECT setval('s_id_seq', 2100000000)""")
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "approval" and plan.blocked is None, plan.blocked
    assert apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY).status == "skipped"  # not approved
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "verified", res.reason
    assert scalar(fresh_dsn, "SELECT format_type(atttypid, NULL) FROM pg_attribute "
                             "WHERE attrelid = 's'::regclass AND attname = 'id'") == "bigint"
    assert scalar(fresh_dsn, "SELECT data_type::text FROM pg_sequences WHERE sequencename = 's_id_seq'") == "bigint"
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute("SELECT setval('s_id_seq', 3000000000)")
        c.execute("INSERT INTO s (v) VALUES (1)")  # past the old integer range
    assert scalar(fresh_dsn, "SELECT max(id) FROM s") == 3000000001


def test_sequence_exhaustion_large_table_is_manual(fresh_dsn):
    snap, iss = one_issue(fresh_dsn, "sequence_exhaustion", """
        CREATE TABLE s (id serial PRIMARY KEY); INSERT INTO s SELECT FROM generate_series(1, 200);
        SELECT setval('s_id_seq', 2100000000)""")
    plan = plan_of(fresh_dsn, snap, iss, small_table_rows=100)
    assert plan.tier == "manual" and "expand/contract" in " ".join(plan.notes)


def test_xid_wraparound_vacuum_freeze_with_approval(fresh_dsn, store_dsn):
    setup(fresh_dsn, {"sql": "CREATE TABLE old (id int); INSERT INTO old VALUES (1)", "burn_xids": 40})
    snap, ctx = detect(fresh_dsn, xid_age_warn=30)
    [iss] = [i for i in run_detection(ctx, only={"xid_wraparound"}).issues]
    assert iss.severity == "critical"
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "approval" and plan.blocked is None, plan.blocked
    # the check after VACUUM needs the age to drop below half (here: the 1e6 floor, trivially met)
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "verified", res.reason
    assert scalar(fresh_dsn, "SELECT age(relfrozenxid) FROM pg_class WHERE relname = 'old'") < 5


def test_unvalidated_constraint_validates_after_orphan_check(fresh_dsn, store_dsn):
    snap, iss = one_issue(fresh_dsn, "unvalidated_constraint", """
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
        CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1);
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID""")
    plan = plan_of(fresh_dsn, snap, iss)
    assert plan.tier == "auto" and plan.blocked is None, plan.blocked
    assert any(s.op == "count_orphans" for s in plan.prechecks)
    # an orphan written after planning: the precheck at apply time refuses, nothing changes
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute("ALTER TABLE c DROP CONSTRAINT c_p_fk")
        c.execute("INSERT INTO c VALUES (2, 42)")
        c.execute("ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID")
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY)
    assert res.status == "failed" and "orphan" in (res.reason or "")
    assert scalar(fresh_dsn, "SELECT convalidated FROM pg_constraint WHERE conname = 'c_p_fk'") is False
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute("DELETE FROM c WHERE id = 2")
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY)
    assert res.status == "verified", res.reason
    assert scalar(fresh_dsn, "SELECT convalidated FROM pg_constraint WHERE conname = 'c_p_fk'") is True


@pytest.mark.parametrize("sql_text", ["CREATE TABLE c (id int PRIMARY KEY, n int); INSERT INTO c VALUES (1, -1);"
                                      "ALTER TABLE c ADD CONSTRAINT c_n CHECK (n > 0) NOT VALID"])
def test_unvalidated_check_with_violation_fails_without_change(fresh_dsn, store_dsn, sql_text):
    snap, iss = one_issue(fresh_dsn, "unvalidated_constraint", sql_text)
    plan = plan_of(fresh_dsn, snap, iss)
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY)
    assert res.status == "failed" and "violated" in (res.reason or "")
    assert scalar(fresh_dsn, "SELECT convalidated FROM pg_constraint WHERE conname = 'c_n'") is False
