"""slow_query: statements whose mean execution time is above the threshold."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register


@register
class SlowQuery(Check):
    """A statement whose mean execution time is above the threshold (pg_stat_statements).

    Defaults follow pghero's spirit with a higher bar for a five-minute loop: mean ≥ 200 ms over at
    least 3 calls (``Thresholds.slow_query_mean_ms`` / ``slow_query_min_calls``). When
    pg_stat_statements is not loaded, the check reports itself as not checked instead of clean.

    Anti-pattern::

        SELECT count(*) FROM events WHERE payload->>'campaign' = $1;  -- seq scan of a big table

    Best practice::

        CREATE INDEX CONCURRENTLY events_campaign_idx ON events ((payload->>'campaign'));
    """

    issue_type = "slow_query"
    code = "PG007"
    name = "performance.slow_query"
    severity = "warning"
    fixable = False

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        if snap.pg_stat_statements != "ok":
            ctx.not_checked("slow_query", f"pg_stat_statements: {snap.pg_stat_statements}")
            return
        th = ctx.thresholds
        for st in snap.statements:
            if st.mean_ms < th.slow_query_mean_ms or st.calls < th.slow_query_min_calls:
                continue
            text = " ".join(st.query.split())
            yield ctx.issue(
                "slow_query", self.severity,
                f"query averages {st.mean_ms:.0f} ms over {st.calls} calls "
                f"({st.total_ms / 1000:.1f} s in total): {text[:160]}",
                object_name=st.query.strip(),
                evidence={"calls": st.calls, "mean_ms": round(st.mean_ms, 2),
                          "total_ms": round(st.total_ms, 2), "queryid": st.queryid,
                          "source": "pg_stat_statements"})
