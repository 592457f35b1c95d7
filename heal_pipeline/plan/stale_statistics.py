"""stale_statistics → ``ANALYZE`` the table (tier ``auto``).

ANALYZE reads a sample (``default_statistics_target`` × 300 rows), writes only ``pg_statistic``
and takes SHARE UPDATE EXCLUSIVE (reads and writes go on). It runs outside a transaction block
under lock_timeout; the check after it confirms the table now has fresh statistics. No data
changes, so no backup and no reverse (old statistics cannot and need not be restored).
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import _maintenance_ops  # noqa: F401  (registers the operations)
from .base import PlanContext, blocked_plan, check, new_plan, planner, step


@planner("stale_statistics")
def plan_stale_statistics(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    if not schema or not table:
        return blocked_plan(issue, "issue has no table", tier="auto")
    ev = issue.evidence or {}
    steps = [
        check(f"{schema}.{table} still exists", "relation_exists", {"schema": schema, "name": table}, expect=True),
        step(f"ANALYZE {schema}.{table}", "analyze_table", {"schema": schema, "table": table},
             lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s),
        check(f"{schema}.{table} has fresh statistics", "analyzed_recently",
              {"schema": schema, "table": table, "seconds": 3600}, expect=True),
    ]
    return new_plan(
        issue, "auto", f"ANALYZE {schema}.{table} (statistics {'missing' if ev.get('never_analyzed') else 'stale'})",
        steps=steps, reverse=[], rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup="none needed: ANALYZE changes no data, only the planner's statistics",
        verification="the table was analyzed by this fix (pg_stat last_analyze within the hour)",
        notes=[f"{ev.get('n_mod_since_analyze')} rows modified since the last ANALYZE, "
               f"~{ev.get('rows')} rows"])
