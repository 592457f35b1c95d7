"""stale_statistics: tables the planner plans with outdated (or no) statistics."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue, TableMaintenance
from .base import Check, DetectContext, examined_schema, register


def maintenance_facts(ctx: DetectContext, check: str) -> list[TableMaintenance] | None:
    """The snapshot's per-table maintenance facts, or None (recorded as not checked) when unread."""
    snap = ctx.snapshot
    if snap.maintenance_status != "ok":
        ctx.not_checked(check, f"maintenance facts not read ({snap.maintenance_status})")
        return None
    return [m for m in snap.maintenance if examined_schema(m.schema)]


@register
class StaleStatistics(Check):
    """A table that was never analyzed, or changed a lot since its last ANALYZE.

    The planner estimates row counts from ``pg_statistic``; without it (a bulk load, autovacuum off
    or behind, a restored dump) it guesses, and joins pick nested loops over millions of rows.
    heal reports a table of at least ``stale_min_rows`` rows that has no statistics at all, or whose
    ``n_mod_since_analyze`` is at least ``stale_mod_ratio`` (default 20 %, twice autoanalyze's own
    trigger) of its rows. Fix: ``ANALYZE`` (tier auto; reads a sample, takes SHARE UPDATE EXCLUSIVE).

    Anti-pattern::

        COPY events FROM 'dump.csv';   -- 5 M rows, then straight to production queries
        -- ALTER TABLE events SET (autovacuum_enabled = false);  and nobody analyzes

    Best practice::

        COPY events FROM 'dump.csv';
        ANALYZE events;
    """

    issue_type = "stale_statistics"
    code = "PG020"
    name = "maintenance.stale_statistics"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        facts = maintenance_facts(ctx, self.issue_type)
        if facts is None:
            return
        th = ctx.thresholds
        for m in facts:
            never = m.last_analyze is None and m.last_autoanalyze is None and m.reltuples < 0
            rows = max(m.reltuples, m.n_live_tup, 0)
            if never:
                if max(m.n_live_tup, m.n_mod_since_analyze) < th.stale_min_rows:
                    continue
                why = f"was never analyzed ({max(m.n_live_tup, m.n_mod_since_analyze)} rows written)"
            else:
                if (m.n_mod_since_analyze < th.stale_min_rows
                        or m.n_mod_since_analyze < th.stale_mod_ratio * max(m.reltuples, 1)):
                    continue
                why = (f"has {m.n_mod_since_analyze} rows modified since its last ANALYZE "
                       f"({m.n_mod_since_analyze / max(m.reltuples, 1):.0%} of {max(m.reltuples, 0)} rows)")
            yield ctx.issue(
                "stale_statistics", self.severity,
                f"table {m.schema}.{m.table} {why}: plans use guessed row counts. "
                f"Fix: ANALYZE {m.schema}.{m.table}",
                schema_name=m.schema, table_name=m.table,
                evidence={"never_analyzed": never, "reltuples": m.reltuples, "n_live_tup": m.n_live_tup,
                          "n_mod_since_analyze": m.n_mod_since_analyze, "rows": rows,
                          "last_analyze": m.last_analyze, "last_autoanalyze": m.last_autoanalyze,
                          "analyze_threshold": m.analyze_threshold,
                          "mod_ratio": round(m.n_mod_since_analyze / max(m.reltuples, 1), 4)})
