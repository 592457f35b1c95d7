"""fk_without_index: FK columns not covered by a valid index."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register
from .indexes import fk_is_covered, index_name


@register
class FkWithoutIndex(Check):
    """A foreign key whose columns are not the leading columns of a valid index.

    Every DELETE or key UPDATE on the parent table must find the referencing rows; without an
    index on the child's FK columns each one is a sequential scan of the child, under a lock.
    Composite indexes and primary keys count when the FK columns are their leading prefix, in
    order (splinter 0001 / pg-index-health; the false positive of supabase/splinter#90 avoided).

    Anti-pattern::

        CREATE TABLE orders (id bigint PRIMARY KEY, user_id int REFERENCES users (id));

    Best practice::

        CREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);
    """

    issue_type = "fk_without_index"
    code = "PG001"
    name = "index.fk_without_index"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        for con in snap.constraints:
            if con.kind != "foreign_key" or not examined_schema(con.schema):
                continue
            if fk_is_covered(snap, con.schema, con.table, con.columns):
                continue
            cols = ", ".join(con.columns)
            yield ctx.issue(
                "fk_without_index", self.severity,
                f"FK {con.name} on {con.schema}.{con.table} ({cols}) has no index with these leading "
                f"columns: deletes/updates on {con.ref_schema}.{con.ref_table} scan {con.table}. "
                f"Fix: CREATE INDEX CONCURRENTLY ON {con.schema}.{con.table} ({cols})",
                schema_name=con.schema, table_name=con.table, object_name=con.name,
                evidence={"columns": list(con.columns),
                          "parent": {"schema": con.ref_schema, "table": con.ref_table},
                          "suggested_index": index_name(con.table, con.columns)})
