"""unused_table: tables nothing reads — no code, no view, no FK, no scans over the window."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register
from .coderefs import referenced_tables


@register
class UnusedTable(Check):
    """A table no code references and no query has scanned during the observation window.

    Requires all of: no reference in the application's SQL, no view depending on it, no foreign
    key on either side, zero sequential and index scans since the statistics were reset, and
    statistics covering at least ``HEAL_OBSERVATION_WINDOW``. The fix archives the table (moves it
    to the ``heal_archive`` schema); heal never drops it.

    Anti-pattern::

        -- legacy_exports: written once in 2019, read by nothing since

    Best practice::

        ALTER TABLE legacy_exports SET SCHEMA heal_archive;  -- reversible; drop later by hand
    """

    issue_type = "unused_table"
    code = "PG006"
    name = "schema.unused_table"
    severity = "info"
    fixable = True
    needs = ("snapshot", "code")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        if ctx.code is None:
            ctx.not_checked("unused_table", "code not scanned: cannot tell which tables the code uses")
            return
        window = ctx.thresholds.observation_window_s
        if ctx.stats_coverage_s is None or ctx.stats_coverage_s < window:
            ctx.not_checked("unused_table", "statistics cover less than the observation window "
                            f"({ctx.stats_coverage_s or 0:.0f}s of {window:.0f}s)")
            return
        snap = ctx.snapshot
        used = referenced_tables(ctx, ctx.code)
        in_views = {(d.table_schema, d.table_name) for d in snap.view_dependencies}
        in_fks = set()
        for c in snap.constraints:
            if c.kind == "foreign_key":
                in_fks.add((c.schema, c.table))
                in_fks.add((c.ref_schema, c.ref_table))
        for t in snap.tables:
            key = (t.schema, t.name)
            if (t.kind != "table" or not examined_schema(t.schema) or key in used or key in in_views
                    or key in in_fks or t.seq_scan or t.idx_scan):
                continue
            yield ctx.issue(
                "unused_table", self.severity,
                f"table {t.schema}.{t.name} (~{max(t.estimated_rows, 0)} rows) is not referenced by the "
                f"code, any view or FK, and was not scanned while statistics covered "
                f"{ctx.stats_coverage_s / 86400:.1f} days. Fix: archive it (ALTER TABLE … SET SCHEMA heal_archive)",
                schema_name=t.schema, table_name=t.name,
                evidence={"seq_scan": t.seq_scan, "idx_scan": t.idx_scan,
                          "stats_since": snap.stats_reset, "estimated_rows": t.estimated_rows})
