"""unused_table → archive: ``ALTER TABLE … SET SCHEMA heal_archive`` (tier ``approval``; never dropped).

Metadata only (brief ACCESS EXCLUSIVE under ``lock_timeout``); indexes, constraints and owned
sequences move with the table. When ``heal_archive`` already holds a table of that name (an archived
namesake from another schema) the table is first renamed to ``<table>_<fp>`` in the same transaction.
squawk's ``ban-set-schema`` / ``renaming-table`` are allowed here on purpose: breaking clients of a
table that has none (the detector's evidence: no code use, no counter growth over the observation window,
no view) is exactly what archiving means. A table with FKs is planned manual (blocked): an FK across
the archive boundary is a person's decision. Rows come from the statistics (n_live_tup), never from a
count(*) — that would be a scan on the very table heal calls unused. Reverse: move it back (and rename
it back).
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from .base import (ARCHIVE_SCHEMA, PlanContext, blocked_plan, check, checksum_step, column_names, fit_name,
                   fp_short, new_plan, planner, step, table_key, verify_step)

ARCHIVE_ALLOW = ("ban-set-schema", "renaming-table")


# detail and evidence carry the observation window's dates and the counters' deltas, new at every scan;
# the plan reads the snapshot, never them (its copy of the issue is refreshed on a cache hit)
@planner("unused_table", unread=("detail", "evidence"))
def plan_unused_table(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    if not (schema and table):
        return blocked_plan(issue, "issue has no table", tier="approval")
    if snap.table(schema, table) is None:
        return blocked_plan(issue, f"{schema}.{table} no longer exists", tier="approval")
    deps = [d for d in snap.view_dependencies if d.table_schema == schema and d.table_name == table]
    if deps:
        return blocked_plan(issue, f"views depend on {schema}.{table}", tier="approval")
    fks = [c for c in snap.constraints if c.kind == "foreign_key" and (
        (c.schema == schema and c.table == table) or (c.ref_schema == schema and c.ref_table == table))]
    if fks:
        # detection reports idle tables with FKs (evidence, not a veto); moving one alone would leave an
        # FK across the archive boundary, so that decision stays with a person
        others = sorted({f"{c.ref_schema}.{c.ref_table}" if (c.schema, c.table) == (schema, table)
                         else f"{c.schema}.{c.table}" for c in fks})
        return blocked_plan(issue, f"{schema}.{table} takes part in FK {', '.join(c.name for c in fks[:3])} "
                            f"(with {', '.join(others[:3])}): archive the tables together or drop the FK, by hand",
                            tier="manual")
    # the statistics estimate, not count(*): a count would be a scan heal causes on the very table it
    # calls unused (issue 12.1); the apply-time checksums read it when it is archived anyway
    t = snap.table(schema, table)
    rows = max(t.n_live_tup, t.estimated_rows, 0) if t is not None else None
    taken = ctx.relation_names(ARCHIVE_SCHEMA)
    name = table if table not in taken else fit_name(table, f"_{fp_short(issue.fingerprint, 6)}")
    tb = {"schema": schema, "table": table}
    steps = [check(f"{ARCHIVE_SCHEMA}.{name} is free", "relation_exists", {"schema": ARCHIVE_SCHEMA, "name": name},
                   False),
             step("create the archive schema", "create_schema", {"schema": ARCHIVE_SCHEMA}, lock="none",
                  group="archive")]
    if name != table:
        steps.append(step(f"rename {table} → {name} (namesake already archived)", "rename_table",
                          dict(tb, to=name), lock="ACCESS EXCLUSIVE (brief)", group="archive",
                          lint_allow=ARCHIVE_ALLOW))
    move = len(steps)
    steps.append(step(f"move {schema}.{name} to {ARCHIVE_SCHEMA}", "set_schema",
                      {"schema": schema, "table": name, "to_schema": ARCHIVE_SCHEMA},
                      lock="ACCESS EXCLUSIVE (brief)", group="archive", lint_allow=ARCHIVE_ALLOW))
    steps.append(verify_step(schema, table, "archive"))  # a statement heal did not see as a use refuses the move
    reverse = [step(f"move {ARCHIVE_SCHEMA}.{name} back to {schema}", "set_schema",
                    {"schema": ARCHIVE_SCHEMA, "table": name, "to_schema": schema},
                    lock="ACCESS EXCLUSIVE (brief)", group="restore", lint_allow=ARCHIVE_ALLOW, requires=(move,))]
    if name != table:
        reverse.append(step(f"rename {name} → {table}", "rename_table", {"schema": schema, "table": name, "to": table},
                            lock="ACCESS EXCLUSIVE (brief)", group="restore", lint_allow=ARCHIVE_ALLOW,
                            requires=(move,)))
    cols = column_names(snap, schema, table)
    key = table_key(snap, schema, table)
    return new_plan(
        issue, "approval", f"archive unused table {schema}.{table} as {ARCHIVE_SCHEMA}.{name} (not dropped)",
        steps=steps, reverse=reverse, rows_affected=rows, rows_rewritten=0, tables=[f"{schema}.{table}"],
        backup="none needed: the table is moved, not modified (reverse moves it back)",
        checksum_before=checksum_step(f"rows and checksum of {schema}.{table}", [(schema, table)], cols, key=key),
        checksum_after=checksum_step(f"rows and checksum of {ARCHIVE_SCHEMA}.{name}", [(ARCHIVE_SCHEMA, name)],
                                     cols, key=key),
        verification=f"{schema}.{table} gone, {ARCHIVE_SCHEMA}.{name} holds the same rows (checksum)")
