"""Plan cache: a hit is exactly the plan re-planning would make; any changed input misses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR
from heal_pipeline.model import FixPlan
from heal_pipeline.plan import PlanCache, PlanContext, Thresholds, plan_issues, plan_to_dict
from heal_pipeline.plan.cache import reads_whole_tree, transient
from heal_pipeline.scan import scan_target
from heal_pipeline.targets import Target

NOW = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def estate(demo_copy, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP_DIR, app)
    return demo_copy, app


def scan(dsn, app):
    t = Target(name="heal_demo", dsn=dsn, store_dsn=dsn, source_dirs=(app,), migrations_dirs=(MIGRATIONS_DIR,),
               observation_window_s=0)
    out = scan_target(t)
    return out.snapshot, [i for i in out.result.issues if i.fixable], out.code


def plan(dsn, app, snap, issues, code, cache, **kw):
    with PlanContext.open(dsn, migrations_dirs=[MIGRATIONS_DIR], source_dirs=[app], now=NOW,
                          statements=list(code.statements) if code else [], **kw) as ctx:
        return {p.fingerprint: p for p in plan_issues(issues, snap, ctx, cache=cache)}


def test_hits_equal_replanning_and_changed_inputs_miss(estate, tmp_path):
    dsn, app = estate
    home = tmp_path / "home"
    snap, issues, code = scan(dsn, app)
    first = plan(dsn, app, snap, issues, code, PlanCache.for_target("heal_demo", home))
    cacheable = {fp for fp, p in first.items() if not transient(p)}
    assert len(cacheable) >= 15 and any(p.code_edits for p in first.values())
    assert any(p.blocked for fp, p in first.items() if fp in cacheable)  # deterministic blocks are cached too
    by_fp = {i.fingerprint: i for i in issues}
    tree_readers = {fp for fp in cacheable if reads_whole_tree(by_fp[fp])}
    assert tree_readers  # the demo's cast-only helper: its plan looks for callers in every file

    # unchanged: every cacheable plan is a hit and equals a fresh plan, field for field
    cache = PlanCache.for_target("heal_demo", home)
    again = plan(dsn, app, snap, issues, code, cache)
    assert cache.stats["hits"] == len(cacheable)
    fresh = plan(dsn, app, snap, issues, code, None)
    for fp in cacheable:
        assert plan_to_dict(again[fp]) == plan_to_dict(fresh[fp]), fp

    # a source file edited: only the cast plans of that file miss (their codemod runs again)
    cast = next(p for p in first.values() if p.code_edits and not p.blocked)
    path = cast.code_edits[0]["path"]
    with open(path, "a") as fh:
        fh.write("\n# edited\n")
    in_file = {fp for fp, p in first.items() if fp in cacheable and any(e["path"] == path for e in p.code_edits)}
    cache = PlanCache.for_target("heal_demo", home)
    plan(dsn, app, snap, issues, code, cache)
    assert in_file and set(cache.missed) - (set(first) - cacheable) == in_file | tree_readers

    # a write to a table a plan measures: that plan misses, after the next snapshot
    fk = next(p for p in first.values() if p.issue_type == "fk_without_index" and not p.blocked)
    schema, table = fk.issue["schema_name"], fk.issue["table_name"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE ctid IN (SELECT ctid FROM {} LIMIT 1)").format(
            sql.Identifier(schema, table), sql.Identifier(schema, table)))
        conn.execute("SELECT pg_stat_force_next_flush()")
    snap2, issues2, code2 = scan(dsn, app)
    assert snap2.content_hash() == snap.content_hash()
    cache = PlanCache.for_target("heal_demo", home)
    got = plan(dsn, app, snap2, issues2, code2, cache)
    assert fk.fingerprint in cache.missed and cache.stats["hits"] >= len(cacheable) // 2
    assert cache.lookup(next(i for i in issues2 if i.fingerprint == fk.fingerprint), None) is not None  # stored anew
    fresh2 = plan(dsn, app, snap2, issues2, code2, None)
    assert plan_to_dict(got[fk.fingerprint]) == plan_to_dict(fresh2[fk.fingerprint])

    # a changed issue (its evidence) misses; so does a changed threshold (global key)
    changed = [dataclasses.replace(i, evidence={**i.evidence, "x": 1}) if i.fingerprint == fk.fingerprint else i
               for i in issues2]
    cache = PlanCache.for_target("heal_demo", home)
    plan(dsn, app, snap2, changed, code2, cache)
    assert cache.stats["misses"] == 1 + (len(first) - len(cacheable)) and fk.fingerprint in cache.missed
    # unused_table's detail/evidence (the window's dates, the deltas) are not planner inputs: a hit that
    # equals re-planning with them changed, and shows them as they are now
    unused = next(i for i in issues2 if i.issue_type == "unused_table")
    moved = [dataclasses.replace(i, detail=i.detail + " (later scan)", evidence={**i.evidence, "window": "w2"})
             if i.fingerprint == unused.fingerprint else i for i in issues2]
    cache = PlanCache.for_target("heal_demo", home)
    hit = plan(dsn, app, snap2, moved, code2, cache)[unused.fingerprint]
    assert unused.fingerprint not in cache.missed
    assert plan_to_dict(hit) == plan_to_dict(plan(dsn, app, snap2, moved, code2, None)[unused.fingerprint])
    assert hit.issue["evidence"]["window"] == "w2" and hit.issue["detail"].endswith("(later scan)")
    cache = PlanCache.for_target("heal_demo", home)
    plan(dsn, app, snap2, issues2, code2, cache, thresholds=Thresholds(small_table_rows=7))
    assert cache.stats["hits"] == 0

    # a schema change (DDL drift) misses everything
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE INDEX heal_t_cache_probe ON {} ({})").format(
            sql.Identifier(schema, table), sql.Identifier(fk.issue["evidence"]["columns"][0])))
    snap3, issues3, code3 = scan(dsn, app)
    cache = PlanCache.for_target("heal_demo", home)
    plan(dsn, app, snap3, issues3, code3, cache)
    assert cache.stats["hits"] == 0


def test_unreadable_cache_file_is_an_empty_cache(tmp_path):
    c = PlanCache.for_target("t", tmp_path)
    c.path.parent.mkdir(parents=True)
    c.path.write_bytes(b"\x00not json")
    assert PlanCache.for_target("t", tmp_path).entries == {}


def test_results_of_the_moment_are_not_cached(tmp_path):
    assert transient(FixPlan(fingerprint="f", issue_type="x", target_db="t", tier="auto", summary="s",
                             notes=["orphan count timed out at plan time: it runs again before VALIDATE"]))
    assert transient(FixPlan(fingerprint="f", issue_type="x", target_db="t", tier="manual", summary="s",
                             blocked="planning failed: connection lost"))
    assert not transient(FixPlan(fingerprint="f", issue_type="x", target_db="t", tier="manual", summary="s",
                                 blocked="no NOT NULL unique candidate key"))
