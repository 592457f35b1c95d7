"""xid_wraparound → ``VACUUM (FREEZE)`` the table (tier ``approval``), critical.

VACUUM FREEZE rewrites the tuple headers of every page not yet all-frozen (I/O heavy on a large
table) under SHARE UPDATE EXCLUSIVE; it runs outside a transaction block. It cannot advance
``relfrozenxid`` past what holds the xmin horizon back (a long transaction, a replication slot, a
prepared transaction): the notes list those to check first, and the check after the VACUUM
verifies the age actually dropped below the threshold. A database-level finding (system catalogs)
is advice only (``vacuumdb --freeze``; tier ``manual``).
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import _maintenance_ops  # noqa: F401  (registers the operations)
from .base import PlanContext, check, new_plan, planner, step

HORIZON = ("before freezing, look for what holds the xmin horizon back: "
           "pg_stat_activity (backend_xmin, state 'idle in transaction'), pg_replication_slots (xmin, "
           "catalog_xmin), pg_prepared_xacts — VACUUM cannot freeze past them")


@planner("xid_wraparound")
def plan_xid_wraparound(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    ev = issue.evidence or {}
    if not table:
        return new_plan(issue, "manual", f"freeze database {issue.object_name}: vacuumdb --freeze (manual)",
                        notes=[HORIZON, "run `vacuumdb --freeze --jobs=N` against the database"],
                        rows_rewritten=0, verification="age(datfrozenxid) drops")
    age = max(int(ev.get("xid_age") or 0), int(ev.get("mxid_age") or 0))
    steps = [
        check(f"{schema}.{table} still exists", "relation_exists", {"schema": schema, "name": table}, expect=True),
        step(f"VACUUM (FREEZE, ANALYZE) {schema}.{table}", "vacuum_table",
             {"schema": schema, "table": table, "options": ["freeze", "analyze"]},
             lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s),
        check(f"age(relfrozenxid) of {schema}.{table} dropped", "xid_age_below",
              {"schema": schema, "table": table, "limit": max(age // 2, 1_000_000)}, expect=True),
    ]
    return new_plan(issue, "approval", f"VACUUM (FREEZE) {schema}.{table} (xid age {age:,})",
                    steps=steps, reverse=[], rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
                    backup="none needed: freezing changes tuple headers, not data",
                    verification="age(relfrozenxid) below half its age before the fix", notes=[HORIZON])
