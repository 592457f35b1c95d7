"""squawk runs once for all plans (plan_issues): same findings and same blocks as linting each alone."""

from __future__ import annotations

import copy

import pytest

from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR
from heal_pipeline.model import FixStep
from heal_pipeline.plan import PlanContext, plan_issues, rule_render
from heal_pipeline.plan.base import step
from heal_pipeline.plan.lint import lint_plan, lint_plans
from heal_pipeline.scan import scan_target
from heal_pipeline.targets import Target


@pytest.fixture(scope="module")
def demo_dsn(admin_dsn, demo_build):
    """A private copy: planning measures row counts (scans every unused table), and the scan writes its
    store here; on the shared session demo that made later tests lose the demo's unused_table issues."""
    from heal_pipeline_tests.conftest import _create_db, _drop_db

    _drop_db(admin_dsn, "heal_demo_lint_copy")
    yield _create_db(admin_dsn, "heal_demo_lint_copy", template="heal_demo_test")
    _drop_db(admin_dsn, "heal_demo_lint_copy")


@pytest.fixture(scope="module")
def demo_scan(demo_dsn):
    target = Target(name="heal_demo", dsn=demo_dsn, store_dsn=demo_dsn, source_dirs=(APP_DIR,),
                    migrations_dirs=(MIGRATIONS_DIR,), observation_window_s=0)
    return scan_target(target)


def test_one_squawk_process_gives_each_plans_own_findings(demo_dsn, demo_scan):
    issues = [i for i in demo_scan.result.issues if i.fixable]
    with PlanContext.open(demo_dsn, migrations_dirs=[MIGRATIONS_DIR], source_dirs=[APP_DIR]) as ctx:
        plans = plan_issues(issues, demo_scan.snapshot, ctx)
    linted = [p for p in plans if not p.code_edits]
    assert len(linted) >= 15 and sum(len(p.lint) for p in linted) >= 5  # the demo's plans do have findings
    for p in linted:
        alone = copy.deepcopy(p)
        alone.lint, alone.blocked = [], None
        lint_plan(alone, demo_scan.snapshot.server_version_num, lock_timeout_s=ctx.thresholds.lock_timeout_s,
                  statement_timeout_s=ctx.thresholds.statement_timeout_s)
        assert alone.lint == p.lint, p.fingerprint
        if alone.blocked and alone.blocked.startswith("squawk"):
            assert p.blocked == alone.blocked


def test_a_lint_failure_in_one_plan_blocks_only_that_plan(demo_dsn, demo_scan):
    issues = [i for i in demo_scan.result.issues if i.fixable and i.issue_type == "fk_without_index"]
    with PlanContext.open(demo_dsn, migrations_dirs=[MIGRATIONS_DIR], source_dirs=[APP_DIR], lint=False) as ctx:
        plans = plan_issues(issues, demo_scan.snapshot, ctx)
        ctx.conn = None  # render below without a connection
    bad = plans[1]
    # a column type change in the middle of the batch: squawk must flag it there, and only there
    a = next(s.args for s in bad.steps if s.op == "create_index")
    bad.steps.insert(0, step("unsafe", "alter_column_type", {"schema": a["schema"], "table": a["table"],
                                                              "column": a["columns"][0], "type": "bigint"},
                             lock="ACCESS EXCLUSIVE"))
    rule_render(bad, issues[1], demo_scan.snapshot, ctx)
    assert len(plans) >= 2 and all(not p.blocked for p in plans)
    assert isinstance(bad.steps[0], FixStep) and bad.steps[0].sql
    lint_plans(plans, demo_scan.snapshot.server_version_num)
    assert bad.blocked and "changing-column-type" in bad.blocked and "steps step 0" in bad.blocked
    assert all(not p.blocked for p in plans if p is not bad)
