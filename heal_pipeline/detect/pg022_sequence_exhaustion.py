"""sequence_exhaustion: a sequence (serial, identity) close to the maximum of its type or column."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register

TYPE_MAX = {"smallint": 32_767, "integer": 2_147_483_647, "bigint": 9_223_372_036_854_775_807}


@register
class SequenceExhaustion(Check):
    """A sequence that has used most of its range: inserts will fail with "nextval: reached maximum".

    The range is the smaller of the sequence's ``MAXVALUE`` and the maximum of the column it feeds
    (a ``bigint`` sequence feeding an ``integer`` column fails at 2,147,483,647 with "integer out of
    range"). heal reports a used share of at least ``sequence_used_ratio`` (75 %; critical from 95 %).
    Cycling and descending sequences are skipped. Fix: widen the column (and the sequence) to
    ``bigint`` — tier approval (a type change rewrites the table under ACCESS EXCLUSIVE).

    Anti-pattern::

        CREATE TABLE events (id serial PRIMARY KEY, ...);   -- 2^31 ids, ~25 days at 1,000/s

    Best practice::

        CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ...);
    """

    issue_type = "sequence_exhaustion"
    code = "PG022"
    name = "maintenance.sequence_exhaustion"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        if snap.maintenance_status != "ok":
            ctx.not_checked(self.issue_type, f"sequences not read ({snap.maintenance_status})")
            return
        for s in snap.sequences:
            if not examined_schema(s.schema) or s.last_value is None or s.cycle or s.increment <= 0:
                continue
            limit = s.max_value
            col_max = TYPE_MAX.get((s.column_type or "").lower())
            if col_max is not None:
                limit = min(limit, col_max)
            if limit <= 0:
                continue
            used = s.last_value / limit
            if used < ctx.thresholds.sequence_used_ratio:
                continue
            feeds = (f"{s.owned_schema}.{s.owned_table}.{s.owned_column} ({s.column_type})"
                     if s.owned_table else "no owning column")
            yield ctx.issue(
                "sequence_exhaustion", "critical" if used >= 0.95 else self.severity,
                f"sequence {s.schema}.{s.name} ({s.data_type}) is at {s.last_value} of {limit} "
                f"({used:.1%} used; feeds {feeds}). Fix: widen to bigint before inserts fail",
                schema_name=s.owned_schema or s.schema, table_name=s.owned_table, column_name=s.owned_column,
                object_name=s.name,
                evidence={"sequence": {"schema": s.schema, "name": s.name}, "data_type": s.data_type,
                          "last_value": s.last_value, "max_value": s.max_value, "limit": limit,
                          "used_ratio": round(used, 6), "remaining": limit - s.last_value,
                          "increment": s.increment, "column_type": s.column_type, "identity": s.identity})
