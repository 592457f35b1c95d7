"""missing_table → ``CREATE TABLE`` (tier ``approval``).

* From the project's migrations when ``evidence.migration.sql`` holds a ``CREATE TABLE``: re-parsed
  with pglast (only a single ``CreateStmt`` is accepted), put in the issue's schema, re-rendered.
* Otherwise inferred from ``evidence.columns`` (unknown types become ``text``); the plan is flagged
  ``inferred`` and says so in its summary.
* The schema must exist (heal does not create application schemas).
* Reverse: back the table up, then drop it — only while it is still empty (a check step refuses
  otherwise); never ``CASCADE``.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import ops
from .base import (BACKUP_SCHEMA, PlanContext, backup_name, blocked_plan, check, new_plan, planner, step)

DROP_EMPTY_ALLOW = ("ban-drop-table",)  # reverse only, after an emptiness check and a backup


@planner("missing_table")
def plan_missing_table(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name or "public", issue.table_name
    ev = issue.evidence or {}
    if not table:
        return blocked_plan(issue, "issue has no table name", tier="approval")
    if snap.table(schema, table) is not None:
        return blocked_plan(issue, f"{schema}.{table} exists now", tier="approval")
    if not ctx.schema_exists(schema):
        return blocked_plan(issue, f"schema {schema} does not exist (heal does not create application schemas)",
                            tier="approval")
    mig = ev.get("migration") or None
    notes: list[str] = []
    inferred = False
    if mig and mig.get("refused"):  # PostgreSQL refused this definition (42804): running it fails again
        r = mig["refused"][0]
        return blocked_plan(issue, f"{mig.get('file')}:{mig.get('line')} declares a foreign key PostgreSQL "
                            f"refuses (42804: {r.get('column')} {r.get('type')} references {r.get('references')} "
                            f"{r.get('referenced_type')}); fix the definition first", tier="approval")
    where = "code" if mig and mig.get("source") == "code" else "migration"
    if mig and mig.get("sql"):
        try:
            ops.checked_create_table(mig["sql"], schema)
        except ops.UnsafeInput as exc:
            return blocked_plan(issue, f"{where} {mig.get('file')}:{mig.get('line')}: {exc}", tier="approval")
        create = step(f"create {schema}.{table} as defined in {mig.get('file')}:{mig.get('line')}",
                      "create_table_from_definition", {"definition": mig["sql"], "schema": schema},
                      lock="none (new table; SHARE ROW EXCLUSIVE on referenced tables)", group="create")
        source = f"{where} {mig.get('file')}:{mig.get('line')}"
    else:
        cols = []
        for c in ev.get("columns") or []:
            name = c.get("name") if isinstance(c, dict) else str(c)
            typ = (c.get("type") if isinstance(c, dict) else None) or "text"
            if not name or name in [x[0] for x in cols]:
                continue
            try:
                typ = ops.canonical_type(typ)
            except ops.UnsafeInput:
                notes.append(f"column {name}: type {typ!r} not understood, using text")
                typ = "text"
            cols.append([name, typ])
        if not cols:
            return blocked_plan(issue, "no migration defines it and no columns could be inferred from the code",
                                tier="manual")
        inferred = True
        create = step(f"create {schema}.{table} with a definition INFERRED from code usage", "create_table",
                      {"schema": schema, "table": table, "columns": cols}, lock="none (new table)", group="create")
        source = "INFERRED from code usage (no migration defines it) — review the column types"
        notes.append("inferred definition: columns " + ", ".join(f"{n} {t}" for n, t in cols))
    bname = backup_name(table, issue.fingerprint, ctx)
    steps = [check(f"{schema}.{table} does not exist yet", "relation_exists", {"schema": schema, "name": table},
                   False),
             create,
             check(f"{schema}.{table} exists", "relation_exists", {"schema": schema, "name": table}, True)]
    reverse = [check(f"{schema}.{table} is still empty", "count_rows", {"schema": schema, "table": table}, 0),
               step("create the backup schema", "create_schema", {"schema": BACKUP_SCHEMA}, lock="none",
                    kind="backup"),
               step(f"back up {schema}.{table} before dropping it", "backup_table",
                    dict(schema=schema, table=table, backup_schema=BACKUP_SCHEMA, backup_table=bname),
                    lock="ACCESS SHARE", kind="backup"),
               step(f"lock {schema}.{table} against writes until it is dropped", "lock_exclusive",
                    {"schema": schema, "table": table}, lock="ACCESS EXCLUSIVE", group="drop"),
               step(f"re-check under the lock that {schema}.{table} is still empty", "refuse_if_rows",
                    {"schema": schema, "table": table}, lock="ACCESS EXCLUSIVE", group="drop", kind="dml"),
               step(f"drop {schema}.{table} (created by heal, still empty)", "drop_table",
                    {"schema": schema, "table": table}, lock="ACCESS EXCLUSIVE", group="drop",
                    lint_allow=DROP_EMPTY_ALLOW)]
    for r in reverse:
        r.requires = (1,)
    return new_plan(
        issue, "approval",
        f"create missing table {schema}.{table} from {source}",
        steps=steps, reverse=reverse, rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup="none needed before: the table does not exist (rollback backs it up before dropping it)",
        verification=f"{schema}.{table} exists; the missing_table issue is no longer detected",
        inferred=inferred, notes=notes)
