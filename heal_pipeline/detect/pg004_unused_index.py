"""unused_index: never scanned over the observation window."""

from __future__ import annotations

from typing import Iterable

from ..model import Index, Issue, Snapshot
from .base import Check, DetectContext, examined_schema, register
from .indexes import droppable, duplicate_indexes, usable


@register
class UnusedIndex(Check):
    """A non-unique index that was never scanned during the observation window.

    Statistics-reset aware: nothing is reported until the counters cover the observation window
    (``HEAL_OBSERVATION_WINDOW``), so a freshly restored database does not look unused
    (ankane/pghero#140). Indexes that are redundant (reported as duplicate_index), the only index
    covering a foreign key, or on an unused table are not reported here.

    Anti-pattern::

        CREATE INDEX events_payload_idx ON events (payload_kind);  -- no query ever uses it

    Best practice::

        DROP INDEX CONCURRENTLY events_payload_idx;  -- after checking replicas use it neither
    """

    issue_type = "unused_index"
    code = "PG004"
    name = "index.unused_index"
    severity = "info"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        window = ctx.thresholds.observation_window_s
        if ctx.stats_coverage_s is None or ctx.stats_coverage_s < window:
            ctx.not_checked("unused_index", "statistics cover less than the observation window "
                            f"({ctx.stats_coverage_s or 0:.0f}s of {window:.0f}s)")
            return
        snap = ctx.snapshot
        redundant = {(r.schema, r.name) for r, _c, _k in ctx.memo("duplicates", lambda: duplicate_indexes(snap))}
        from . import issues_of  # memoised per context: whichever check runs first computes it once

        unused_tables = {(i.schema_name, i.table_name) for i in issues_of(ctx, "unused_table")}
        for ix in snap.indexes:
            if (not examined_schema(ix.schema) or not ix.is_valid or not droppable(ix)
                    or ix.idx_scan > 0 or (ix.schema, ix.name) in redundant
                    or (ix.schema, ix.table) in unused_tables):
                continue
            if self._only_fk_cover(snap, ix):
                continue
            yield ctx.issue(
                "unused_index", self.severity,
                f"index {ix.schema}.{ix.name} on {ix.table} was never scanned while statistics "
                f"covered {ctx.stats_coverage_s / 86400:.1f} days; it costs every write and "
                f"{ix.size_bytes} bytes. Fix: DROP INDEX CONCURRENTLY {ix.schema}.{ix.name}",
                schema_name=ix.schema, table_name=ix.table, object_name=ix.name,
                evidence={"definition": ix.definition, "size_bytes": ix.size_bytes,
                          "idx_scan": ix.idx_scan})

    @staticmethod
    def _only_fk_cover(snap: Snapshot, ix: Index) -> bool:
        for con in snap.constraints_of(ix.schema, ix.table):
            if con.kind != "foreign_key":
                continue
            n = len(con.columns)
            if tuple(ix.key_columns[:n]) != tuple(con.columns):
                continue
            others = [o for o in snap.indexes_of(ix.schema, ix.table)
                      if o.name != ix.name and usable(o) and tuple(o.key_columns[:n]) == tuple(con.columns)]
            if not others:
                return True
        return False
