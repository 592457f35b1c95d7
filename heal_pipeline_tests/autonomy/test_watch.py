"""Workload watch: the pure verdict, and the measured loop on a real server (apply → watch → keep or
revert + hold through the normal rollback)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg

from heal_pipeline.apply import apply_plan
from heal_pipeline.store import open_store
from heal_pipeline.watch.shadow import active_holds
from heal_pipeline.watch.workload import (Figures, Thresholds, evaluate, evaluate_due_watches, read_figures,
                                          start_watch, watch_applied)
from heal_pipeline_tests.apply.helpers import TEST_POLICY, issue, make_plan

TH = Thresholds(min_calls=10, mean_pct=20, total_pct=10, floor_ms=1.0)


def f(qid, calls, total, query="SELECT 1 FROM t"):
    return Figures(qid, query, calls, total, total / calls if calls else 0.0)


def test_verdicts():
    before = [f("a", 100, 500.0), f("b", 100, 200.0)]
    # a: 5 ms → 8 ms over 50 new calls: +60 % → regressed
    v = evaluate(before, [f("a", 150, 900.0), f("b", 150, 300.0)], TH)
    assert v.status == "regressed" and [r["queryid"] for r in v.regressed_statements] == ["a"]
    assert v.regressed_statements[0]["mean_after_ms"] == 8.0
    # both faster: improved, with before/after per statement
    v = evaluate(before, [f("a", 150, 550.0), f("b", 150, 210.0)], TH)
    assert v.status == "improved" and {r["queryid"] for r in v.improved_statements} == {"a", "b"}
    assert v.total_change_pct < -10
    # +5 % each: neutral; the set's total +15 % without any statement over +20 %: regressed
    assert evaluate(before, [f("a", 200, 1025.0), f("b", 200, 410.0)], TH).status == "neutral"
    assert evaluate(before, [f("a", 200, 1075.0), f("b", 200, 430.0)], TH).status == "regressed"


def test_floor_min_calls_new_statements_and_reset():
    before = [f("fast", 100, 10.0), f("few", 100, 500.0)]
    after = [f("fast", 200, 30.0),  # 0.1 → 0.2 ms: under the 1 ms floor, never judged
             f("few", 105, 600.0),  # 5 calls since: waiting
             f("new", 50, 5000.0)]  # not in before: nothing to compare
    v = evaluate(before, after, TH)
    assert v.status == "inconclusive" and v.judged == 0 and v.waiting == 1
    # counters reset since the change (calls went down): the after figures are all post-change
    v = evaluate([f("a", 1000, 5000.0)], [f("a", 40, 400.0)], TH)
    assert v.status == "regressed" and v.regressed_statements[0]["calls_since"] == 40


def test_type_change_pairs_a_new_queryid_with_its_text_twin_only_when_exact():
    q = "SELECT * FROM s WHERE user_id = $1"
    before = [f("old", 100, 100.0, q)]
    # the column type changed: the same text under a new queryid, the old entry frozen → paired, judged
    v = evaluate(before, [f("old", 100, 100.0, q), f("new", 30, 300.0, q)], TH)
    assert v.status == "regressed" and v.judged == 1 and v.regressed_statements[0]["calls_since"] == 30
    # the old shape is still being called too: not a type change of that statement → no pairing (the old
    # entry is judged on its own calls, unchanged at 1 ms)
    v = evaluate(before, [f("old", 130, 130.0, q), f("new", 30, 300.0, q)], TH)
    assert v.judged == 1 and v.status == "neutral" and not v.regressed_statements
    # two before-entries with that text (e.g. two roles): ambiguous → no pairing
    v = evaluate(before + [f("other", 50, 50.0, q)], [f("new", 30, 300.0, q)], TH)
    assert v.judged == 0


SETUP = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE watch_parent (id int PRIMARY KEY);
INSERT INTO watch_parent SELECT g FROM generate_series(1, 200) g;
CREATE TABLE watch_child (id int PRIMARY KEY, p_id int REFERENCES watch_parent (id), status int, pad text);
-- status 7 only on the rows of the last parent: independent-looking to the planner, correlated in fact
INSERT INTO watch_child SELECT g, g % 200 + 1, CASE WHEN g % 200 + 1 = 200 THEN 7 ELSE g % 7 END, repeat('x', 40)
  FROM generate_series(1, 100000) g;
ANALYZE;
"""
# improves with an index on p_id (seq scan → index scan)
LOOKUP = ("SELECT count(*) FROM watch_child WHERE p_id = %s", lambda i: (i % 200 + 1,))
# gets worse with it: the planner walks the p_id index hoping for an early status = 7 row, which only
# comes at the very end (9 ms seq scan + top-N sort before, ~30 ms index walk after, on this box)
FIRST = ("SELECT id FROM watch_child WHERE status = %s ORDER BY p_id LIMIT 1", lambda i: (7,))


