"""type_mismatch → change the child column to the parent key's type (tier ``approval``).

Precheck (plan time, and again at apply time): count the child values that would not convert —
``pg_input_is_valid(col::text, '<type>')`` on PostgreSQL 16+ (no PL/pgSQL, no exceptions), a bounded
regular expression per target type before that — and refuse with a sample if any. Also refused:
views/rules depending on the column (ALTER TYPE fails on them).

* **Small tables** (≤ ``small_table_rows`` rows, measured; default 100k): one transaction under
  ``lock_timeout``: ``ALTER TABLE … ALTER COLUMN … TYPE t USING col::t``. squawk's
  ``changing-column-type`` is an explicit, documented exception on this path only (``lint_allow``):
  the rewrite of a small table is short and the ACCESS EXCLUSIVE wait is bounded by lock_timeout
  with retries.
* **Large tables**: expand/contract — add ``<col>_heal_new``, a BEFORE INSERT OR UPDATE trigger that
  keeps it in sync, a keyset-batched backfill (each batch its own short transaction), a full
  comparison (``count_unsynced = 0``), dependent indexes rebuilt ``CONCURRENTLY`` on the new column,
  NOT NULL carried over through a validated ``CHECK … NOT VALID`` (so ``SET NOT NULL`` does not scan),
  then one short swap transaction (renames, drop of the old column — its values are in the backup
  and equal to the new column's — index renames, FK re-added ``NOT VALID``) and ``VALIDATE`` after.
  Needs a single-column key; columns with a default, identity, generation, or in a PK/unique/check
  constraint are left to a human (tier ``manual``).
* Backup (outside the fix transaction): ``heal_backup.<table>_<fp>_<time>`` = (key, column).
* Reverse: the inverse type change by the same path, then the original text of values whose text
  would not survive the round trip (``' 5'`` → 5 → ``'5'``) restored from the backup by key.
"""

from __future__ import annotations

from ..model import FixPlan, FixStep, Issue, Snapshot
from . import ops
from .base import (BACKUP_SCHEMA, FUNCTION_SCHEMA, CannotPlan, MeasureTimeout, PlanContext, backup_name,
                   blocked_plan, check, checksum_step, fit_name, fp_short, free_name, measure_rows,
                   new_plan, planner, step, table_key)

ALTER_TYPE_ALLOW = ("changing-column-type",)  # small-table path only: see the module docstring
SWAP_ALLOW = ("renaming-column", "ban-drop-column", "renaming-object", "adding-not-nullable-field",
              "ban-drop-function",
              "ban-drop-constraint")


