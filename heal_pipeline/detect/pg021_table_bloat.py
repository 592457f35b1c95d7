"""table_bloat: dead tuples autovacuum is not keeping up with, or heap space that only a rewrite frees."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register
from .pg020_stale_statistics import maintenance_facts

BLOCK = 8192  # heap bytes per page on every common build (size figures are approximate anyway)


@register
class TableBloat(Check):
    """Dead tuples piling up faster than autovacuum removes them, or a heap mostly made of free space.

    Dead row versions (left by UPDATE/DELETE) make sequential scans read garbage and indexes point
    at it; past autovacuum's own threshold (``autovacuum_vacuum_threshold + scale_factor × rows``)
    autovacuum should have run — when it has not (disabled, blocked by a long transaction, throttled)
    heal reports at least ``bloat_min_dead`` dead tuples making up ``bloat_dead_ratio`` (20 %) of the
    table. Fix: ``VACUUM (ANALYZE)`` (tier auto, SHARE UPDATE EXCLUSIVE: reads and writes go on).
    When the estimated free space (heap beyond what the live rows need, from ``pg_stats`` widths)
    is at least ``bloat_space_ratio`` (50 %) of a table over ``bloat_min_bytes``, plain VACUUM
    cannot give it back: the advice is ``VACUUM FULL`` (ACCESS EXCLUSIVE, rewrites the table) or
    ``pg_repack`` online — tier manual.

    Anti-pattern::

        ALTER TABLE sessions SET (autovacuum_enabled = false);
        UPDATE sessions SET seen_at = now();   -- every few seconds, forever

    Best practice::

        VACUUM (ANALYZE) sessions;            -- and leave autovacuum on (tune its scale factor)
    """

    issue_type = "table_bloat"
    code = "PG021"
    name = "maintenance.table_bloat"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        facts = maintenance_facts(ctx, self.issue_type)
        if facts is None:
            return
        th = ctx.thresholds
        for m in facts:
            total = m.n_live_tup + m.n_dead_tup
            dead_ratio = m.n_dead_tup / total if total else 0.0
            dead = (m.n_dead_tup >= th.bloat_min_dead and dead_ratio >= th.bloat_dead_ratio
                    and m.n_dead_tup > (m.vacuum_threshold or 0))
            heap = m.relpages * BLOCK
            space_ratio = (m.est_bloat_bytes / heap) if (m.est_bloat_bytes is not None and heap) else None
            space = (heap >= th.bloat_min_bytes and space_ratio is not None
                     and space_ratio >= th.bloat_space_ratio)
            if not (dead or space):
                continue
            parts = []
            if dead:
                parts.append(f"{m.n_dead_tup} dead tuples ({dead_ratio:.0%}), over autovacuum's threshold "
                             f"{m.vacuum_threshold:.0f}; last autovacuum {m.last_autovacuum or 'never'}")
            if space:
                parts.append(f"~{m.est_bloat_bytes // (1024 * 1024)} MB of {heap // (1024 * 1024)} MB heap "
                             f"is free space ({space_ratio:.0%})")
            fix = "VACUUM (ANALYZE)" if dead else "VACUUM FULL or pg_repack (a rewrite; plain VACUUM cannot shrink it)"
            yield ctx.issue(
                "table_bloat", self.severity,
                f"table {m.schema}.{m.table}: {'; '.join(parts)}. Fix: {fix}",
                schema_name=m.schema, table_name=m.table,
                evidence={"n_dead_tup": m.n_dead_tup, "n_live_tup": m.n_live_tup,
                          "dead_ratio": round(dead_ratio, 4), "vacuum_threshold": m.vacuum_threshold,
                          "last_vacuum": m.last_vacuum, "last_autovacuum": m.last_autovacuum,
                          "autovacuum_count": m.autovacuum_count, "heap_bytes": heap,
                          "est_bloat_bytes": m.est_bloat_bytes,
                          "space_ratio": None if space_ratio is None else round(space_ratio, 4),
                          "dead_tuples": dead, "vacuum_full_advised": space})
