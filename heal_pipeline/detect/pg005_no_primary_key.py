"""no_primary_key: tables without a primary key."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue, Snapshot
from .base import Check, DetectContext, examined_schema, register


def candidate_key(snap: Snapshot, schema: str, table: str) -> list[str] | None:
    """Columns of a valid, non-partial, plain unique index whose columns are all NOT NULL."""
    notnull = {c.name for c in snap.columns_of(schema, table) if c.not_null}
    best: list[str] | None = None
    for ix in snap.indexes_of(schema, table):
        if not (ix.is_unique and ix.is_valid and ix.predicate is None and ix.expressions is None):
            continue
        cols = [c for c in ix.key_columns if c is not None]
        if cols and len(cols) == len(ix.key_columns) and all(c in notnull for c in cols):
            if best is None or len(cols) < len(best):
                best = cols
    return best


@register
class NoPrimaryKey(Check):
    """A table without a primary key.

    Rows cannot be addressed reliably (updates, deletes, logical replication, most ORMs need a
    key), and duplicates creep in unnoticed. When a unique index over NOT NULL columns already
    exists, heal promotes it; otherwise it proposes a manual fix.

    Anti-pattern::

        CREATE TABLE audit_events (happened_at timestamptz, payload jsonb);

    Best practice::

        CREATE UNIQUE INDEX CONCURRENTLY t_key ON t (id);
        ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_key;
    """

    issue_type = "no_primary_key"
    code = "PG005"
    name = "schema.no_primary_key"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        with_pk = {(c.schema, c.table) for c in snap.constraints if c.kind == "primary_key"}
        for t in snap.tables:
            if (t.kind not in ("table", "partitioned") or t.is_partition
                    or not examined_schema(t.schema) or (t.schema, t.name) in with_pk):
                continue
            key = candidate_key(snap, t.schema, t.name)
            hint = (f"promote the unique index on ({', '.join(key)}) with ADD PRIMARY KEY USING INDEX"
                    if key else "add a key column (no unique NOT NULL candidate exists)")
            yield ctx.issue("no_primary_key", self.severity,
                            f"table {t.schema}.{t.name} has no primary key. Fix: {hint}",
                            schema_name=t.schema, table_name=t.name,
                            evidence={"candidate_key": key})
