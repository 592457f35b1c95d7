"""unused_index → ``DROP INDEX CONCURRENTLY`` (tier ``approval``); reverse re-creates it concurrently."""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from ._drop_index import plan_drop_index
from .base import PlanContext, planner


@planner("unused_index")
def plan_unused_index(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    scans = (issue.evidence or {}).get("idx_scan")
    return plan_drop_index(issue, snap, ctx, why=f"unused: {scans if scans is not None else 0} scans")
