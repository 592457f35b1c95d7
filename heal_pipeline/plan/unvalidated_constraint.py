"""unvalidated_constraint → orphan check, then ``VALIDATE CONSTRAINT`` (tier ``auto``).

* Foreign key on one column: precheck ``count_orphans = 0`` (at plan time and again at apply time)
  — a violating row blocks the plan (the data is an ``orphaned_rows`` fix first). Multi-column keys
  and CHECK / NOT NULL constraints have no separate precheck: VALIDATE itself checks every row and
  fails without changing anything.
* ``ALTER TABLE … VALIDATE CONSTRAINT`` takes SHARE UPDATE EXCLUSIVE (reads and writes go on; the
  referenced table gets ROW SHARE), in its own short transaction under lock_timeout, with the long
  statement timeout (it scans the table).
* No reverse is needed (only ``pg_constraint.convalidated`` changes); rollback is a no-op.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import _maintenance_ops  # noqa: F401  (registers the operations)
from .base import CannotPlan, MeasureTimeout, PlanContext, blocked_plan, check, new_plan, planner, step


@planner("unvalidated_constraint")
def plan_unvalidated_constraint(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table, name = issue.schema_name, issue.table_name, issue.object_name
    if not (schema and table and name):
        return blocked_plan(issue, "issue has no constraint", tier="auto")
    con = next((c for c in snap.constraints_of(schema, table) if c.name == name), None)
    if con is None:
        return blocked_plan(issue, f"constraint {name} no longer exists on {schema}.{table}", tier="auto")
    if con.validated:
        return blocked_plan(issue, f"constraint {name} is already validated", tier="auto")
    steps = [check(f"constraint {name} still exists", "constraint_exists",
                   {"schema": schema, "table": table, "constraint": name}, expect=True)]
    notes: list[str] = []
    orphans = None
    if con.kind == "foreign_key" and len(con.columns) == 1 and len(con.ref_columns) == 1:
        args = {"schema": schema, "table": table, "column": con.columns[0], "ref_schema": con.ref_schema,
                "ref_table": con.ref_table, "ref_column": con.ref_columns[0]}
        steps.append(check(f"no orphaned {con.columns[0]} values", "count_orphans", args, expect=0))
        try:
            orphans = int(ctx.scalar("count_orphans", args)) if ctx.conn is not None else None
        except MeasureTimeout:
            notes.append("orphan count timed out at plan time: it runs again before VALIDATE")
        if orphans:
            raise CannotPlan(f"{orphans} row(s) violate {name}: fix the orphaned rows first (orphaned_rows)")
    else:
        notes.append("VALIDATE itself checks every row and fails without changing anything on a violation")
    steps.append(step(f"VALIDATE CONSTRAINT {name} on {schema}.{table}", "validate_constraint",
                      {"schema": schema, "table": table, "constraint": name}, lock="SHARE UPDATE EXCLUSIVE",
                      timeout_s=ctx.thresholds.long_timeout_s, group="validate"))
    steps.append(check(f"{name} is validated", "constraint_validated",
                       {"schema": schema, "table": table, "constraint": name}, expect=True))
    return new_plan(issue, "auto", f"validate {con.kind.replace('_', ' ')} {name} on {schema}.{table}",
                    steps=steps, reverse=[], rows_affected=orphans, rows_rewritten=0,
                    tables=[f"{schema}.{table}"] + ([f"{con.ref_schema}.{con.ref_table}"] if con.ref_table else []),
                    backup="none needed: VALIDATE changes no data",
                    verification=f"pg_constraint.convalidated is true for {name}", notes=notes)