def workload(dsn, n, statement):
    q, args = statement
    with psycopg.connect(dsn, autocommit=True) as c:
        for i in range(n):
            c.execute(q, args(i))


def applied_index_fix(dsn, store_dsn, policy, statement=LOOKUP):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(SETUP)
    workload(dsn, 25, statement)
    plan = make_plan(dsn, issue("fk_without_index", schema_name="public", table_name="watch_child",
                                object_name="watch_child_p_id_fkey", evidence={"columns": ["p_id"]}), policy)
    res = apply_plan(plan, dsn, store_dsn, policy)
    assert res.status == "verified", res.reason
    [w] = watch_applied([res], [plan], dsn, store_dsn, policy)
    assert w["status"] == "watching" and w["statements"] >= 1
    return plan, res


def judge(dsn, store_dsn, policy):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=policy.watch_window_s + 1)
    return evaluate_due_watches(dsn, store_dsn, "t", policy, now=later)


def index_exists(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'watch_child' "
                         "AND indexdef LIKE '%(p_id)%'").fetchone()[0] == 1


POLICY = dataclasses.replace(TEST_POLICY, watch_min_calls=20, regression_floor_ms=0.2)


def test_improving_index_is_kept_with_its_figures(fresh_dsn, store_dsn):
    applied_index_fix(fresh_dsn, store_dsn, POLICY)
    workload(fresh_dsn, 25, LOOKUP)  # index scans now
    [res] = judge(fresh_dsn, store_dsn, POLICY)
    assert res.status == "improved", res.verdict
    assert res.verdict["improved_statements"] and res.verdict["total_change_pct"] < -10
    assert res.metadata()["improved"] >= 1 and index_exists(fresh_dsn)
    with open_store(store_dsn) as store:
        assert store.execute("SELECT status FROM heal.workload_watches").fetchone()[0] == "improved"


def test_planted_regression_is_reverted_and_held(fresh_dsn, store_dsn):
    plan, res = applied_index_fix(fresh_dsn, store_dsn, POLICY, FIRST)
    assert index_exists(fresh_dsn)
    # the planted regression: the new FK index makes the planner pick a worse plan for FIRST
    workload(fresh_dsn, 25, FIRST)
    [w] = judge(fresh_dsn, store_dsn, POLICY)
    assert w.status == "reverted_regression", (w.reason, w.verdict)
    worst = w.verdict["regressed_statements"][0]
    assert "ORDER BY p_id" in worst["query"] and worst["mean_after_ms"] > 1.5 * worst["mean_before_ms"]
    assert w.rollback_fix_id and not index_exists(fresh_dsn)
    with open_store(store_dsn) as store:
        assert plan.fingerprint in active_holds(store, "t")
        held = store.execute("SELECT held_until - now() FROM heal.fix_holds").fetchone()[0]
        # 7 days from the evaluation (which the test runs one window ahead)
        window = dt.timedelta(seconds=POLICY.watch_window_s)
        assert dt.timedelta(days=7) < held <= dt.timedelta(days=7) + window + dt.timedelta(seconds=60)
        status, rb = store.execute("SELECT status, rollback_of FROM heal.fix_history WHERE fix_id = %s",
                                   (w.rollback_fix_id,)).fetchone()
        assert status == "rolled_back" and rb == res.fix_id
        assert store.execute("SELECT status FROM heal.workload_watches").fetchone()[0] == "reverted_regression"
    assert judge(fresh_dsn, store_dsn, POLICY) == []  # judged once


