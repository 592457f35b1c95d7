"""slow_query: statements whose mean execution time is above the threshold."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register


@register
class SlowQuery(Check):
    """A statement whose mean execution time is above the threshold (pg_stat_statements, else the log).

    Defaults follow pghero's spirit with a higher bar for a five-minute loop: mean ≥ 200 ms over at
    least 3 calls (``Thresholds.slow_query_mean_ms`` / ``slow_query_min_calls``). Without
    pg_stat_statements the server log's ``duration: … ms  statement: …`` lines
    (``log_min_duration_statement``) are used the same way — the mean there is over the logged
    (slow) executions only. With neither, or with ``log_min_duration_statement`` off or above the
    threshold, the check reports itself as not checked instead of clean. Code statements whose
    generic plan (``EXPLAIN (GENERIC_PLAN)``, PostgreSQL 16+) scans a large table sequentially for a
    selective filter are reported as *likely slow* (``generic_plans.py``).

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
    needs = ("snapshot", "log", "code", "data")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        if snap.pg_stat_statements == "ok":
            measured = list(self._from_statements(ctx))
        else:
            measured = list(self._from_log(ctx))
        from .generic_plans import likely_slow  # noqa: PLC0415

        # a code statement measured slow is that issue (with its call sites), not also "likely slow"
        return measured + list(likely_slow(ctx, measured))

    def _from_statements(self, ctx: DetectContext) -> Iterable[Issue]:
        th = ctx.thresholds
        for st in ctx.snapshot.statements:
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

    def _from_log(self, ctx: DetectContext) -> Iterable[Issue]:
        pgss = f"pg_stat_statements: {ctx.snapshot.pg_stat_statements}"
        if ctx.durations is None:
            ctx.not_checked("slow_query", f"{pgss}; no server log read for duration lines (HEAL_QUERY_LOG)")
            return
        th = ctx.thresholds
        setting, why = _log_min_duration(ctx)
        if not ctx.durations:
            if setting is None:
                ctx.not_checked("slow_query", f"{pgss}; the log has no duration lines and "
                                f"log_min_duration_statement could not be read ({why})")
                return
            if setting < 0:
                ctx.not_checked("slow_query", f"{pgss}; log_min_duration_statement = -1: the server "
                                "logs no statement durations")
                return
        if setting is not None and setting > th.slow_query_mean_ms:
            ctx.not_checked("slow_query", f"{pgss}; log_min_duration_statement = {setting} ms is above "
                            f"the {th.slow_query_mean_ms:g} ms threshold: statements in between are not seen")
        since = _since(ctx.snapshot.taken_at, th.slow_query_log_window_s)
        for g in ctx.durations:
            if g.mean_ms < th.slow_query_mean_ms or g.calls < th.slow_query_min_calls:
                continue
            if since is not None and g.last_seen and _ts(g.last_seen) is not None and _ts(g.last_seen) < since:
                continue  # not logged for a week: fixed, or no longer run (its history stays in the store)
            text = " ".join(g.statement.split())
            yield ctx.issue(
                "slow_query", self.severity,
                f"query averages {g.mean_ms:.0f} ms over {g.calls} logged executions (max "
                f"{g.max_ms:.0f} ms; server log, log_min_duration_statement): {text[:160]}",
                object_name=g.normalized,
                evidence={"calls": g.calls, "mean_ms": round(g.mean_ms, 2), "total_ms": round(g.total_ms, 2),
                          "max_ms": round(g.max_ms, 2), "queryid": None, "source": "log",
                          "statement": g.statement[:2000], "first_seen": g.first_seen,
                          "last_seen": g.last_seen, "log": g.source,
                          "log_min_duration_statement_ms": setting})


def _ts(text: str | None) -> float | None:
    from datetime import datetime  # noqa: PLC0415

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return None


def _since(taken_at: str | None, window_s: float) -> float | None:
    t = _ts(taken_at)
    return None if t is None else t - window_s


def _log_min_duration(ctx: DetectContext) -> tuple[int | None, str]:
    """The server's ``log_min_duration_statement`` in ms (-1 = off), or (None, why not)."""
    def build():
        if ctx.connect is None:
            return None, "no database connection"
        try:
            with ctx.data() as conn:
                row = conn.execute("SELECT setting::int FROM pg_catalog.pg_settings"
                                   " WHERE name = 'log_min_duration_statement'").fetchone()
        except Exception as exc:  # noqa: BLE001 - a lost server: unknown, never "off"
            return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (row[0], "") if row else (None, "not in pg_settings")
    return ctx.memo("log_min_duration_statement", build)  # type: ignore[return-value]
