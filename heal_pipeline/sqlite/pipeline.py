"""Plan, apply and roll back fixes of a SQLite target for the scheduled path (no Dagster here).

The Dagster assets ``fix_plan`` / ``applied_fixes`` and the ``heal_rollback`` job call these when the
partition's target is a ``sqlite:`` URL; ``heal sqlite fix`` / ``heal sqlite rollback`` call the same
functions, so the command line and the pipeline follow one rule:

* :func:`plan_target` — a plan per open fixable issue that heal can fix on SQLite (others: none).
* :func:`apply_target` — the approved plans, and the ``auto`` tier when the policy applies it
  (``dry_run = false`` and ``auto`` in ``auto_apply_tiers``), each after a backup through the SQLite
  backup API and verified with ``integrity_check``. Plans are made again from the issue at apply
  time (fresh row counts, and no statement text read back from the store is ever executed).
* :func:`rollback_fix_id` — undo one recorded SQLite fix without overwriting rows the application
  wrote since (they are kept and reported as conflicts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import FixPlan, FixStep, Issue
from .fix import apply_plan, plan_fix, rollback
from .target import sqlite_path


def plan_target(target, issues: list[Issue]) -> list[FixPlan]:
    path = sqlite_path(target.dsn)
    return [p for p in (plan_fix(i, path) for i in issues) if p is not None]


def _allowed(plan: FixPlan, approved: set[str], policy: Any) -> str | None:
    """None when the plan may run, else why not."""
    if plan.fingerprint in approved:
        return None if plan.tier != "manual" else "tier manual: never applied by heal"
    if plan.tier == "auto" and not getattr(policy, "dry_run", True) and "auto" in getattr(policy, "auto_apply_tiers", ()):
        return None
    return f"tier {plan.tier}: needs approval" if plan.tier != "auto" else "policy does not auto-apply (dry_run)"


def apply_target(target, issues: list[Issue], approved: set[str], policy: Any, home: Path, store) -> list[dict]:
    """Apply what ``approved`` and the policy allow; one result row per plan (skipped ones say why)."""
    out = []
    for plan in plan_target(target, issues):
        why = _allowed(plan, approved, policy)
        if why is not None:
            if plan.fingerprint in approved:
                out.append({"fingerprint": plan.fingerprint, "issue_type": plan.issue_type, "fix_id": None,
                            "status": "skipped", "reason": why, "summary": plan.summary})
            continue
        r = apply_plan(plan, sqlite_path(target.dsn), home, store=store)
        out.append({"fingerprint": plan.fingerprint, "issue_type": plan.issue_type, "fix_id": r.get("fix_id"),
                    "status": r["status"], "reason": r.get("error") or "", "summary": plan.summary,
                    "backup": r.get("backup_ref") or "", "lock_s": r.get("lock_s")})
    return out


def rollback_fix_id(target, fix_id: int, store) -> dict:
    """Roll back SQLite fix ``fix_id`` of ``target`` (the plan is rebuilt from its history row: op + args)."""
    row = store.execute("SELECT fingerprint, issue_type, target_db, tier, summary, plan, backup_ref, status,"
                        " rolled_back_by FROM heal.fix_history WHERE fix_id = %s AND engine = 'sqlite'",
                        (fix_id,)).fetchone()
    if row is None:
        raise ConfigError(f"no SQLite fix {fix_id} in heal.fix_history")
    if row[8] is not None:
        raise ConfigError(f"fix {fix_id} was already rolled back (by fix {row[8]})")
    if row[2] != target.name:
        raise ConfigError(f"fix {fix_id} was made on {row[2]}, not on {target.name}")
    if row[7] == "skipped":
        raise ConfigError(f"fix {fix_id} was skipped: it changed nothing, there is nothing to roll back")
    steps = [FixStep(s.get("description", s["op"]), "", "", op=s["op"], args=s["args"])
             for s in (row[5] or {}).get("steps", [])]
    plan = FixPlan(row[0], row[1], row[2], row[3], row[4] or "", steps=steps)
    return rollback(plan, {"fix_id": fix_id, "backup_ref": row[6]}, sqlite_path(target.dsn), store=store)