def test_not_due_yet_and_not_watched_fixes(fresh_dsn, store_dsn):
    plan, res = applied_index_fix(fresh_dsn, store_dsn, POLICY)
    assert evaluate_due_watches(fresh_dsn, store_dsn, "t", POLICY) == []  # the window has not passed
    analyze = make_plan(fresh_dsn, issue("stale_statistics", schema_name="public", table_name="watch_child"))
    assert watch_applied([dataclasses.replace(res, fingerprint=analyze.fingerprint)], [analyze], fresh_dsn,
                         store_dsn, POLICY) == []  # ANALYZE is not an index/type change


def test_without_pg_stat_statements_the_watch_cannot_run(fresh_dsn, store_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY)")
        status, figs = read_figures(c, ["public.t"])
    assert "not installed" in status and figs == []
    plan = make_plan(fresh_dsn, issue("stale_statistics", schema_name="public", table_name="t"))
    with open_store(store_dsn) as store, psycopg.connect(fresh_dsn, autocommit=True) as target:
        w = start_watch(store, target, 1, plan, POLICY)
    assert w["status"] == "cannot_run" and "pg_stat_statements" in w["reason"]


TYPE_SETUP = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE tw_users (id int PRIMARY KEY);
INSERT INTO tw_users SELECT generate_series(1, 1000);
CREATE TABLE tw_sessions (id int PRIMARY KEY, user_id text, pad text);
INSERT INTO tw_sessions SELECT g, (g % 1000 + 1)::text, repeat('x', 60) FROM generate_series(1, 100000) g;
CREATE INDEX tw_sessions_user_idx ON tw_sessions (user_id);
ANALYZE;
"""
# the application kept its cast workaround: a no-op on text (index scan), a seq scan once user_id is integer
CAST_LOOKUP = ("SELECT count(*) FROM tw_sessions WHERE user_id::text = %s", lambda i: (str(i % 1000 + 1),))


def test_type_change_regression_is_reverted_through_the_no_overwrite_rollback(fresh_dsn, store_dsn):
    """A verified type change (text → integer) that makes the application's kept cast workaround a
    sequential scan: the statement's queryid changes with the column type, the watch pairs the two
    entries by their text, judges the regression, reverts the change (the column is text again, every
    value as before) and holds the fingerprint."""
    from heal_pipeline.plan import Thresholds as PlanThresholds

    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute(TYPE_SETUP)
        before_rows = c.execute("SELECT id, user_id FROM tw_sessions ORDER BY id").fetchall()
    workload(fresh_dsn, 30, CAST_LOOKUP)
    iss = issue("type_mismatch", schema_name="public", table_name="tw_sessions", column_name="user_id",
                severity="critical", evidence={"parent": {"schema": "public", "table": "tw_users", "column": "id",
                                                          "data_type": "integer"}})
    plan = make_plan(fresh_dsn, iss, POLICY, thresholds=PlanThresholds(small_table_rows=200_000))
    assert plan.blocked is None, plan.blocked
    res = apply_plan(plan, fresh_dsn, store_dsn, POLICY, approve=True)
    assert res.status == "verified", res.reason
    [w] = watch_applied([res], [plan], fresh_dsn, store_dsn, POLICY)
    assert w["status"] == "watching" and w["statements"] >= 1
    workload(fresh_dsn, 30, CAST_LOOKUP)          # now a seq scan of 100,000 rows per call
    [w] = judge(fresh_dsn, store_dsn, POLICY)
    assert w.status == "reverted_regression", (w.reason, w.verdict)
    worst = w.verdict["regressed_statements"][0]
    print(f"\ntype-change regression: mean {worst['mean_before_ms']} → {worst['mean_after_ms']} ms")
    assert "user_id::text" in worst["query"] and worst["mean_after_ms"] > 2 * worst["mean_before_ms"], worst
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        assert c.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                         "'tw_sessions'::regclass AND attname = 'user_id'").fetchone()[0] == "text"
        assert c.execute("SELECT id, user_id FROM tw_sessions ORDER BY id").fetchall() == before_rows
    with open_store(store_dsn) as store:
        assert plan.fingerprint in active_holds(store, "t")
