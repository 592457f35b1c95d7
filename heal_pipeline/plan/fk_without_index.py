"""fk_without_index → ``CREATE INDEX CONCURRENTLY`` on the FK columns (tier ``auto``).

* Outside any transaction (``transactional=False``), under ``lock_timeout``; it takes SHARE UPDATE
  EXCLUSIVE on the table (reads and writes continue).
* Name: ``evidence.suggested_index`` (else ``<table>_<cols>_idx``), cut to 63 bytes. A name already
  taken by an INVALID index on the same table with the same key (the leftover of a killed or timed-out
  build, heal's own or anyone's) is dropped ``CONCURRENTLY`` first; any other collision picks the next
  free name (``_1``, ``_2`` …).
* A build that fails on a lock timeout leaves an INVALID index behind: the executor drops it
  (``on_retry``) before trying again.
* Reverse: ``DROP INDEX CONCURRENTLY``.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (PlanContext, blocked_plan, check, checksum_step, free_name, measure_rows, new_plan,
                   planner, step, table_key)


@planner("fk_without_index")
def plan_fk_without_index(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    ev = issue.evidence or {}
    if not schema or not table:
        return blocked_plan(issue, "issue has no table")
    columns = list(ev.get("columns") or [])
    if not columns and issue.object_name:
        for c in snap.constraints_of(schema, table):
            if c.name == issue.object_name and c.kind == "foreign_key":
                columns = list(c.columns)
    if not columns:
        return blocked_plan(issue, "FK columns unknown (no evidence.columns and no such constraint)")
    if snap.table(schema, table) is None:
        return blocked_plan(issue, f"table {schema}.{table} no longer exists", tier="auto")
    existing = {c.name for c in snap.columns_of(schema, table)}
    missing = [c for c in columns if c not in existing]
    if missing:
        return blocked_plan(issue, f"FK columns not in the table: {missing}", tier="auto")

    base = ev.get("suggested_index") or f"{table}_{'_'.join(columns)}_idx"
    taken = ctx.relation_names(schema) | {i.name for i in snap.indexes if i.schema == schema}
    leftover = None
    name = free_name(base, set())
    if name in taken:
        same = [i for i in snap.indexes_of(schema, table)
                if i.name == name and not i.is_valid and list(i.key_columns) == columns]
        if same:
            leftover = same[0]
        else:
            name = free_name(base, taken)

    rows = measure_rows(ctx, schema, table)
    t = ctx.thresholds
    steps = []
    if leftover is not None:
        steps.append(check(f"{name} is still an invalid leftover (or gone)", "index_state",
                           {"schema": schema, "name": name}, expect=["invalid", "absent"]))
        steps.append(step(f"drop the invalid leftover index {name}", "drop_index",
                          {"schema": schema, "name": name}, lock="SHARE UPDATE EXCLUSIVE",
                          transactional=False))
    else:
        steps.append(check(f"index name {name} is free", "index_state", {"schema": schema, "name": name},
                           expect="absent"))
    drop_ours = step(f"drop the invalid index {name} left by the failed attempt", "drop_index",
                     {"schema": schema, "name": name}, lock="SHARE UPDATE EXCLUSIVE", transactional=False)
    steps.append(step(f"build {name} on {schema}.{table} ({', '.join(columns)}) concurrently", "create_index",
                      {"schema": schema, "table": table, "name": name, "columns": columns},
                      lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=t.long_timeout_s,
                      on_retry=[drop_ours]))
    steps.append(check(f"{name} is valid", "index_state", {"schema": schema, "name": name}, expect="valid"))
    build_index = len(steps) - 2
    reverse = [step(f"drop {name}", "drop_index", {"schema": schema, "name": name},
                    lock="SHARE UPDATE EXCLUSIVE", transactional=False, requires=(build_index,))]
    key = table_key(snap, schema, table)
    cols = ([key] if key and key not in columns else []) + columns
    chk = checksum_step("row count and checksum of the indexed columns", [(schema, table)], cols, key=key)
    parent = ev.get("parent") or {}
    return new_plan(
        issue, "auto",
        f"create index {name} concurrently on {schema}.{table} ({', '.join(columns)})",
        steps=steps, reverse=reverse, rows_affected=rows, rows_rewritten=0,
        tables=[f"{schema}.{table}"],
        backup="none needed: building an index does not change data (reverse drops it)",
        verification=(f"{name} exists and is valid; FK {issue.object_name} columns are the leading "
                      "columns of a valid index; rows and checksum of the indexed columns unchanged"),
        checksum_before=chk,
        notes=[f"parent: {parent.get('schema')}.{parent.get('table')}"] if parent else [],
    )
