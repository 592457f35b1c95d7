"""Shared helpers for the fixer tests (real PostgreSQL, no mocks)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from heal_pipeline.apply import Policy
from heal_pipeline.introspect.snapshot import take_snapshot
from heal_pipeline.model import Issue
from heal_pipeline.plan import PlanContext, Thresholds, plan_issue

# fast, approving policy for tests: short lock timeout, quick retries, no cooldown
TEST_POLICY = Policy(dry_run=False, auto_apply_tiers=("auto",), lock_timeout_s=0.5, retry_backoff_s=0.05,
                     lock_retries=2, cooldown_s=0, max_attempts=100, fix_lock_wait_s=5, batch_pause_s=0)


def run(dsn: str, text: str, params=None) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(text, params)  # test fixtures only: literal SQL written in the tests


def fetch(dsn: str, query, params=None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as c:
        return c.execute(query, params).fetchall()


def table_rows(dsn: str, schema: str, table: str) -> list[tuple]:
    """Every row as sorted (column, value) pairs: compared by name (expand/contract moves a column
    to the end of the table; ``SELECT *`` order is not part of the schema hash either)."""
    q = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
    with psycopg.connect(dsn, autocommit=True) as c:
        cur = c.execute(q)
        names = [d.name for d in cur.description]
        return sorted((tuple(sorted(zip(names, r), key=lambda kv: kv[0])) for r in cur.fetchall()), key=repr)


def issue(issue_type: str, **kw) -> Issue:
    kw.setdefault("severity", "warning")
    kw.setdefault("target_db", "t")
    kw.setdefault("detail", f"test {issue_type}")
    return Issue(issue_type=issue_type, **kw)


def snap(dsn: str):
    return take_snapshot(dsn, target_db="t")


def make_plan(dsn: str, iss: Issue, policy: Policy = TEST_POLICY, **ctx_kw):
    s = snap(dsn)
    with PlanContext.open(dsn, policy=policy, thresholds=ctx_kw.pop("thresholds", Thresholds.from_policy(policy)),
                          **ctx_kw) as ctx:
        return plan_issue(iss, s, ctx)
