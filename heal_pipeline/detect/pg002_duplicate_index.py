"""duplicate_index: identical or prefix-covered indexes."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register
from .indexes import duplicate_indexes, referenced_by_fks


@register
class DuplicateIndex(Check):
    """An index made redundant by another index on the same table.

    Identical definitions (same method, key columns, expressions, predicate and operator classes),
    or a non-unique index whose columns are a leading prefix of another index with the same method
    and predicate. Every redundant index slows every write and takes space for nothing. Two
    identical UNIQUE indexes (also the same INCLUDE columns and NULLS [NOT] DISTINCT, neither backing
    a deferrable constraint) enforce one rule twice: one is kept — the primary key, else a
    constraint's index, else one that foreign keys reference, else the earlier name — and the other
    is reported. A unique index is never reported as a *prefix* duplicate (uniqueness of fewer
    columns is a stronger rule).

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
        refs = referenced_by_fks(ctx.snapshot)
        for red, cov, kind in ctx.memo("duplicates", lambda: duplicate_indexes(ctx.snapshot)):
            what = "is identical to" if kind == "identical" else "is a prefix of"
            fks = refs.get((red.schema, red.name), [])
            if red.constraint_name:
                fix = (f"ALTER TABLE {red.schema}.{red.table} DROP CONSTRAINT {red.constraint_name} "
                       f"(it backs that constraint; {cov.name} enforces the same rule)")
            else:
                fix = f"DROP INDEX CONCURRENTLY {red.schema}.{red.name}"
            if fks:
                fix += f" — first re-point FK {', '.join(fks)}, which references it"
            unique = "unique " if red.is_unique else ""
            yield ctx.issue(
                "duplicate_index", self.severity,
                f"{unique}index {red.schema}.{red.name} {what} {cov.name} on {red.table}; it only costs "
                f"writes and {red.size_bytes} bytes. Fix: {fix}",
                schema_name=red.schema, table_name=red.table, object_name=red.name,
                evidence={"definition": red.definition, "covered_by": cov.name,
                          "covered_by_definition": cov.definition, "kind": kind,
                          "size_bytes": red.size_bytes, "unique": red.is_unique,
                          "constraint": red.constraint_name, "referenced_by_fks": fks})
