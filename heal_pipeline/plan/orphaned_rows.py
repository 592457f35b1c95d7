"""orphaned_rows → quarantine the orphans, then a validated FK (tier ``approval``).

Nothing is deleted: the orphan rows move to ``heal_quarantine.<table>_<fp>`` in **one statement**
(``WITH moved AS (DELETE … RETURNING …) INSERT INTO quarantine …``), so a row cannot leave the child
without arriving in the quarantine. Order (strictly safer than "move, then constrain"):

1. ``ADD CONSTRAINT … FOREIGN KEY … NOT VALID`` (own short transaction) when the relationship has
   no FK yet — from then on the database refuses *new* orphans, so none can appear between 2 and 3;
2. move the existing orphans to the quarantine (own transaction);
3. ``VALIDATE CONSTRAINT`` (own transaction: SHARE UPDATE EXCLUSIVE, reads and writes continue).

Refused when other tables reference the child with ON DELETE CASCADE / SET NULL / SET DEFAULT
(moving a row would silently change theirs), or when the parent column has no unique index (no FK
possible). A backup copy of the orphans is taken outside the fix transaction.
Reverse: drop the FK if heal added it, move the quarantined rows back.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (BACKUP_SCHEMA, QUARANTINE_SCHEMA, PlanContext, backup_name, blocked_plan, check,
                   fit_name, fp_short, free_name, new_plan, planner, step)

FK_DROP_ALLOW = ("ban-drop-constraint",)  # reverse only: drops the FK heal itself added


@planner("orphaned_rows")
def plan_orphaned_rows(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table, column = issue.schema_name, issue.table_name, issue.column_name
    ev = issue.evidence or {}
    parent = ev.get("parent") or {}
    ps, pt, pc = parent.get("schema") or schema, parent.get("table"), parent.get("column") or "id"
    if not (schema and table and column and pt):
        return blocked_plan(issue, "child column or parent unknown", tier="approval")
    if snap.table(schema, table) is None or snap.table(ps, pt) is None:
        return blocked_plan(issue, "child or parent table no longer exists", tier="approval")
    for c in snap.constraints:
        if (c.kind == "foreign_key" and c.ref_schema == schema and c.ref_table == table
                and c.on_delete in ("c", "n", "d")):
            return blocked_plan(issue, f"{c.schema}.{c.table}.{c.name} references {schema}.{table} with "
                                       "ON DELETE CASCADE/SET NULL/SET DEFAULT: moving orphans would change "
                                       "those rows", tier="manual")
    child_col = snap.column(schema, table, column)
    parent_col = snap.column(ps, pt, pc)
    if child_col is None or parent_col is None:
        return blocked_plan(issue, "child or parent column no longer exists", tier="approval")
    if child_col.data_type != parent_col.data_type:
        return blocked_plan(issue, "types differ: fix the type_mismatch first", tier="approval")
    rel = {"schema": schema, "table": table, "column": column, "ref_schema": ps, "ref_table": pt,
           "ref_column": pc}
    orphans = int(ctx.scalar("count_orphans", rel))
    sample = [r[0] for r in ctx.rows("sample_orphans", rel)] if orphans else []

    existing = ev.get("constraint")
    fk = None
    for c in snap.constraints_of(schema, table):
        if c.kind == "foreign_key" and list(c.columns) == [column] and c.ref_table == pt and c.ref_schema == ps:
            fk = c
            if existing is None or c.name == existing:
                break
    heal_adds_fk = fk is None
    if heal_adds_fk:
        unique = any(i.is_unique and i.is_valid and not i.predicate and not i.expressions
                     and list(i.key_columns) == [pc] for i in snap.indexes_of(ps, pt))
        if not unique:
            return blocked_plan(issue, f"{ps}.{pt}.{pc} has no unique index: no FK can reference it",
                                tier="manual")
        fk_name = free_name(f"{table}_{column}_fkey", ctx.constraint_names(schema, table)
                            | ctx.relation_names(schema))
    else:
        fk_name = fk.name
        if fk.validated:
            return blocked_plan(issue, f"FK {fk_name} is already validated (no orphans possible)", tier="approval")

    gen = {c.name: c for c in snap.columns_of(schema, table)}
    columns = [c.name for c in snap.columns_of(schema, table) if not c.generated]
    overriding = any(c.identity == "a" for c in gen.values())
    qname = fit_name(table, f"_{fp_short(issue.fingerprint)}")
    bname = backup_name(table, issue.fingerprint, ctx)
    tb = {"schema": schema, "table": table}
    steps = []
    if heal_adds_fk:
        steps.append(step(f"add FK {fk_name} NOT VALID (new orphans refused from now on)", "add_foreign_key",
                          dict(tb, constraint=fk_name, columns=[column], ref_schema=ps, ref_table=pt,
                               ref_columns=[pc]), lock="SHARE ROW EXCLUSIVE (brief, both tables)", group="fk"))
    steps += [
        step("create the quarantine schema", "create_schema", {"schema": QUARANTINE_SCHEMA}, lock="none",
             group="move"),
        step(f"quarantine table {QUARANTINE_SCHEMA}.{qname} (LIKE {schema}.{table})", "create_quarantine_table",
             dict(tb, q_schema=QUARANTINE_SCHEMA, q_table=qname), lock="ACCESS SHARE", group="move"),
        step(f"move the {orphans} orphan row(s) into the quarantine (one statement)", "move_orphans",
             dict(rel, q_schema=QUARANTINE_SCHEMA, q_table=qname, columns=columns),
             lock="ROW EXCLUSIVE", kind="dml", group="move", timeout_s=ctx.thresholds.long_timeout_s),
        step("every moved row is in the quarantine (same count as the backup, inside the move)",
             "count_difference", dict(a_schema=QUARANTINE_SCHEMA, a_table=qname, b_schema=BACKUP_SCHEMA,
                                      b_table=bname), lock="ACCESS SHARE", kind="check", group="move", expect=0),
        check("no orphans remain", "count_orphans", rel, 0),
        step(f"validate FK {fk_name} (reads and writes continue)", "validate_constraint",
             dict(tb, constraint=fk_name), lock="SHARE UPDATE EXCLUSIVE", group="validate",
             timeout_s=ctx.thresholds.long_timeout_s),
    ]
    move_index = next(i for i, s in enumerate(steps) if s.op == "move_orphans")
    reverse = []
    if heal_adds_fk:
        reverse.append(step(f"drop FK {fk_name} (heal added it)", "drop_constraint", dict(tb, constraint=fk_name),
                            lock="ACCESS EXCLUSIVE (brief)", group="fk_drop", requires=(0,),
                            lint_allow=FK_DROP_ALLOW))
    if not heal_adds_fk:
        # the FK heal validated would refuse the returning rows: drop it and re-add it exactly as it was
        # (NOT VALID), in the same transaction as the restore
        definition = fk.definition if "NOT VALID" in fk.definition.upper() else fk.definition + " NOT VALID"
        reverse.append(step(f"drop FK {fk_name} for the restore (re-added NOT VALID below)", "drop_constraint",
                            dict(tb, constraint=fk_name), lock="ACCESS EXCLUSIVE (brief)", group="restore",
                            requires=(move_index,), lint_allow=FK_DROP_ALLOW))
    reverse.append(step(f"move the quarantined rows back into {schema}.{table}", "restore_quarantine",
                        dict(tb, q_schema=QUARANTINE_SCHEMA, q_table=qname, columns=columns, overriding=overriding),
                        lock="ROW EXCLUSIVE", kind="dml", group="restore", requires=(move_index,)))
    reverse.append(step("the quarantine is empty again", "count_all", {"schema": QUARANTINE_SCHEMA, "table": qname},
                        lock="ACCESS SHARE", kind="check", group="restore", expect=0, requires=(move_index,)))
    if not heal_adds_fk:
        reverse.append(step(f"re-add FK {fk_name} NOT VALID, as it was before the fix",
                            "add_constraint_from_definition", dict(tb, constraint=fk_name, definition=definition),
                            lock="SHARE ROW EXCLUSIVE (brief, both tables)", group="restore", requires=(move_index,)))
    notes = [f"orphans measured: {orphans}; sample: {sample}"]
    trig = ctx.table_owner_triggers(schema, table)
    if trig:
        notes.append(f"{schema}.{table} has triggers that will fire on the delete: {trig}")
    if not heal_adds_fk:
        notes.append(f"existing NOT VALID FK {fk_name} is validated; rollback restores it NOT VALID with the rows")
    return new_plan(
        issue, "approval",
        f"quarantine {orphans} orphan row(s) of {schema}.{table}.{column} in {QUARANTINE_SCHEMA}.{qname}, "
        f"then {'add and ' if heal_adds_fk else ''}validate FK {fk_name}",
        steps=steps, reverse=reverse, rows_affected=orphans, rows_rewritten=orphans,
        tables=[f"{schema}.{table}", f"{ps}.{pt}"],
        backup_steps=[step("create the backup schema", "create_schema", {"schema": BACKUP_SCHEMA}, lock="none"),
                      step("copy the orphan rows to the backup", "backup_orphans",
                           dict(rel, backup_schema=BACKUP_SCHEMA, backup_table=bname), lock="ACCESS SHARE",
                           kind="backup", timeout_s=ctx.thresholds.long_timeout_s)],
        backup_ref=f"{BACKUP_SCHEMA}.{bname}",
        backup=f"orphan rows copied to {BACKUP_SCHEMA}.{bname} before the move; the move itself keeps them "
               f"in {QUARANTINE_SCHEMA}.{qname}",
        verification=(f"no orphans; FK {fk_name} validated; the quarantine holds exactly the backed-up orphan "
                      "rows (checked inside the move: one DELETE … RETURNING → INSERT statement, so no row can "
                      "be deleted that was not copied); rows the application writes meanwhile are not compared"),
        notes=notes)