@planner("type_mismatch")
def plan_type_mismatch(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table, column = issue.schema_name, issue.table_name, issue.column_name
    ev = issue.evidence or {}
    parent = ev.get("parent") or {}
    if not (schema and table and column):
        return blocked_plan(issue, "issue has no child column")
    col = snap.column(schema, table, column)
    if col is None:
        return blocked_plan(issue, f"column {schema}.{table}.{column} no longer exists", tier="approval")
    target = parent.get("data_type")
    if not target and parent.get("table"):
        pc = snap.column(parent.get("schema") or schema, parent["table"], parent.get("column") or "id")
        target = pc.data_type if pc else None
    if not target:
        return blocked_plan(issue, "parent type unknown (evidence.parent.data_type)", tier="approval")
    try:
        target = ops.canonical_type(target)
        original = ops.canonical_type(col.data_type)
    except ops.UnsafeInput as exc:
        return blocked_plan(issue, str(exc), tier="approval")
    if original == target:
        return blocked_plan(issue, f"{schema}.{table}.{column} already has type {target}", tier="approval")

    t = ctx.thresholds
    base = {"schema": schema, "table": table, "column": column}
    notes: list[str] = []
    # ---- prechecks, measured -----------------------------------------------------------
    conv_args = dict(base, type=target, server_version_num=snap.server_version_num)
    try:
        bad = int(ctx.scalar("count_not_convertible", conv_args))
    except ops.UnsafeInput as exc:
        return blocked_plan(issue, str(exc), tier="approval")
    except MeasureTimeout as exc:
        return blocked_plan(issue, f"precheck {exc}", tier="approval")
    if bad:
        sample = [r[0] for r in ctx.rows("sample_not_convertible", conv_args)]
        return blocked_plan(
            issue, f"{bad} value(s) of {schema}.{table}.{column} do not convert to {target}: {sample}",
            tier="approval", summary=f"refused: {bad} value(s) would not convert to {target}",
            notes=[f"sample: {sample}", "fix or quarantine those rows first"])
    dependents = ctx.column_dependents(schema, table, column)
    if dependents:
        return blocked_plan(issue, f"views depend on {schema}.{table}.{column}: {dependents}", tier="approval")
    rows = measure_rows(ctx, schema, table)
    if rows is None:
        return blocked_plan(issue, f"cannot count the rows of {schema}.{table} within the time limit",
                            tier="approval")
    key = table_key(snap, schema, table)
    if key == column:
        key = None  # the key is the column being changed: nothing stable to restore by
    noncanonical = int(ctx.scalar("count_noncanonical", dict(base, type=target)))
    if noncanonical and key is None:
        return blocked_plan(issue, f"{noncanonical} value(s) would change text on conversion and the table "
                                   "has no single-column key to restore them by", tier="manual")
    precheck = check(f"every value of {column} converts to {target}", "count_not_convertible", conv_args, 0)

    # ---- backup ----------------------------------------------------------------------
    bname = backup_name(table, issue.fingerprint, ctx)
    backup_steps: list[FixStep] = []
    backup_ref = None
    if rows <= t.backup_max_rows:
        backup_steps = [
            step("create the backup schema", "create_schema", {"schema": BACKUP_SCHEMA}, lock="none"),
            step(f"back up ({key or '-'}, {column}) of {schema}.{table}", "backup_table",
                 dict(schema=schema, table=table, backup_schema=BACKUP_SCHEMA, backup_table=bname,
                      columns=[key, column] if key else [column]), lock="ACCESS SHARE", kind="backup",
                 timeout_s=t.long_timeout_s)]
        backup_ref = f"{BACKUP_SCHEMA}.{bname}"
        backup_text = f"CREATE TABLE {backup_ref} AS SELECT key and {column} (outside the fix transaction)"
    else:
        # no restorable copy → never automatic: a human takes `pg_dump -t` and runs the change by hand
        return blocked_plan(issue, f"table too large for a backup table ({rows} rows > backup_max_rows "
                                   f"{t.backup_max_rows}): take `pg_dump -t '{schema}.{table}'` and change "
                                   "the type by hand", tier="manual")

    cols = [key, column] if key else [column]
    chk_before = checksum_step(f"rows and checksum of {column} rendered as {target}",
                               [(schema, table)], cols, casts={column: target}, key=key)
    chk_after = checksum_step(f"rows and checksum of {column} after the change", [(schema, table)], cols,
                              key=key)
    restore = []
    if key and backup_ref:
        restore = [step("restore the original text of values that did not round-trip", "restore_column_from_backup",
                        dict(schema=schema, table=table, key=key, column=column, backup_schema=BACKUP_SCHEMA,
                             backup_table=bname), lock="ROW EXCLUSIVE", kind="dml", group="restore",
                        timeout_s=t.long_timeout_s)]

    fk_cons = [c for c in snap.constraints_of(schema, table) if c.kind == "foreign_key" and column in c.columns]
    common = dict(
        tables=[f"{schema}.{table}"], rows_affected=rows, rows_rewritten=rows, backup_steps=backup_steps,
        backup_ref=backup_ref, backup=backup_text, checksum_before=chk_before, checksum_after=chk_after,
        checksum_original=checksum_step("rows and checksum of the original values", [(schema, table)], cols,
                                        key=key),
        verification=(f"{schema}.{table}.{column} has type {target}; rows and checksum of ({', '.join(cols)}) "
                      f"equal to the pre-fix values rendered as {target}; the mismatch is no longer detected"),
        notes=notes + [f"measured: {rows} rows, {noncanonical} value(s) change text on conversion"])

    if rows <= t.small_table_rows:
        steps = [precheck,
                 step(f"ALTER {schema}.{table}.{column} TYPE {target} (small table: {rows} rows)",
                      "alter_column_type", dict(base, type=target), lock="ACCESS EXCLUSIVE", group="alter",
                      lint_allow=ALTER_TYPE_ALLOW),
                 check(f"{column} is now {target}", "column_has_type",
                       dict(base, type=target, server_version_num=snap.server_version_num), True)]
        reverse = [step(f"ALTER {schema}.{table}.{column} back to {original}", "alter_column_type",
                        dict(base, type=original), lock="ACCESS EXCLUSIVE", group="restore",
                        lint_allow=ALTER_TYPE_ALLOW, requires=(1,))]
        for r in restore:
            r.requires = (1,)
        return new_plan(issue, "approval",
                        f"change {schema}.{table}.{column} from {original} to {target} in one transaction "
                        f"({rows} rows ≤ {t.small_table_rows})",
                        steps=steps, reverse=reverse + restore, **common)

    # ---- large table: expand/contract ---------------------------------------------------
    try:
        steps, reverse_cleanup, swap_index = expand_contract(issue, snap, ctx, schema, table, column,
                                                             original, target, key, fk_cons, noncanonical)
        inverse, _c, _s = expand_contract(issue, snap, ctx, schema, table, column, target, original, key,
                                          fk_cons, 0, suffix="_heal_back", reverse=True)
    except CannotPlan as exc:
        return blocked_plan(issue, f"large table ({rows} rows): {exc}", tier="manual",
                            notes=["expand/contract is not possible automatically; change it in a "
                                   "maintenance window or by hand"])
    steps.insert(0, precheck)
    swap_index += 1
    for r in reverse_cleanup:
        r.requires, r.unless = (2,), (swap_index,)
    for r in inverse + restore:
        r.requires = (swap_index,)
    return new_plan(issue, "approval",
                    f"change {schema}.{table}.{column} from {original} to {target} by expand/contract "
                    f"({rows} rows > {t.small_table_rows}): new column, sync trigger, batched backfill, "
                    "short-lock swap", steps=steps, reverse=reverse_cleanup + inverse + restore, **common)


def expand_contract(issue: Issue, snap: Snapshot, ctx: PlanContext, schema: str, table: str, column: str,
                    from_type: str, to_type: str, key: str | None, fk_cons: list, noncanonical: int,
                    *, suffix: str = "_heal_new", reverse: bool = False) -> tuple[list[FixStep], list[FixStep], int]:
    """Steps of an expand/contract change of ``column`` to ``to_type``; returns (steps, cleanup, swap index)."""
    col = snap.column(schema, table, column)
    assert col is not None
    if key is None:
        raise CannotPlan("needs a single-column primary key or unique NOT NULL key for the batched backfill")
    if col.default or col.identity or col.generated:
        raise CannotPlan(f"{column} has a default, identity or generation expression")
    for c in snap.constraints_of(schema, table):
        if column in c.columns and c.kind in ("primary_key", "unique", "check", "exclusion"):
            raise CannotPlan(f"{column} is part of {c.kind} constraint {c.name}")
    idx = [i for i in snap.indexes_of(schema, table) if column in i.columns or
           (column in (i.expressions or "") or column in (i.predicate or ""))]
    for i in idx:
        if i.is_unique or i.constraint_name:
            raise CannotPlan(f"{column} is part of unique index {i.name}")
    t = ctx.thresholds
    fp = fp_short(issue.fingerprint)
    taken_rel = ctx.relation_names(schema)
    cols_taken = {c.name for c in snap.columns_of(schema, table)}
    new = free_name(column, cols_taken, suffix)
    old = free_name(column, cols_taken | {new}, "_heal_old")
    trig = fit_name(f"heal_sync_{fp}{'_b' if reverse else ''}")
    func = fit_name(f"heal_sync_{fp}{'_b' if reverse else ''}")
    nn = fit_name(f"{table}_{column}", f"_heal_nn{'_b' if reverse else ''}")
    base = {"schema": schema, "table": table}
    L = t.long_timeout_s
    steps: list[FixStep] = []
    cleanup: list[FixStep] = []

    def add(s: FixStep) -> int:
        steps.append(s)
        return len(steps) - 1

    add(step("create heal's function schema", "create_schema", {"schema": FUNCTION_SCHEMA}, lock="none",
             group="expand"))
    add(step(f"add {new} {to_type} (nullable, no default: metadata only)", "add_column",
             dict(base, column=new, type=to_type), lock="ACCESS EXCLUSIVE (brief)", group="expand"))
    add(step(f"sync function {FUNCTION_SCHEMA}.{func}", "create_sync_function",
             dict(schema=FUNCTION_SCHEMA, function=func, new_column=new, old_column=column, type=to_type),
             lock="none", group="expand"))
    add(step(f"trigger {trig} keeps {new} = {column}::{to_type} on every write", "create_sync_trigger",
             dict(base, trigger=trig, function_schema=FUNCTION_SCHEMA, function=func),
             lock="SHARE ROW EXCLUSIVE (brief)", group="expand"))
    add(step(f"backfill {new} in batches of {t.batch_size} by {key}", "backfill_batch",
             dict(base, key=key, new_column=new, old_column=column, type=to_type, batch=t.batch_size),
             lock="ROW EXCLUSIVE (per batch)", kind="backfill", timeout_s=L))
    add(check(f"every row has {new} = {column}::{to_type}", "count_unsynced",
              dict(base, new_column=new, old_column=column, type=to_type), 0))
    add(check(f"{new} is still the type {to_type}", "column_has_type",
              dict(base, column=new, type=to_type, server_version_num=snap.server_version_num), True))
    if col.not_null:
        add(step(f"CHECK ({new} IS NOT NULL) NOT VALID", "add_check_not_null",
                 dict(base, column=new, constraint=nn), lock="ACCESS EXCLUSIVE (brief)", group="nn"))
        add(step(f"validate {nn} (no write lock)", "validate_constraint", dict(base, constraint=nn),
                 lock="SHARE UPDATE EXCLUSIVE", group="nn_validate", timeout_s=L))
    renames: list[tuple[str, str]] = []
    for i in idx:
        tmp = free_name(i.name, taken_rel | {r[0] for r in renames}, suffix)
        drop_tmp = step(f"drop the invalid {tmp} left by the failed attempt", "drop_index",
                        {"schema": schema, "name": tmp}, lock="SHARE UPDATE EXCLUSIVE", transactional=False)
        add(check(f"index name {tmp} is free", "index_state", {"schema": schema, "name": tmp}, "absent"))
        add(step(f"rebuild {i.name} on {new} as {tmp} concurrently", "create_index_from_definition",
                 {"definition": i.definition, "name": tmp, "rename_columns": {column: new}},
                 lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=L, on_retry=[drop_tmp]))
        add(check(f"{tmp} is valid", "index_state", {"schema": schema, "name": tmp}, "valid"))
        renames.append((tmp, i.name))
        cleanup.append(step(f"drop {tmp}", "drop_index", {"schema": schema, "name": tmp},
                            lock="SHARE UPDATE EXCLUSIVE", transactional=False))
    # ---- the swap: one short transaction, metadata only ----
    swap = "swap"
    first_swap = add(step(f"drop trigger {trig}", "drop_trigger", dict(base, trigger=trig),
                          lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    add(step(f"drop function {func}", "drop_function", {"schema": FUNCTION_SCHEMA, "function": func},
             lock="none", group=swap, lint_allow=SWAP_ALLOW))
    add(step(f"rename {column} → {old}", "rename_column", dict(base, column=column, to=old),
             lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    add(step(f"rename {new} → {column}", "rename_column", dict(base, column=new, to=column),
             lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    if col.not_null:
        add(step(f"SET NOT NULL on {column} (uses the validated {nn}: no scan)", "set_not_null",
                 dict(base, column=column), lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
        add(step(f"drop the helper check {nn}", "drop_constraint", dict(base, constraint=nn),
                 lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    add(step(f"drop {old} (values kept in the backup and verified equal in {column})", "drop_column",
             dict(base, column=old), lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    for tmp, orig in renames:
        add(step(f"rename index {tmp} → {orig}", "rename_index", {"schema": schema, "name": tmp, "to": orig},
                 lock="ACCESS EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    for fk in fk_cons:
        add(step(f"re-add FK {fk.name} NOT VALID on the new column", "add_foreign_key",
                 dict(base, constraint=fk.name, columns=list(fk.columns), ref_schema=fk.ref_schema,
                      ref_table=fk.ref_table, ref_columns=list(fk.ref_columns)),
                 lock="SHARE ROW EXCLUSIVE (brief)", group=swap, lint_allow=SWAP_ALLOW))
    for fk in fk_cons:
        add(step(f"validate FK {fk.name}", "validate_constraint", dict(base, constraint=fk.name),
                 lock="SHARE UPDATE EXCLUSIVE", group=f"validate_{fk.name}", timeout_s=L))
    add(check(f"{column} is now {to_type}", "column_has_type",
              dict(base, column=column, type=to_type, server_version_num=snap.server_version_num), True))
    # pre-swap cleanup (used when the fix fails before the swap committed)
    cleanup = [step(f"drop trigger {trig}", "drop_trigger", dict(base, trigger=trig), lock="ACCESS EXCLUSIVE (brief)",
                    group="cleanup"),
               step(f"drop function {func}", "drop_function", {"schema": FUNCTION_SCHEMA, "function": func},
                    lock="none", group="cleanup", lint_allow=("ban-drop-function",)),
               step(f"drop helper check {nn}", "drop_constraint", dict(base, constraint=nn),
                    lock="ACCESS EXCLUSIVE (brief)", group="cleanup", lint_allow=("ban-drop-constraint",)),
               ] + cleanup + [
               step(f"drop {new}", "drop_column", dict(base, column=new), lock="ACCESS EXCLUSIVE (brief)",
                    group="cleanup2", lint_allow=("ban-drop-column",))]
    if reverse:
        for s in steps:
            s.description = f"(reverse) {s.description}"
    return steps, cleanup, first_swap
