"""invalid_index → ``REINDEX INDEX CONCURRENTLY`` (tier ``auto`` when not unique, else ``approval``).

An INVALID index is the leftover of a failed ``CREATE INDEX CONCURRENTLY``: it is maintained on
every write but never used. For a unique index the data is prechecked for duplicate keys (the rebuild
would fail on them) and refused with a count if any. A failed rebuild leaves a ``<name>_ccnew``
index behind; the executor drops it before retrying.

Reverse: none. The previous state was a broken index; making it broken again serves nobody, so
rollback of this fix is a recorded no-op (the rebuilt index stays). Documented exception to
"rollback restores the exact schema".
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (PlanContext, blocked_plan, check, checksum_step, fit_name, measure_rows, new_plan,
                   planner, step, table_key)


@planner("invalid_index")
def plan_invalid_index(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table, name = issue.schema_name, issue.table_name, issue.object_name
    if not (schema and table and name):
        return blocked_plan(issue, "issue has no index", tier="approval")
    idx = next((i for i in snap.indexes_of(schema, table) if i.name == name), None)
    if idx is None:
        return blocked_plan(issue, f"index {schema}.{name} no longer exists", tier="approval")
    if idx.is_valid:
        return blocked_plan(issue, f"{name} is valid now", tier="approval")
    cols = [c for c in idx.key_columns if c]
    tier = "approval" if idx.is_unique else "auto"
    steps = []
    if idx.is_unique:
        if idx.expressions or idx.predicate or not cols:
            return blocked_plan(issue, f"unique {name} has expressions/predicate: precheck by hand", tier="manual")
        dups = int(ctx.scalar("count_duplicates", {"schema": schema, "table": table, "columns": cols}))
        if dups:
            return blocked_plan(issue, f"{dups} duplicate key(s) in {schema}.{table} ({', '.join(cols)}): the "
                                       "unique index cannot be rebuilt until they are resolved", tier="manual",
                                summary=f"refused: {dups} duplicate key(s) block rebuilding {name}")
        steps.append(check("no duplicate keys", "count_duplicates",
                           {"schema": schema, "table": table, "columns": cols}, 0))
    rows = measure_rows(ctx, schema, table)
    ccnew = fit_name(name, "_ccnew")
    steps += [
        check(f"{name} is still invalid", "index_state", {"schema": schema, "name": name}, "invalid"),
        step(f"rebuild {schema}.{name} concurrently", "reindex_index", {"schema": schema, "name": name},
             lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s,
             on_retry=[step(f"drop the {ccnew} leftover of the failed rebuild", "drop_index",
                            {"schema": schema, "name": ccnew}, lock="SHARE UPDATE EXCLUSIVE",
                            transactional=False)]),
        check(f"{name} is valid", "index_state", {"schema": schema, "name": name}, "valid")]
    key = table_key(snap, schema, table)
    ccols = ([key] if key and key not in cols else []) + cols
    return new_plan(
        issue, tier, f"rebuild invalid index {schema}.{name} with REINDEX CONCURRENTLY",
        steps=steps, reverse=[], rows_affected=rows, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup=f"none needed (definition: {idx.definition})",
        checksum_before=checksum_step("rows and checksum of the indexed columns", [(schema, table)], ccols,
                                      key=key) if ccols else None,
        verification=f"{name} is valid", notes=["rollback is a no-op: the previous state was a broken index"])
