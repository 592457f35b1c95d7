"""duplicate_index → ``DROP INDEX CONCURRENTLY`` the redundant index (tier ``approval``).

Applied only while the covering index still exists and is valid (a check step at apply time).
Reverse: re-create it concurrently from the saved definition.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from ._drop_index import plan_drop_index
from .base import PlanContext, blocked_plan, check, planner


@planner("duplicate_index")
def plan_duplicate_index(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    ev = issue.evidence or {}
    cover = ev.get("covered_by")
    if not cover or not issue.schema_name:
        return blocked_plan(issue, "covering index unknown (evidence.covered_by)", tier="approval")
    covering = next((i for i in snap.indexes_of(issue.schema_name, issue.table_name or "") if i.name == cover), None)
    if covering is None or not covering.is_valid:
        return blocked_plan(issue, f"covering index {cover} is missing or invalid", tier="approval")
    return plan_drop_index(issue, snap, ctx, why=f"{ev.get('kind') or 'redundant'}: covered by {cover}",
                           extra_checks=[check(f"covering index {cover} is valid", "index_state",
                                               {"schema": issue.schema_name, "name": cover}, "valid")])
