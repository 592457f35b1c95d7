"""Shadow mode and the trust ramp: what auto-apply *would* do under the current policy.

:func:`shadow_decisions` is pure (plans + policy + the facts it needs from the store, passed in):
each plan in run order (:func:`heal_pipeline.plan.priority.order_plans`) gets ``would_apply`` — the
decision with auto-apply switched on and every other rule of the policy as it is (protected tables,
row limits, disabled types, per-table switches), the trust ramp (``auto_after_approvals``), holds
after a regression revert, plans that the workload watch could not protect, and dependencies on
plans that would not run — and ``applies_now``, the decision under the policy exactly as it is.

:func:`record_shadow` writes one ``heal.shadow_fixes`` row per plan; :func:`shadow_metadata` does the
store reads, the decisions and the write, and returns plain metadata for the ``fix_plan`` asset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

import psycopg

from ..apply.policy import Policy, trust_ramp_reason
from ..model import FixPlan
from ..plan.priority import order_plans, severity_of

# operations whose effect on the workload the watch measures (index and type changes)
WATCHED_OPS = frozenset({"create_index", "create_index_from_definition", "drop_index", "alter_column_type",
                         "backfill_batch", "reindex_index"})


def is_watched(plan: FixPlan) -> bool:
    """True for a plan that changes an index or a column type (its effect is measured afterwards)."""
    return any(s.op in WATCHED_OPS for s in plan.steps)


def watch_tier_reason(plan: FixPlan, pg_stat_statements: str | None) -> str | None:
    """Why an ``auto`` index/type change is not auto here: without pg_stat_statements it cannot be watched."""
    if plan.tier == "auto" and is_watched(plan) and pg_stat_statements not in (None, "ok"):
        return (f"workload watch cannot run (pg_stat_statements: {pg_stat_statements}): an unwatched "
                "index/type change is not applied automatically")
    return None


@dataclass
class ShadowRow:
    position: int
    fingerprint: str
    issue_type: str
    tier: str
    severity: str
    would_apply: bool
    applies_now: bool
    reason: str | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def enabled(policy: Policy) -> Policy:
    """The policy with auto-apply switched on (dry run off, tier auto in auto_apply_tiers), nothing else."""
    tiers = tuple(sorted(set(policy.auto_apply_tiers) | {"auto"}))
    return dataclasses.replace(policy, dry_run=False, auto_apply_tiers=tiers)


def shadow_decisions(plans: Iterable[FixPlan], policy: Policy, *,
                     verified_approvals: dict[str, int] | None = None,
                     holds: Iterable[str] = (), pg_stat_statements: str | None = "ok") -> list[ShadowRow]:
    """One row per plan, in run order (see the module docstring)."""
    approvals = verified_approvals or {}
    held = set(holds)
    on = enabled(policy)
    rows: list[ShadowRow] = []
    decided: dict[str, bool] = {}
    ordered = order_plans(list(plans))
    in_run = {p.fingerprint for p in ordered}
    for i, p in enumerate(ordered):
        reason = on.gate(p, approve=False)
        if reason is None and p.fingerprint in held:
            reason = "held after a regression revert (heal.fix_holds)"
        if reason is None:
            reason = trust_ramp_reason(policy, p, approvals.get(p.issue_type, 0))
        if reason is None:
            reason = watch_tier_reason(p, pg_stat_statements)
        if reason is None:
            blocked_by = [d for d in p.depends_on if d in in_run and not decided.get(d, False)]
            if blocked_by:
                reason = f"depends on {', '.join(blocked_by)}, which would not be applied"
        would = reason is None
        now = would and policy.gate(p, approve=False) is None
        decided[p.fingerprint] = would
        rows.append(ShadowRow(i + 1, p.fingerprint, p.issue_type, p.tier, severity_of(p), would, now, reason,
                              (p.summary or "")[:300]))
    return rows


# ---- store ------------------------------------------------------------------------------


def verified_approvals(store: psycopg.Connection, target_db: str) -> dict[str, int]:
    """Verified fixes applied with a human approval, per issue type (the trust ramp's count)."""
    rows = store.execute(
        "SELECT issue_type, count(*) FROM heal.fix_history WHERE target_db = %s AND approved "
        "AND status = 'verified' AND rollback_of IS NULL AND rolled_back_by IS NULL GROUP BY issue_type",
        (target_db,)).fetchall()
    return {t: int(n) for t, n in rows}


def active_holds(store: psycopg.Connection, target_db: str) -> set[str]:
    rows = store.execute("SELECT fingerprint FROM heal.fix_holds WHERE target_db = %s AND held_until > now()",
                         (target_db,)).fetchall()
    return {r[0] for r in rows}


def record_shadow(store: psycopg.Connection, target_db: str, rows: list[ShadowRow], *, run_id: str | None,
                  policy_source: str) -> int:
    with store.cursor() as cur, cur.copy(  # one stream, not an INSERT per plan (1,000 plans a run at scale)
            "COPY heal.shadow_fixes (run_id, target_db, fingerprint, issue_type, tier, severity, position, "
            "would_apply, applies_now, reason, summary, policy_source) FROM STDIN") as cp:
        for r in rows:
            cp.write_row((run_id, target_db, r.fingerprint, r.issue_type, r.tier, r.severity, r.position,
                          r.would_apply, r.applies_now, r.reason, r.summary, policy_source))
    return len(rows)


def shadow_metadata(store: psycopg.Connection, target_db: str, plans: list[FixPlan], policy: Policy, *,
                    run_id: str | None, pg_stat_statements: str | None = "ok") -> dict[str, Any]:
    """Decide, record, and return plain metadata (``shadow/would_apply`` etc.) for ``fix_plan``."""
    rows = shadow_decisions(plans, policy, verified_approvals=verified_approvals(store, target_db),
                            holds=active_holds(store, target_db), pg_stat_statements=pg_stat_statements)
    record_shadow(store, target_db, rows, run_id=run_id, policy_source=policy.source)
    return {"shadow/would_apply": sum(r.would_apply for r in rows),
            "shadow/applies_now": sum(r.applies_now for r in rows),
            "shadow/held_back": sum(not r.would_apply for r in rows),
            "shadow/order": [r.to_dict() for r in rows]}


def autonomy_gate(store: psycopg.Connection, target_db: str, plans: list[FixPlan], policy: Policy,
                  approved: Iterable[str] = (), pg_stat_statements: str | None = "ok"
                  ) -> tuple[list[FixPlan], list[dict[str, Any]]]:
    """Split the plans a run would apply into (kept, held back with the reason).

    Unapproved plans are held back by an active hold (after a regression revert), the trust ramp, or a
    workload watch that cannot run; a plan a human approved in this run goes through (the executor's
    own gates still apply to it).
    """
    ok = set(approved)
    approvals = verified_approvals(store, target_db)
    holds = active_holds(store, target_db)
    kept, held = [], []
    for p in plans:
        reason = None
        if p.fingerprint not in ok:
            reason = (("held after a regression revert (heal.fix_holds)" if p.fingerprint in holds else None)
                      or trust_ramp_reason(policy, p, approvals.get(p.issue_type, 0))
                      or watch_tier_reason(p, pg_stat_statements))
        if reason:
            held.append({"fingerprint": p.fingerprint, "issue_type": p.issue_type, "reason": reason})
        else:
            kept.append(p)
    return kept, held
