"""unused_index: never scanned over the observation window."""

from __future__ import annotations

from typing import Iterable

from ..model import Index, Issue, Snapshot
from .base import Check, DetectContext, examined_schema, register
from .indexes import droppable, duplicate_indexes, usable


@register
class UnusedIndex(Check):
    """A non-unique index that was never scanned during the observation window.

    The same window as ``unused_table`` (heal_pipeline/detect/usage.py, issue 12.1): the index's
    ``idx_scan`` did not grow between the baseline (the newest stored snapshot at least
    ``HEAL_OBSERVATION_WINDOW`` old in the same statistics epoch, else the epoch start when
    ``stats_reset`` is that old) and now, once heal's own scans of it (heal.own_reads) are taken out —
    one rule for ``heal check`` and Dagster. Without a baseline nothing is reported (not checked), so
    a freshly restored database does not look unused (ankane/pghero#140). Indexes that are redundant
    (reported as duplicate_index), the only index covering a foreign key, created after the baseline,
    on an unused table, or the covering index of a duplicate that was scanned (dropping the duplicate
    moves those scans to it) are not reported here.

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
        from .pg006_unused_table import UnusedTable  # noqa: PLC0415  (the shared window)

        base = UnusedTable.baseline(ctx)
        if isinstance(base, str):
            ctx.not_checked("unused_index", base)
            return
        snap = ctx.snapshot
        pairs = ctx.memo("duplicates", lambda: duplicate_indexes(snap))
        redundant = {(r.schema, r.name) for r, _c, _k in pairs}

        def delta(ix) -> int | None:
            before = base.index_before((ix.schema, ix.name))
            return None if before is None else ix.idx_scan - before - base.own_index_reads.get((ix.schema, ix.name), 0)
        # the scans of a redundant index are scans its covering index would have served: dropping the
        # duplicate moves them there, so the cover is never "unused" while its twin is used
        served: dict[tuple[str, str], int] = {}
        for r, c, _k in pairs:
            d = delta(r)
            if d and d > 0:
                served[(c.schema, c.name)] = served.get((c.schema, c.name), 0) + d
        from . import issues_of  # memoised per context: whichever check runs first computes it once

        unused_tables = {(i.schema_name, i.table_name) for i in issues_of(ctx, "unused_table")}
        for ix in snap.indexes:
            if (not examined_schema(ix.schema) or not ix.is_valid or not droppable(ix)
                    or (ix.schema, ix.name) in redundant or (ix.schema, ix.table) in unused_tables):
                continue
            before = base.index_before((ix.schema, ix.name))
            if before is None:
                continue  # created after the baseline: not watched for a whole window
            heal = base.own_index_reads.get((ix.schema, ix.name), 0)
            grew = ix.idx_scan - before
            if grew < 0:
                ctx.not_checked("unused_index", f"{ix.schema}.{ix.name}: idx_scan went backwards since the "
                                f"baseline of {base.at.isoformat()} (statistics reset): not judged")
                continue
            if grew - heal > 0 or served.get((ix.schema, ix.name), 0) > 0:
                continue
            if self._only_fk_cover(snap, ix):
                continue
            yield ctx.issue(
                "unused_index", self.severity,
                f"index {ix.schema}.{ix.name} on {ix.table} was not scanned {base.since()}, heal's own scans "
                f"excluded; it "
                f"costs every write and {ix.size_bytes} bytes. Fix: DROP INDEX CONCURRENTLY {ix.schema}.{ix.name}",
                schema_name=ix.schema, table_name=ix.table, object_name=ix.name,
                evidence={"definition": ix.definition, "size_bytes": ix.size_bytes,
                          "idx_scan": ix.idx_scan, "window": base.describe(),
                          "delta": max(grew - heal, 0), "heal_reads": heal})

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
