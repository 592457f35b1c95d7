"""no_primary_key → ``CREATE UNIQUE INDEX CONCURRENTLY`` + ``ADD PRIMARY KEY USING INDEX`` (``approval``).

Only with ``evidence.candidate_key`` (NOT NULL columns of an existing unique index/constraint): the
unique index is built concurrently (SHARE UPDATE EXCLUSIVE), then attached as the primary key in a
brief transaction (no scan: the columns are NOT NULL, checked again at apply time). Without a
candidate key the plan is ``manual`` with a suggestion. Reverse: drop the constraint (its index goes
with it), which is exactly the previous schema.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (PlanContext, blocked_plan, check, checksum_step, free_name, measure_rows, new_plan,
                   planner, step, verify_step)

PK_DROP_ALLOW = ("ban-drop-constraint",)  # reverse only: the constraint heal added


@planner("no_primary_key")
def plan_no_primary_key(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    if not (schema and table):
        return blocked_plan(issue, "issue has no table")
    if snap.table(schema, table) is None:
        return blocked_plan(issue, f"{schema}.{table} no longer exists")
    if any(c.kind == "primary_key" for c in snap.constraints_of(schema, table)):
        return blocked_plan(issue, f"{schema}.{table} has a primary key now", tier="approval")
    cand = list((issue.evidence or {}).get("candidate_key") or [])
    cols = {c.name: c for c in snap.columns_of(schema, table)}
    if not cand or any(c not in cols or not cols[c].not_null for c in cand):
        return blocked_plan(
            issue, "no NOT NULL unique candidate key", tier="manual",
            summary=f"manual: {schema}.{table} has no candidate key",
            notes=["suggestion: add a key column without a rewrite — ADD COLUMN id bigint (nullable), "
                   "backfill in batches from a sequence, CHECK (id IS NOT NULL) NOT VALID + VALIDATE, "
                   "SET NOT NULL, CREATE UNIQUE INDEX CONCURRENTLY, ADD PRIMARY KEY USING INDEX"])
    name = free_name(f"{table}_pkey", ctx.relation_names(schema) | ctx.constraint_names(schema, table))
    rows = measure_rows(ctx, schema, table)
    tb = {"schema": schema, "table": table}
    drop_ours = step(f"drop the invalid {name} left by the failed attempt", "drop_index",
                     {"schema": schema, "name": name}, lock="SHARE UPDATE EXCLUSIVE", transactional=False)
    steps = [
        check(f"index name {name} is free", "index_state", {"schema": schema, "name": name}, "absent"),
        check("no duplicate keys", "count_duplicates", dict(tb, columns=cand), 0),
        check("no NULL keys", "count_nulls", dict(tb, columns=cand), 0),
        step(f"build unique index {name} ({', '.join(cand)}) concurrently", "create_index",
             dict(tb, name=name, columns=cand, unique=True), lock="SHARE UPDATE EXCLUSIVE", transactional=False,
             timeout_s=ctx.thresholds.long_timeout_s, on_retry=[drop_ours]),
        check(f"{name} is valid", "index_state", {"schema": schema, "name": name}, "valid"),
        step(f"attach {name} as the primary key", "add_primary_key_using_index",
             dict(tb, constraint=name, index=name), lock="ACCESS EXCLUSIVE (brief)", group="pk"),
        verify_step(schema, table, "pk"),
    ]
    reverse = [step(f"drop primary key {name} (heal added it)", "drop_constraint", dict(tb, constraint=name),
                    lock="ACCESS EXCLUSIVE (brief)", group="drop_pk", requires=(5,), lint_allow=PK_DROP_ALLOW,
                    unless=()),
               step(f"drop the unattached index {name}", "drop_index", {"schema": schema, "name": name},
                    lock="SHARE UPDATE EXCLUSIVE", transactional=False, requires=(3,), unless=(5,))]
    return new_plan(
        issue, "approval", f"add primary key ({', '.join(cand)}) to {schema}.{table} via a concurrent unique index",
        steps=steps, reverse=reverse, rows_affected=rows, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup="none needed: no data changes (reverse drops the constraint and its index)",
        checksum_before=checksum_step("rows and checksum of the key", [(schema, table)], cand),
        verification=f"{schema}.{table} has primary key {name}")
