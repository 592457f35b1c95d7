"""table_bloat → ``VACUUM (ANALYZE)`` (tier ``auto``), or ``VACUUM FULL``/pg_repack advice (``manual``).

* Dead tuples over autovacuum's threshold: ``VACUUM (ANALYZE)`` outside a transaction block (VACUUM
  cannot run in one) under lock_timeout; SHARE UPDATE EXCLUSIVE, reads and writes go on. It removes
  dead row versions and makes their space reusable; it gives no space back to the OS (except empty
  pages at the end). No data changes: no backup, no reverse.
* Space bloat only (estimated free heap ≥ ``bloat_space_ratio``): plain VACUUM cannot shrink the
  file. The plan shows ``VACUUM FULL`` (rewrites the table under ACCESS EXCLUSIVE: reads and writes
  wait for the whole rewrite; needs free disk ≈ the live size) and recommends ``pg_repack`` (online)
  — tier ``manual``, never applied by heal.
"""

from __future__ import annotations

from ..model import FixPlan, Issue, Snapshot
from . import _maintenance_ops  # noqa: F401  (registers the operations)
from .base import PlanContext, blocked_plan, check, new_plan, planner, step

FULL_ADVICE = ("VACUUM FULL rewrites the table under ACCESS EXCLUSIVE (reads and writes wait for the whole "
               "rewrite, free disk ≈ live size needed); pg_repack (extension + client) does the same online")


@planner("table_bloat")
def plan_table_bloat(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    schema, table = issue.schema_name, issue.table_name
    if not schema or not table:
        return blocked_plan(issue, "issue has no table", tier="auto")
    ev = issue.evidence or {}
    exists = check(f"{schema}.{table} still exists", "relation_exists", {"schema": schema, "name": table},
                   expect=True)
    common = dict(reverse=[], rows_affected=0, rows_rewritten=0, tables=[f"{schema}.{table}"],
                  backup="none needed: VACUUM changes no visible data")
    if not ev.get("dead_tuples"):
        full = step(f"VACUUM FULL {schema}.{table} (manual: ACCESS EXCLUSIVE rewrite)", "vacuum_table",
                    {"schema": schema, "table": table, "options": ["full", "analyze"]},
                    lock="ACCESS EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s)
        return new_plan(issue, "manual",
                        f"reclaim ~{(ev.get('est_bloat_bytes') or 0) // (1024 * 1024)} MB of {schema}.{table}: "
                        "VACUUM FULL or pg_repack (manual)",
                        steps=[exists, full], verification="heap size after the rewrite", notes=[FULL_ADVICE],
                        **common)
    steps = [
        exists,
        step(f"VACUUM (ANALYZE) {schema}.{table}", "vacuum_table",
             {"schema": schema, "table": table, "options": ["analyze"]},
             lock="SHARE UPDATE EXCLUSIVE", transactional=False, timeout_s=ctx.thresholds.long_timeout_s),
        check(f"{schema}.{table} was vacuumed", "vacuumed_recently",
              {"schema": schema, "table": table, "seconds": 3600}, expect=True),
    ]
    notes = [f"{ev.get('n_dead_tup')} dead tuples ({(ev.get('dead_ratio') or 0):.0%}); last autovacuum "
             f"{ev.get('last_autovacuum') or 'never'}: check autovacuum settings and long transactions"]
    if ev.get("vacuum_full_advised"):
        notes.append("space bloat too: VACUUM gives the space back to the table, not to the OS. " + FULL_ADVICE)
    return new_plan(issue, "auto", f"VACUUM (ANALYZE) {schema}.{table}", steps=steps,
                    verification="the table was vacuumed by this fix (pg_stat last_vacuum within the hour)",
                    notes=notes, **common)
