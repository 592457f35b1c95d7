"""duplicate_index: identical or prefix-covered indexes."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register
from .indexes import duplicate_indexes


@register
class DuplicateIndex(Check):
    """An index made redundant by another index on the same table.

    Identical definitions (same method, key columns, expressions, predicate and operator classes),
    or a non-unique index whose columns are a leading prefix of another index with the same method
    and predicate. Every redundant index slows every write and takes space for nothing. heal never
    reports a unique, primary-key or constraint index as the one to drop.

    Anti-pattern::

        CREATE INDEX orders_user_idx ON orders (user_id);
        CREATE INDEX orders_user_created_idx ON orders (user_id, created_at);  -- covers the first

    Best practice::

        DROP INDEX CONCURRENTLY orders_user_idx;
    """

    issue_type = "duplicate_index"
    code = "PG002"
    name = "index.duplicate_index"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        for red, cov, kind in ctx.memo("duplicates", lambda: duplicate_indexes(ctx.snapshot)):
            what = "is identical to" if kind == "identical" else "is a prefix of"
            yield ctx.issue(
                "duplicate_index", self.severity,
                f"index {red.schema}.{red.name} {what} {cov.name} on {red.table}; it only costs "
                f"writes and {red.size_bytes} bytes. Fix: DROP INDEX CONCURRENTLY {red.schema}.{red.name}",
                schema_name=red.schema, table_name=red.table, object_name=red.name,
                evidence={"definition": red.definition, "covered_by": cov.name,
                          "covered_by_definition": cov.definition, "kind": kind,
                          "size_bytes": red.size_bytes})
