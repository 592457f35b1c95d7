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

from dataclasses import replace as dataclass_replace

from ..model import FixPlan, FixStep, Issue, Snapshot
from . import ops
from .base import (BACKUP_SCHEMA, FUNCTION_SCHEMA, CannotPlan, MeasureTimeout, PlanContext, backup_name,
                   blocked_plan, check, fit_name, fp_short, free_name, measure_rows,
                   new_plan, planner, stamp, step, table_key, verify_step)

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
    tb = {"schema": schema, "table": table}
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
    if key is None:
        # without a stable key a rollback could not tell the rows heal converted from rows the
        # application wrote since: it would have to overwrite them, which heal never does
        return blocked_plan(issue, f"{schema}.{table} has no single-column key (other than {column}) to "
                                   "restore values by without overwriting application writes", tier="manual")
    prechecks = [check(f"{column} still has its original type {original} (the plan is current)",
                       "column_has_type", dict(base, type=original, server_version_num=snap.server_version_num),
                       True),
                 check(f"every value of {column} converts to {target}", "count_not_convertible", conv_args, 0)]

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

    cols = [key, column]

    def restore_steps(image: str, group: str) -> list[FixStep]:
        """After the inverse change: put the exact original value back on rows nobody changed since the
        fix; rows the application changed are kept, and their keys reported (probe)."""
        img = dict(schema=schema, table=table, key=key, column=column, backup_schema=BACKUP_SCHEMA,
                   backup_table=image, type=target)
        return [
            step("rows the application changed since the fix (kept, never overwritten)", "conflict_keys", img,
                 lock="ACCESS SHARE", kind="probe", group=group),
            step("restore the exact original value on rows nobody changed since the fix",
                 "restore_unchanged_from_backup", img, lock="ROW EXCLUSIVE", kind="dml", group=group,
                 timeout_s=t.long_timeout_s),
            step("every unchanged row holds its original value again", "count_restore_pending", img,
                 lock="ACCESS SHARE", kind="check", group=group, expect=0)]

    verify = verify_step(schema, table, None)

    fk_cons = [c for c in snap.constraints_of(schema, table) if c.kind == "foreign_key" and column in c.columns]
    common = dict(
        tables=[f"{schema}.{table}"], rows_affected=rows, rows_rewritten=rows, backup_steps=backup_steps,
        backup_ref=backup_ref, backup=backup_text,
        verification=(f"{schema}.{table}.{column} has type {target}; row by row on {key}, every value equals "
                      f"its pre-fix value converted to {target}; the application's statements on the table "
                      "are accepted by the server before COMMIT; the mismatch is no longer detected"),
        notes=notes + [f"measured: {rows} rows, {noncanonical} value(s) change text on conversion"])

    if rows <= t.small_table_rows:
        image = fit_name(bname, "_img")
        g = "alter"
        img_args = dict(schema=schema, table=table, key=key, column=column, image_schema=BACKUP_SCHEMA,
                        image_table=image, type=target)
        steps = prechecks + [
            step(f"lock {schema}.{table} (ACCESS EXCLUSIVE, bounded by lock_timeout)", "lock_exclusive", tb,
                 lock="ACCESS EXCLUSIVE", group=g),
            step(f"image ({key}, {column}) inside the fix transaction (what heal converts, row by row)",
                 "backup_table", dict(schema=schema, table=table, backup_schema=BACKUP_SCHEMA,
                                      backup_table=image, columns=cols), lock="ACCESS SHARE", kind="backup",
                 group=g),
            step(f"ALTER {schema}.{table}.{column} TYPE {target} (small table: {rows} rows)",
                 "alter_column_type", dict(base, type=target), lock="ACCESS EXCLUSIVE", group=g,
                 lint_allow=ALTER_TYPE_ALLOW),
            step(f"row by row on {key}: every value equals its image converted to {target}",
                 "count_converted_mismatch", img_args, lock="ACCESS SHARE", kind="check", group=g, expect=0),
            dataclass_replace(verify, group=g),
            check(f"{column} is now {target}", "column_has_type",
                  dict(base, type=target, server_version_num=snap.server_version_num), True)]
        alter_idx = len(prechecks) + 2
        back = "restore"
        reverse = [
            step(f"lock {schema}.{table}", "lock_exclusive", tb, lock="ACCESS EXCLUSIVE", group=back,
                 requires=(alter_idx,)),
            step(f"every current value of {column} converts back to {original}", "count_not_convertible",
                 dict(base, type=original, server_version_num=snap.server_version_num), lock="ACCESS SHARE",
                 kind="check", group=back, expect=0, requires=(alter_idx,)),
            step(f"ALTER {schema}.{table}.{column} back to {original}", "alter_column_type",
                 dict(base, type=original), lock="ACCESS EXCLUSIVE", group=back,
                 lint_allow=ALTER_TYPE_ALLOW, requires=(alter_idx,))]
        for r in restore_steps(image, back):
            r.requires = (alter_idx,)
            reverse.append(r)
        return new_plan(issue, "approval",
                        f"change {schema}.{table}.{column} from {original} to {target} in one transaction "
                        f"({rows} rows ≤ {t.small_table_rows})",
                        steps=steps, reverse=reverse, **common)

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
    n = len(prechecks)
    steps[:0] = prechecks
    swap_index += n
    for r in reverse_cleanup:
        r.requires, r.unless = (n + 1,), (swap_index,)
    restore = restore_steps(bname, "restore")
    for r in inverse + restore:
        r.requires = (swap_index,)
    moved = (f"the swap moves {column} to the end of {schema}.{table} (column order is part of the schema: "
             "`SELECT *` and INSERT without a column list see a different order)")
    star = [f"{st.file}:{st.line}" for st in ctx.statements if _order_sensitive(st, schema, table)]
    if star:
        return blocked_plan(issue, f"large table ({rows} rows): expand/contract would move {column} to the end "
                                   f"and the code depends on column order ({', '.join(star[:5])})", tier="manual",
                            notes=[moved])
    common["notes"] = list(common["notes"]) + [moved]
    return new_plan(issue, "approval",
                    f"change {schema}.{table}.{column} from {original} to {target} by expand/contract "
                    f"({rows} rows > {t.small_table_rows}): new column, sync trigger, batched backfill, "
                    "short-lock swap", steps=steps, reverse=reverse_cleanup + inverse + restore, **common)


