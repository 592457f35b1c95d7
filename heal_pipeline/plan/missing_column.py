"""missing_column → ``ALTER TABLE … ADD COLUMN`` nullable, without default (tier ``approval``).

Metadata-only on PostgreSQL 11+ (no rewrite; a brief ACCESS EXCLUSIVE under ``lock_timeout``).
The type comes from the migration that defines the column (``ALTER TABLE … ADD COLUMN`` or
``CREATE TABLE``, re-parsed with pglast; constraints and defaults there are *not* copied — they are
listed in the notes), else ``evidence.inferred_type``, else ``text`` (flagged inferred).
Reverse: back the column up, then drop it — only while every value is still NULL.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import ops
from .base import (BACKUP_SCHEMA, PlanContext, backup_name, blocked_plan, check, checksum_step, new_plan,
                   planner, step, table_key, verify_step)

DROP_UNUSED_ALLOW = ("ban-drop-column",)  # reverse only, after an all-NULL check and a backup


def column_from_migration(text: str, table: str, column: str) -> tuple[str | None, list[str]]:
    """(type, dropped clauses) of ``column`` in an ALTER TABLE ADD COLUMN / CREATE TABLE."""
    from pglast import ast, parse_sql
    from pglast.stream import RawStream

    try:
        stmts = parse_sql(text)
    except Exception:  # noqa: BLE001
        return None, []
    for raw in stmts:
        s = raw.stmt
        defs = []
        if isinstance(s, ast.AlterTableStmt) and s.relation.relname == table:
            defs = [c.def_ for c in s.cmds or () if isinstance(c.def_, ast.ColumnDef)]
        elif isinstance(s, ast.CreateStmt) and s.relation.relname == table:
            defs = [e for e in s.tableElts or () if isinstance(e, ast.ColumnDef)]
        for d in defs:
            if d.colname == column and d.typeName is not None:
                dropped = [RawStream()(c) for c in d.constraints or ()]
                return RawStream()(d.typeName), dropped
    return None, []


@planner("missing_column")
def plan_missing_column(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table, column = issue.schema_name or "public", issue.table_name, issue.column_name
    ev = issue.evidence or {}
    if not (table and column):
        return blocked_plan(issue, "issue has no table/column", tier="approval")
    if snap.table(schema, table) is None:
        return blocked_plan(issue, f"table {schema}.{table} does not exist", tier="approval")
    if snap.column(schema, table, column) is not None:
        return blocked_plan(issue, f"{schema}.{table}.{column} exists now", tier="approval")
    notes: list[str] = []
    typ, inferred, source = None, False, ""
    mig = ev.get("migration") or None
    if mig and mig.get("sql"):
        typ, dropped = column_from_migration(mig["sql"], table, column)
        if typ:
            source = f"migration {mig.get('file')}:{mig.get('line')}"
            if dropped:
                notes.append("not copied from the migration (add them separately, lock-safely): "
                             + "; ".join(dropped))
    if not typ:
        typ = ev.get("inferred_type") or "text"
        inferred = True
        source = "INFERRED from code usage" if ev.get("inferred_type") else "no type known: text"
    try:
        typ = ops.canonical_type(typ)
    except ops.UnsafeInput as exc:
        return blocked_plan(issue, str(exc), tier="approval")
    base = {"schema": schema, "table": table, "column": column}
    steps = [check(f"{column} does not exist yet", "column_exists", base, False),
             step(f"add {schema}.{table}.{column} {typ} (nullable, no default: metadata only)", "add_column",
                  dict(base, type=typ), lock="ACCESS EXCLUSIVE (brief)", group="add"),
             verify_step(schema, table, "add"),
             check(f"{column} is {typ}", "column_has_type",
                   dict(base, type=typ, server_version_num=snap.server_version_num), True)]
    bname = backup_name(table, issue.fingerprint, ctx)
    key = table_key(snap, schema, table)
    reverse = [check(f"{column} is still unused (all NULL)", "count_not_null", base, 0),
               step("create the backup schema", "create_schema", {"schema": BACKUP_SCHEMA}, lock="none",
                    kind="backup"),
               step(f"back up {column} before dropping it", "backup_table",
                    dict(schema=schema, table=table, backup_schema=BACKUP_SCHEMA, backup_table=bname,
                         columns=[key, column] if key else [column]), lock="ACCESS SHARE", kind="backup"),
               step(f"lock {schema}.{table} against writes until {column} is dropped", "lock_exclusive",
                    {"schema": schema, "table": table}, lock="ACCESS EXCLUSIVE (brief)", group="drop"),
               step(f"re-check under the lock that {column} is still all NULL", "refuse_if_rows", base,
                    lock="ACCESS EXCLUSIVE (brief)", group="drop", kind="dml"),
               step(f"drop {column} (added by heal, still all NULL)", "drop_column", base,
                    lock="ACCESS EXCLUSIVE (brief)", group="drop", lint_allow=DROP_UNUSED_ALLOW)]
    for r in reverse:
        r.requires = (1,)
    existing = [c.name for c in snap.columns_of(schema, table)]
    chk = checksum_step(f"rows and checksum of {schema}.{table}", [(schema, table)], existing, key=key)
    return new_plan(
        issue, "approval", f"add missing column {schema}.{table}.{column} {typ} ({source})",
        steps=steps, reverse=reverse, rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup="none needed before: adding a nullable column without default changes no data",
        verification=f"{column} exists with type {typ}; existing rows unchanged (checksum)",
        checksum_before=chk, inferred=inferred, notes=notes)
