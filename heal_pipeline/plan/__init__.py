"""Planning: one :class:`~heal_pipeline.model.FixPlan` per fixable issue (plain Python, no Dagster).

    with PlanContext.open(dsn, policy=policy, migrations_dirs=[...], source_dirs=[...]) as ctx:
        plan = plan_issue(issue, snapshot, ctx)        # None when no planner handles the type
        plans = plan_issues(issues, snapshot, ctx)

A planner per issue type (one module each, registered with ``@planner``) builds the steps; then the
``RULES`` below run in this order on every plan (order matters: the SQL must be rendered before it is
linted, and the tier is final before the policy notes are attached).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Callable

import psycopg

from ..errors import HealError, first_line
from ..model import TIERS, FixPlan, FixStep, Issue, Snapshot
from . import (  # noqa: F401  (explicit imports register the planners)
    cast_workaround,
    duplicate_index,
    fk_without_index,
    invalid_index,
    missing_column,
    missing_table,
    no_primary_key,
    orphaned_rows,
    type_mismatch,
    unused_index,
    unused_table,
)
from . import stale_statistics, table_bloat, sequence_exhaustion, xid_wraparound, unvalidated_constraint  # noqa: F401,E501  issue 15
from . import ops
from .base import PLANNERS, CannotPlan, PlanContext, Thresholds, blocked_plan, planner
from .cache import PlanCache
from .lint import lint_plan, lint_plans

ISSUE_FIELDS = ("issue_type", "severity", "target_db", "schema_name", "table_name", "column_name",
                "object_name", "file", "line", "detail", "evidence")


def _all_steps(plan: FixPlan) -> list[FixStep]:
    out: list[FixStep] = []
    for s in list(plan.prechecks) + list(plan.steps) + list(plan.backup_steps) + list(plan.reverse):
        out.append(s)
        out.extend(s.on_retry)
    out += [s for s in (plan.checksum_before, plan.checksum_after, plan.checksum_original) if s is not None]
    return out


# ---- rules, in order ------------------------------------------------------------------


def rule_attach_issue(plan: FixPlan, issue: Issue, snap: Snapshot, ctx: PlanContext) -> None:
    plan.issue = {k: getattr(issue, k) for k in ISSUE_FIELDS}
    plan.fingerprint = issue.fingerprint
    plan.planned_at = ctx.now.isoformat()
    if plan.tier not in TIERS:
        raise HealError(f"internal: planner for {issue.issue_type} returned tier {plan.tier!r}")


def rule_hoist_prechecks(plan: FixPlan, issue: Issue, snap: Snapshot, ctx: PlanContext) -> None:
    """Leading check steps become ``prechecks`` (run before the backup); reverse indexes shift."""
    n = 0
    while n < len(plan.steps) and plan.steps[n].kind == "check":
        n += 1
    if not n:
        return
    plan.prechecks = list(plan.prechecks) + plan.steps[:n]
    plan.steps = plan.steps[n:]
    for r in plan.reverse:
        r.requires = tuple(i - n for i in r.requires)
        r.unless = tuple(i - n for i in r.unless)
        if any(i < 0 for i in r.requires + r.unless):
            raise HealError(f"internal: reverse step {r.description!r} depends on a precheck")


def rule_render(plan: FixPlan, issue: Issue, snap: Snapshot, ctx: PlanContext) -> None:
    """Fill ``FixStep.sql`` from the composed statement (display/audit text only)."""
    for s in _all_steps(plan):
        if s.op is None:
            continue
        composed = ops.compose_step(s)
        s.sql = composed.as_string(ctx.conn) if ctx.conn is not None else composed.as_string(None)


def _needs_lint(plan: FixPlan, ctx: PlanContext) -> bool:
    return bool(ctx.lint and not plan.code_edits)


def rule_lint(plan: FixPlan, issue: Issue, snap: Snapshot, ctx: PlanContext) -> None:
    if not _needs_lint(plan, ctx):
        return
    t = ctx.thresholds
    lint_plan(plan, snap.server_version_num, lock_timeout_s=t.lock_timeout_s,
              statement_timeout_s=t.statement_timeout_s)


def rule_policy_notes(plan: FixPlan, issue: Issue, snap: Snapshot, ctx: PlanContext) -> None:
    pol = ctx.policy
    if pol is None:
        return
    for t in plan.tables:
        if any(fnmatch.fnmatchcase(t, g) for g in getattr(pol, "protected_tables", ())):
            plan.notes.append(f"{t} is protected by policy: this plan will not be applied")
    if plan.tier == "auto" and "auto" not in getattr(pol, "auto_apply_tiers", ()):
        plan.notes.append("tier auto, but the policy applies no tier automatically (dry-run/approval only)")


RULES: tuple[Callable[[FixPlan, Issue, Snapshot, PlanContext], None], ...] = (
    rule_attach_issue,
    rule_hoist_prechecks,
    rule_render,
    rule_lint,
    rule_policy_notes,
)


def plan_issue(issue: Issue, snap: Snapshot, ctx: PlanContext,
               _lint_later: list[FixPlan] | None = None) -> FixPlan | None:
    """The plan for one issue, or None when no planner handles its type (e.g. ``slow_query``).

    Never raises for a bad issue or a database error while measuring: the plan comes back with
    ``blocked`` set to the reason. (``_lint_later``: :func:`plan_issues` lints all plans in one
    squawk process afterwards; the plan is appended there instead of linted here.)
    """
    fn = PLANNERS.get(issue.issue_type)
    if fn is None:
        return None
    try:
        plan = fn(issue, snap, ctx)
    except (CannotPlan, ops.UnsafeInput) as exc:
        plan = blocked_plan(issue, str(exc))
    except psycopg.Error as exc:
        if ctx.conn is not None and not ctx.conn.closed and ctx.conn.info.transaction_status:
            try:
                ctx.conn.rollback()
            except psycopg.Error:
                pass
        plan = blocked_plan(issue, f"planning failed: {first_line(exc)}")
    try:
        for rule in RULES:
            if rule is rule_lint and _lint_later is not None:
                if _needs_lint(plan, ctx):
                    _lint_later.append(plan)
                continue
            rule(plan, issue, snap, ctx)
    except (ops.UnsafeInput, HealError) as exc:
        plan.blocked = plan.blocked or str(exc)
    return plan


def plan_issues(issues: list[Issue], snap: Snapshot, ctx: PlanContext,
                cache: "PlanCache | None" = None) -> list[FixPlan]:
    """Plans for many issues; their DDL is linted by ONE squawk process (same findings as alone).

    With a :class:`~heal_pipeline.plan.cache.PlanCache`, an issue whose inputs are all unchanged
    gets its cached plan; the others are planned (and stored after linting)."""
    out: list[FixPlan] = []
    later: list[FixPlan] = []
    fresh: list[tuple[Issue, FixPlan]] = []
    if cache is not None:
        cache.begin(snap, ctx)
    for issue in issues:
        if issue.issue_type not in PLANNERS:
            continue
        hit = cache.lookup(issue, ctx) if cache is not None else None
        if hit is not None:
            out.append(hit)
            continue
        p = plan_issue(issue, snap, ctx, later)
        if p is not None:
            out.append(p)
            fresh.append((issue, p))
    if later:
        t = ctx.thresholds
        try:
            lint_plans(later, snap.server_version_num, lock_timeout_s=t.lock_timeout_s,
                       statement_timeout_s=t.statement_timeout_s)
        except HealError as exc:  # squawk missing or broken: nothing it was to lint may run
            for p in later:
                p.blocked = p.blocked or str(exc)
    if cache is not None:
        for issue, p in fresh:
            cache.store(issue, p, ctx)
        cache.save()
    return out


_STEP_FIELDS = tuple(f.name for f in dataclasses.fields(FixStep) if f.name not in ("composed", "on_retry"))
_STEP_KNOWN = frozenset(f.name for f in dataclasses.fields(FixStep)) - {"composed"}
_PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(FixPlan))
_STEP_LISTS = frozenset(("steps", "prechecks", "reverse", "backup_steps"))
_STEP_ONE = frozenset(("checksum_before", "checksum_after", "checksum_original"))


def _step_d(s: FixStep) -> dict:
    d = {k: getattr(s, k) for k in _STEP_FIELDS}
    d["on_retry"] = [_step_d(x) for x in s.on_retry]
    d["lint_allow"] = list(s.lint_allow)
    d["requires"], d["unless"] = list(s.requires), list(s.unless)
    return d


def plan_to_dict(plan: FixPlan) -> dict:
    """JSON-ready view of a plan (composed objects dropped; ``op``/``args`` kept)."""
    out = {}
    for name in _PLAN_FIELDS:
        v = getattr(plan, name)
        if isinstance(v, list) and v and isinstance(v[0], FixStep):
            v = [_step_d(s) for s in v]
        elif isinstance(v, FixStep):
            v = _step_d(v)
        out[name] = v
    return out


def step_from_dict(x: dict) -> FixStep:
    """A stored step; its statement is rebuilt from ``op``/``args`` (never from the ``sql`` text)."""
    kw = {k: v for k, v in x.items() if k in _STEP_KNOWN}
    kw["on_retry"] = [step_from_dict(r) for r in x.get("on_retry") or []]
    for k in ("lint_allow", "requires", "unless"):
        kw[k] = tuple(x.get(k) or ())
    return FixStep(**kw)


def plan_from_dict(d: dict) -> FixPlan:
    """Inverse of :func:`plan_to_dict` (composed statements are rebuilt from ``op``/``args``)."""
    kw = {}
    for name in _PLAN_FIELDS:
        if name not in d:
            continue
        v = d[name]
        if name in _STEP_LISTS:
            v = [step_from_dict(s) for s in v or []]
        elif name in _STEP_ONE:
            v = step_from_dict(v) if v else None
        kw[name] = v
    return FixPlan(**kw)


__all__ = ["PlanCache", "PlanContext", "Thresholds", "plan_issue", "plan_issues", "plan_to_dict", "plan_from_dict",
           "step_from_dict",
           "PLANNERS", "RULES", "planner"]