def _order_sensitive(st, schema: str, table: str) -> bool:
    """``SELECT *`` or ``INSERT`` without a column list on the table (column order matters to it)."""
    if not any((r.schema in (None, schema)) and r.name == table for r in st.tables):
        return False
    text = " ".join(st.sql.split()).lower()
    if "*" in text and "select" in text and st.statement_kind == "SELECT":
        return any(c.column == "*" for c in st.columns) or "select *" in text or ".*" in text
    if st.statement_kind == "INSERT":
        import re

        return re.search(r"insert\s+into\s+[\w.\"]+\s+(values|select)", text) is not None
    return False


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
    # names unique per plan (its time stamp) and marked by the heal_sync_ prefix
    trig = fit_name(f"heal_sync_{fp}_{stamp(ctx)}{'_b' if reverse else ''}")
    func = trig
    rejects = fit_name(f"{table}_{fp}_{stamp(ctx)}", f"_rej{'_b' if reverse else ''}")
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
    add(step("create the backup schema", "create_schema", {"schema": BACKUP_SCHEMA}, lock="none",
             group="expand"))
    add(step(f"table {BACKUP_SCHEMA}.{rejects} records writes whose value does not convert (the write succeeds)",
             "create_rejects_table", {"schema": BACKUP_SCHEMA, "table": rejects}, lock="none", group="expand"))
    add(step(f"sync function {FUNCTION_SCHEMA}.{func} (never fails a write)", "create_sync_function",
             dict(schema=FUNCTION_SCHEMA, function=func, new_column=new, old_column=column, type=to_type,
                  rejects_schema=BACKUP_SCHEMA, rejects_table=rejects,
                  server_version_num=snap.server_version_num),
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
    first_swap = add(step(f"lock {schema}.{table} for the swap (brief, bounded by lock_timeout)", "lock_exclusive",
                          base, lock="ACCESS EXCLUSIVE (brief)", group=swap))
    add(step("no write since the backfill carried a value that does not convert", "count_all",
             {"schema": BACKUP_SCHEMA, "table": rejects}, lock="ACCESS SHARE", kind="check", group=swap, expect=0))
    add(step(f"drop trigger {trig}", "drop_trigger", dict(base, trigger=trig),
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
    add(verify_step(schema, table, swap, when="before the swap commits"))
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
               step(f"drop {BACKUP_SCHEMA}.{rejects}", "drop_table_if_exists",
                    {"schema": BACKUP_SCHEMA, "table": rejects}, lock="ACCESS EXCLUSIVE (brief)", group="cleanup",
                    lint_allow=("ban-drop-table",)),
               step(f"drop helper check {nn}", "drop_constraint", dict(base, constraint=nn),
                    lock="ACCESS EXCLUSIVE (brief)", group="cleanup", lint_allow=("ban-drop-constraint",)),
               ] + cleanup + [
               step(f"drop {new}", "drop_column", dict(base, column=new), lock="ACCESS EXCLUSIVE (brief)",
                    group="cleanup2", lint_allow=("ban-drop-column",))]
    if reverse:
        for s in steps:
            s.description = f"(reverse) {s.description}"
    return steps, cleanup, first_swap
