"""Shared by duplicate_index and unused_index: ``DROP INDEX CONCURRENTLY`` with the definition saved.

Reverse: ``CREATE INDEX CONCURRENTLY`` from the saved ``pg_get_indexdef`` text (re-parsed with pglast;
only a single ``CREATE INDEX`` is accepted), then a validity check.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (PlanContext, blocked_plan, check, checksum_step, new_plan, step, table_key)
from . import ops


def plan_drop_index(issue: Issue, snap: Snapshot, ctx: PlanContext, *, why: str,
                    extra_checks: list | None = None) -> FixPlan:
    schema, table, name = issue.schema_name, issue.table_name, issue.object_name
    if not (schema and table and name):
        return blocked_plan(issue, "issue has no index", tier="approval")
    idx = next((i for i in snap.indexes_of(schema, table) if i.name == name), None)
    if idx is None:
        return blocked_plan(issue, f"index {schema}.{name} no longer exists", tier="approval")
    if idx.is_primary or idx.constraint_name:
        return blocked_plan(issue, f"{name} backs constraint {idx.constraint_name}: not dropped", tier="manual")
    definition = idx.definition or (issue.evidence or {}).get("definition")
    try:
        ops.checked_index_definition(definition)
    except ops.UnsafeInput as exc:
        return blocked_plan(issue, f"saved definition unusable: {exc}", tier="manual")
    steps = list(extra_checks or []) + [
        check(f"{name} still exists", "index_state", {"schema": schema, "name": name}, ["valid", "invalid"]),
        step(f"drop {schema}.{name} concurrently ({why})", "drop_index", {"schema": schema, "name": name},
             lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s),
        check(f"{name} is gone", "index_state", {"schema": schema, "name": name}, "absent")]
    drop_at = len(steps) - 2
    t = ctx.thresholds
    reverse = [
        check(f"index name {name} is free", "index_state", {"schema": schema, "name": name}, "absent"),
        step(f"re-create {name} concurrently from the saved definition", "create_index_from_definition",
             {"definition": definition}, lock="SHARE UPDATE EXCLUSIVE", transactional=False,
             timeout_s=t.long_timeout_s,
             on_retry=[step(f"drop the invalid {name} left by the failed attempt", "drop_index",
                            {"schema": schema, "name": name}, lock="SHARE UPDATE EXCLUSIVE",
                            transactional=False)]),
        check(f"{name} is valid", "index_state", {"schema": schema, "name": name}, "valid")]
    for r in reverse:
        r.requires = (drop_at,)
    cols = [c for c in idx.key_columns if c]
    key = table_key(snap, schema, table)
    cols = ([key] if key and key not in cols else []) + cols
    return new_plan(
        issue, "approval", f"drop index {schema}.{name} concurrently ({why})",
        steps=steps, reverse=reverse, rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup=f"the definition is kept for the reverse step: {definition}",
        checksum_before=checksum_step("rows and checksum of the indexed columns", [(schema, table)], cols,
                                      key=key) if cols else None,
        verification=f"{name} is gone; table rows unchanged", notes=[f"size: {idx.size_bytes} bytes"])
