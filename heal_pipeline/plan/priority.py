"""Priority of the fixes in one run: severity, then dependency, then cost (issue 15 item 5).

Pure functions over :class:`~heal_pipeline.model.FixPlan` (no database, no Dagster):

* :func:`priority_key` — the sort key of one plan: severity (critical first), then cost: the
  strongest lock any forward step takes (weaker first), rows rewritten (fewer first; unknown counts
  as "a lot"), then a stable tie-break (issue type, fingerprint).
* :func:`order_plans` — the run order: a topological order over ``depends_on`` (a plan never runs
  before a plan it depends on), choosing among the ready plans by :func:`priority_key`; a plan that
  others depend on inherits the most urgent severity among them (the critical fix's prerequisite is
  as urgent as the fix). Dependencies outside the list are ignored; a cycle is broken at its most
  urgent plan (and reported in :func:`priority_table` as ``cycle``).
* :func:`priority_table` — the order as plain rows for ``fix_plan`` metadata.

Hook (the planner's ordering is the lead's ``plan/__init__.py``): ``plans = order_plans(plans)`` after
``plan_issues``, and ``priority_table(plans)`` as the ``fix_plan`` asset's ``order`` metadata.
"""

from __future__ import annotations

import heapq
from typing import Any

from ..model import FixPlan, FixStep

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
# PostgreSQL's table lock modes, weakest first (docs: "Table-Level Locks")
LOCK_RANK = {"": 0, "NONE": 0, "ACCESS SHARE": 1, "ROW SHARE": 2, "ROW EXCLUSIVE": 3,
             "SHARE UPDATE EXCLUSIVE": 4, "SHARE": 5, "SHARE ROW EXCLUSIVE": 6, "EXCLUSIVE": 7,
             "ACCESS EXCLUSIVE": 8}
UNKNOWN_ROWS = 1 << 62  # rows_rewritten None: not measured — treated as costly


def lock_rank(lock: str | None) -> int:
    """Rank of a step's lock text ("SHARE UPDATE EXCLUSIVE", "ACCESS EXCLUSIVE on t", "none")."""
    text = (lock or "").upper().strip()
    best, best_len = 0, 0
    for name, rank in LOCK_RANK.items():  # the longest matching mode name ("SHARE" ⊂ "SHARE UPDATE …")
        if name and len(name) > best_len and (text == name or text.startswith(name + " ")):
            best, best_len = rank, len(name)
    return best


def strongest_lock(plan: FixPlan) -> str:
    steps: list[FixStep] = list(plan.steps) + list(plan.backup_steps)
    best = max(steps, key=lambda s: lock_rank(s.lock), default=None)
    return best.lock if best is not None and lock_rank(best.lock) else "none"


def severity_of(plan: FixPlan) -> str:
    return (plan.issue or {}).get("severity") or "warning"


def priority_key(plan: FixPlan, severity: str | None = None) -> tuple:
    """Sort key: (severity rank, lock rank, rows rewritten, issue type, fingerprint)."""
    sev = SEVERITY_RANK.get(severity or severity_of(plan), 9)
    rows = plan.rows_rewritten if plan.rows_rewritten is not None else UNKNOWN_ROWS
    return (sev, lock_rank(strongest_lock(plan)), rows, plan.issue_type, plan.fingerprint)


def _effective_severity(plans: list[FixPlan]) -> dict[str, str]:
    """Severity per fingerprint, raised to the most urgent severity of any plan depending on it."""
    by_fp = {p.fingerprint: p for p in plans}
    eff = {p.fingerprint: severity_of(p) for p in plans}
    changed = True
    rounds = 0
    while changed and rounds <= len(plans):
        changed = False
        rounds += 1
        for p in plans:
            for dep in p.depends_on:
                if dep in by_fp and SEVERITY_RANK.get(eff[p.fingerprint], 9) < SEVERITY_RANK.get(eff[dep], 9):
                    eff[dep] = eff[p.fingerprint]
                    changed = True
    return eff


def order_plans(plans: list[FixPlan]) -> list[FixPlan]:
    """The plans in run order (see the module docstring); the input list is not modified."""
    plans = list(plans)
    by_fp = {p.fingerprint: p for p in plans}
    eff = _effective_severity(plans)
    waiting = {p.fingerprint: {d for d in p.depends_on if d in by_fp and d != p.fingerprint} for p in plans}
    dependents: dict[str, list[str]] = {}
    for fp, deps in waiting.items():
        for d in deps:
            dependents.setdefault(d, []).append(fp)
    ready = [(priority_key(by_fp[fp], eff[fp]), fp) for fp, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    out: list[FixPlan] = []
    done: set[str] = set()
    while len(out) < len(plans):
        if not ready:  # a cycle: break it at the most urgent remaining plan
            fp = min((fp for fp in waiting if fp not in done), key=lambda f: priority_key(by_fp[f], eff[f]))
            waiting[fp] = set()
            heapq.heappush(ready, (priority_key(by_fp[fp], eff[fp]), fp))
        _, fp = heapq.heappop(ready)
        if fp in done:
            continue
        done.add(fp)
        out.append(by_fp[fp])
        for nxt in dependents.get(fp, []):
            waiting[nxt].discard(fp)
            if not waiting[nxt] and nxt not in done:
                heapq.heappush(ready, (priority_key(by_fp[nxt], eff[nxt]), nxt))
    return out


def priority_table(plans: list[FixPlan]) -> list[dict[str, Any]]:
    """``order_plans`` as JSON rows: position, fingerprint, type, severity (own/effective), lock, rows."""
    eff = _effective_severity(list(plans))
    ordered = order_plans(plans)
    pos = {p.fingerprint: i for i, p in enumerate(ordered)}
    rows = []
    for i, p in enumerate(ordered):
        deps = [d for d in p.depends_on if d in pos]
        rows.append({"position": i + 1, "fingerprint": p.fingerprint, "issue_type": p.issue_type,
                     "tier": p.tier, "severity": severity_of(p), "effective_severity": eff[p.fingerprint],
                     "lock": strongest_lock(p), "rows_rewritten": p.rows_rewritten, "depends_on": deps,
                     "cycle": any(pos[d] > i for d in deps), "summary": p.summary})
    return rows
