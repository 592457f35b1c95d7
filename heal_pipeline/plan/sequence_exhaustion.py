"""sequence_exhaustion → widen the column and its sequence to ``bigint`` (tier ``approval``).

* Column ``integer``/``smallint`` fed by the sequence, table at or below ``small_table_rows`` rows
  (measured): one transaction under lock_timeout — ``ALTER TABLE … ALTER COLUMN … TYPE bigint``
  (ACCESS EXCLUSIVE, rewrites the table and its indexes; squawk's ``changing-column-type`` is
  explicitly allowed on this path only, as for type_mismatch's small-table path) and
  ``ALTER SEQUENCE … AS bigint`` (its MAXVALUE follows when it was the type's default). Values do
  not change: the checksum of (key, column) is compared before/after.
* Column already ``bigint``, sequence narrower: only ``ALTER SEQUENCE … AS bigint`` (no rewrite).
* Larger tables, views depending on the column, or a bigint sequence at its end: tier ``manual``
  with advice (add a bigint column and move over expand/contract; ``ALTER TYPE`` would hold ACCESS
  EXCLUSIVE for the whole rewrite). Referencing foreign-key columns should be widened as well — the
  notes list them.
* Reverse: the inverse type change and ``ALTER SEQUENCE … AS <original>`` (refused by PostgreSQL if
  values already exceed the old range — then nothing changes).
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import _maintenance_ops  # noqa: F401  (registers the operations)
from .base import (PlanContext, blocked_plan, check, checksum_step, measure_rows, new_plan, planner, step, table_key,
                   verify_step)

NARROW = {"smallint", "integer"}
ALTER_TYPE_ALLOW = ("changing-column-type",)


@planner("sequence_exhaustion")
def plan_sequence_exhaustion(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    ev = issue.evidence or {}
    seq = ev.get("sequence") or {}
    seq_schema, seq_name = seq.get("schema"), seq.get("name")
    if not (seq_schema and seq_name):
        return blocked_plan(issue, "issue names no sequence", tier="approval")
    schema, table, column = issue.schema_name, issue.table_name, issue.column_name
    seq_type = ev.get("data_type")
    col = snap.column(schema, table, column) if (schema and table and column) else None
    col_type = col.data_type if col else None
    if col_type == "bigint" and seq_type == "bigint" or (col is None and seq_type == "bigint"):
        return new_plan(issue, "manual", f"{seq_schema}.{seq_name} is a bigint near its end: manual",
                        notes=["a bigint sequence this far along is unusual: check for setval jumps or huge "
                               "increments; consider uuid keys"], rows_rewritten=0)
    seq_steps = []
    if seq_type in NARROW:
        seq_steps.append(step(f"ALTER SEQUENCE {seq_schema}.{seq_name} AS bigint", "alter_sequence_as",
                              {"schema": seq_schema, "name": seq_name, "type": "bigint"},
                              lock="SHARE ROW EXCLUSIVE", group="widen"))
    prechecks = [check(f"{seq_schema}.{seq_name} is still {seq_type}", "sequence_type",
                       {"schema": seq_schema, "name": seq_name}, expect=seq_type)]
    if col is None or col_type not in NARROW:
        # the column is wide enough already (or there is none): the sequence alone
        if not seq_steps:
            return blocked_plan(issue, "nothing to widen", tier="approval")
        return new_plan(issue, "approval", f"widen sequence {seq_schema}.{seq_name} to bigint",
                        steps=prechecks + seq_steps,
                        reverse=[step(f"ALTER SEQUENCE {seq_schema}.{seq_name} AS {seq_type}", "alter_sequence_as",
                                      {"schema": seq_schema, "name": seq_name, "type": seq_type},
                                      lock="SHARE ROW EXCLUSIVE", group="narrow", requires=(len(prechecks),))],
                        rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"] if table else [],
                        backup="none needed: no table data changes",
                        verification=f"{seq_schema}.{seq_name} is bigint")
    dependents = ctx.column_dependents(schema, table, column)
    rows = measure_rows(ctx, schema, table)
    t = ctx.thresholds
    refs = [f"{c.schema}.{c.table}({', '.join(c.columns)})" for c in snap.constraints
            if c.kind == "foreign_key" and c.ref_schema == schema and c.ref_table == table and column in c.ref_columns]
    notes = [f"referencing columns to widen too: {', '.join(refs)}"] if refs else []
    if dependents or rows is None or rows > t.small_table_rows:
        why = (f"views depend on the column: {', '.join(dependents)}" if dependents else
               f"{rows if rows is not None else 'unknown (count timed out)'} rows > small_table_rows "
               f"{t.small_table_rows}: ALTER TYPE would hold ACCESS EXCLUSIVE for the whole rewrite")
        return new_plan(issue, "manual", f"widen {schema}.{table}.{column} to bigint (manual: {why})",
                        notes=notes + [why, "add a bigint column, backfill in batches with a sync trigger, swap "
                                            "(expand/contract), then ALTER SEQUENCE … AS bigint"],
                        rows_affected=rows, rows_rewritten=rows, tables=[f"{schema}.{table}"])
    prechecks.append(check(f"{schema}.{table}.{column} is still {col_type}", "column_type",
                           {"schema": schema, "table": table, "column": column}, expect=col_type))
    widen = step(f"ALTER {schema}.{table}.{column} TYPE bigint", "alter_column_type",
                 {"schema": schema, "table": table, "column": column, "type": "bigint"},
                 lock="ACCESS EXCLUSIVE", group="widen", timeout_s=t.long_timeout_s, lint_allow=ALTER_TYPE_ALLOW)
    steps = prechecks + [widen] + seq_steps + [verify_step(schema, table, "widen")]
    steps.append(check(f"{schema}.{table}.{column} is bigint", "column_type",
                       {"schema": schema, "table": table, "column": column}, expect="bigint"))
    reverse = [step(f"ALTER {schema}.{table}.{column} back to {col_type}", "alter_column_type",
                    {"schema": schema, "table": table, "column": column, "type": col_type},
                    lock="ACCESS EXCLUSIVE", group="narrow", lint_allow=ALTER_TYPE_ALLOW,
                    requires=(len(prechecks),))]
    if seq_steps:
        reverse.append(step(f"ALTER SEQUENCE {seq_schema}.{seq_name} AS {seq_type}", "alter_sequence_as",
                            {"schema": seq_schema, "name": seq_name, "type": seq_type},
                            lock="SHARE ROW EXCLUSIVE", group="narrow", requires=(len(prechecks) + 1,)))
    key = table_key(snap, schema, table)
    cols = [column] if key in (None, column) else [key, column]
    return new_plan(issue, "approval", f"widen {schema}.{table}.{column} and {seq_schema}.{seq_name} to bigint",
                    steps=steps, reverse=reverse, rows_affected=rows, rows_rewritten=rows,
                    tables=[f"{schema}.{table}"],
                    backup="none needed: integer → bigint keeps every value (checksum compared)",
                    verification=f"{column} is bigint; rows and checksum of ({', '.join(cols)}) unchanged",
                    checksum_before=checksum_step("rows and checksum of the widened column", [(schema, table)],
                                                  cols, key=key),
                    notes=notes)
