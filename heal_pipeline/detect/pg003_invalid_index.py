"""invalid_index: leftovers of failed concurrent builds."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register


@register
class InvalidIndex(Check):
    """An index marked invalid — the leftover of a failed CREATE INDEX CONCURRENTLY.

    PostgreSQL keeps updating it on every write but never uses it for reads, and a retried
    ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` silently skips it.

    Anti-pattern::

        CREATE UNIQUE INDEX CONCURRENTLY users_email_uq ON users (email);  -- failed on duplicates

    Best practice::

        DROP INDEX CONCURRENTLY users_email_uq;  -- then fix the data and rebuild, or REINDEX CONCURRENTLY
    """

    issue_type = "invalid_index"
    code = "PG003"
    name = "index.invalid_index"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        for ix in ctx.snapshot.indexes:
            if ix.is_valid or not examined_schema(ix.schema):
                continue
            yield ctx.issue(
                "invalid_index", self.severity,
                f"index {ix.schema}.{ix.name} on {ix.table} is INVALID (failed concurrent build): it "
                f"slows writes and is never used. Fix: DROP INDEX CONCURRENTLY {ix.schema}.{ix.name} "
                f"or REINDEX INDEX CONCURRENTLY",
                schema_name=ix.schema, table_name=ix.table, object_name=ix.name,
                evidence={"definition": ix.definition, "size_bytes": ix.size_bytes,
                          "idx_scan": ix.idx_scan})
