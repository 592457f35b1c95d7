"""Workload watch: measure the statements an index/type change affects, revert it when they got worse.

1. :func:`start_watch` (right after a verified fix): the ``pg_stat_statements`` figures (calls,
   total/mean exec time, shared blocks read/hit, rows) of the statements touching the fix's tables,
   stored in ``heal.workload_watches`` with ``due_at = now + watch_window`` (policy, default 15 min).
   Without pg_stat_statements the watch row says ``cannot_run`` and why (and
   :func:`heal_pipeline.watch.shadow.watch_tier_reason` keeps such fixes from being ``auto``).
2. :func:`evaluate` (pure): per statement, the mean of the calls made *since* the change (deltas of the
   cumulative counters) against the mean before it. A statement is judged once it had
   ``watch_min_calls`` calls since the change and either mean is at least ``regression_floor_ms``.
   Regression: any judged statement's mean +``regression_mean_pct`` (20 %), or the judged set's total
   time at the new means, same calls, +``regression_total_pct`` (10 %). Improvement: the set's total
   time −10 % (``improved_statements`` lists each statement faster by the mean threshold).
3. :func:`evaluate_due` (each scan): due watches are judged; a regression is reverted through the
   normal rollback (:func:`heal_pipeline.apply.executor.rollback_fix`, same no-overwrite rule),
   recorded as ``reverted_regression`` with the figures, and the fingerprint is held
   (``heal.fix_holds``, policy ``hold``, default 7 days) so the fix does not flap. Too few calls:
   the watch waits up to 4 windows, then ends ``inconclusive`` (the fix stays).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import psycopg
from psycopg.types.json import Jsonb

from ..errors import first_line
from ..model import FixPlan

MAX_WAIT_WINDOWS = 4


@dataclass
class Figures:
    queryid: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    shared_blks_read: int = 0
    shared_blks_hit: int = 0
    rows: int = 0


@dataclass
class Thresholds:
    min_calls: int = 20
    mean_pct: float = 20.0
    total_pct: float = 10.0
    floor_ms: float = 1.0

    @classmethod
    def from_policy(cls, policy: Any) -> "Thresholds":
        return cls(policy.watch_min_calls, policy.regression_mean_pct, policy.regression_total_pct,
                   policy.regression_floor_ms)


@dataclass
class Verdict:
    status: str  # regressed | improved | neutral | inconclusive
    judged: int = 0
    waiting: int = 0  # statements with too few calls since the change
    total_before_ms: float = 0.0  # judged set: calls since the change × mean before
    total_after_ms: float = 0.0  # judged set: calls since the change × mean since
    total_change_pct: float | None = None
    regressed_statements: list[dict[str, Any]] = field(default_factory=list)
    improved_statements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _norm(query: str) -> str:
    return " ".join((query or "").split()).lower()


def _pct(before: float, after: float) -> float | None:
    return None if before <= 0 else round(100.0 * (after - before) / before, 2)


def evaluate(before: Iterable[Figures], after: Iterable[Figures], th: Thresholds = Thresholds()) -> Verdict:
    """Compare the figures of the same statements before the change and now (see the module docstring)."""
    prev = {f.queryid: f for f in before}
    # A type change changes the queryid of every statement on the column (the parse tree holds the types):
    # the post-change entry is paired with its pre-change twin by the normalised text, and all its calls are
    # post-change; the frozen pre-change entry is then not "waiting" — it is superseded.
    # Pairing is exact or nothing: the text is unique among the before-entries and among the new ones,
    # and the pre-change entry got no call since (both shapes running at once is not a type change).
    texts = Counter(_norm(f.query) for f in before)
    by_text = {_norm(f.query): f for f in before if texts[_norm(f.query)] == 1}
    after = list(after)
    now_by_id = {a.queryid: a for a in after}
    new_texts = Counter(_norm(a.query) for a in after if a.queryid not in prev)
    twins: dict[str, Figures] = {}
    for a in after:
        t = _norm(a.query)
        if a.queryid in prev or t not in by_text or new_texts[t] != 1:
            continue
        old = by_text[t]
        if old.queryid in now_by_id and now_by_id[old.queryid].calls != old.calls:
            continue
        twins[old.queryid] = a
    v = Verdict("inconclusive")
    for a in after:
        b = prev.get(a.queryid)
        if b is not None and a.queryid in twins and a.calls == b.calls:
            continue  # superseded by its post-change twin
        if b is None and a in twins.values():
            b = by_text[_norm(a.query)]
            if b.calls <= 0:
                continue
            calls, total = a.calls, a.total_ms
        elif b is None or b.calls <= 0:
            continue  # a statement new since the change: nothing to compare with
        elif a.calls >= b.calls:
            calls, total = a.calls - b.calls, a.total_ms - b.total_ms
        else:  # counters reset since the change: everything in "after" is after the change
            calls, total = a.calls, a.total_ms
        if calls < th.min_calls:
            v.waiting += 1
            continue
        mean_before, mean_after = b.total_ms / b.calls, total / calls
        if max(mean_before, mean_after) < th.floor_ms:
            continue
        v.judged += 1
        v.total_before_ms += mean_before * calls
        v.total_after_ms += mean_after * calls
        change = _pct(mean_before, mean_after)
        row = {"queryid": a.queryid, "query": a.query[:200], "calls_since": calls,
               "mean_before_ms": round(mean_before, 4), "mean_after_ms": round(mean_after, 4),
               "change_pct": change}
        if change is not None and change > th.mean_pct:
            v.regressed_statements.append(row)
        elif change is not None and change < -th.mean_pct:
            v.improved_statements.append(row)
    if not v.judged:
        return v
    v.total_before_ms, v.total_after_ms = round(v.total_before_ms, 3), round(v.total_after_ms, 3)
    v.total_change_pct = _pct(v.total_before_ms, v.total_after_ms)
    if v.regressed_statements or (v.total_change_pct is not None and v.total_change_pct > th.total_pct):
        v.status = "regressed"
    elif v.total_change_pct is not None and v.total_change_pct < -th.total_pct:
        v.status = "improved"
    else:
        v.status = "neutral"
    return v


# ---- reading pg_stat_statements -------------------------------------------------------

_QUERY = """
SELECT s.queryid::text, s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.shared_blks_read,
       s.shared_blks_hit, s.rows
  FROM {pgss} s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.query !~ '^\\s*/\\* heal'
   AND s.query ~* ANY (%(patterns)s::text[])
"""


def table_patterns(tables: Iterable[str]) -> list[str]:
    """Case-insensitive regexes (values, never SQL text) matching a statement that names a table."""
    out = []
    for t in tables:
        name = t.split(".")[-1]
        out.append(r'(^|[\s.",(])' + re.escape(name) + r'([\s"),;]|$)')
    return out


def read_figures(conn: psycopg.Connection, tables: Iterable[str]) -> tuple[str, list[Figures]]:
    """("ok", figures) or (reason it cannot run, [])."""
    from psycopg import sql

    row = conn.execute("SELECT e.extnamespace::regnamespace::text FROM pg_extension e "
                       "WHERE e.extname = 'pg_stat_statements'").fetchone()
    if row is None:
        return "pg_stat_statements is not installed in the target database", []
    q = sql.SQL(_QUERY).format(pgss=sql.Identifier(row[0], "pg_stat_statements"))  # type: ignore[arg-type]
    try:
        with conn.transaction():
            rows = conn.execute(q, {"patterns": table_patterns(tables)}).fetchall()
    except psycopg.Error as exc:
        msg = first_line(exc)
        if "shared_preload_libraries" in msg:
            return "pg_stat_statements is not loaded (shared_preload_libraries)", []
        return f"pg_stat_statements cannot be read: {msg}", []
    return "ok", [Figures(r[0], r[1], int(r[2]), float(r[3]), float(r[4]), int(r[5]), int(r[6]), int(r[7]))
                  for r in rows]


# ---- the store ------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def start_watch(store: psycopg.Connection, target_conn: psycopg.Connection, fix_id: int, plan: FixPlan,
                policy: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Record the before-figures of a verified index/type fix; returns the watch row as a dict."""
    now = now or _now()
    status, figures = read_figures(target_conn, plan.tables)
    state = "watching" if status == "ok" else "cannot_run"
    row = store.execute(
        "INSERT INTO heal.workload_watches (fix_id, target_db, fingerprint, issue_type, tables, status, "
        "before_stats, reason, started_at, due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING watch_id",
        (fix_id, plan.target_db, plan.fingerprint, plan.issue_type, list(plan.tables), state,
         Jsonb([asdict(f) for f in figures]), None if status == "ok" else status, now,
         now + dt.timedelta(seconds=policy.watch_window_s))).fetchone()
    return {"watch_id": row[0], "status": state, "reason": None if status == "ok" else status,
            "statements": len(figures)}


@dataclass
class WatchResult:
    watch_id: int
    fix_id: int
    fingerprint: str
    status: str
    verdict: dict[str, Any] | None = None
    reason: str | None = None
    rollback_fix_id: int | None = None

    def metadata(self) -> dict[str, float | int | str]:
        """Numbers for Dagster metadata (the UI plots numeric metadata over runs)."""
        v = self.verdict or {}
        return {"watch_id": self.watch_id, "status": self.status, "judged": v.get("judged", 0),
                "total_before_ms": v.get("total_before_ms", 0.0), "total_after_ms": v.get("total_after_ms", 0.0),
                "total_change_pct": v.get("total_change_pct") if v.get("total_change_pct") is not None else 0.0,
                "regressed": len(v.get("regressed_statements", [])),
                "improved": len(v.get("improved_statements", []))}


def evaluate_due(store: psycopg.Connection, target_conn: psycopg.Connection, target_db: str, policy: Any, *,
                 rollback: Callable[[int], Any], now: dt.datetime | None = None) -> list[WatchResult]:
    """Judge every due watch of ``target_db``; ``rollback(fix_id)`` is the normal rollback entry point
    (``lambda fid: rollback_fix(fid, target_dsn, store_dsn, policy=policy)``)."""
    now = now or _now()
    th = Thresholds.from_policy(policy)
    due = store.execute(
        "SELECT watch_id, fix_id, fingerprint, tables, before_stats, due_at, started_at FROM heal.workload_watches "
        "WHERE target_db = %s AND status = 'watching' AND due_at <= %s ORDER BY due_at", (target_db, now)).fetchall()
    out: list[WatchResult] = []
    for watch_id, fix_id, fp, tables, before_json, due_at, started in due:
        status, after = read_figures(target_conn, tables)
        if status != "ok":
            res = WatchResult(watch_id, fix_id, fp, "cannot_run", reason=status)
            _finish(store, res, after, now)
            out.append(res)
            continue
        before = [Figures(**f) for f in before_json]
        v = evaluate(before, after, th)
        res = WatchResult(watch_id, fix_id, fp, v.status, v.to_dict())
        if v.status == "inconclusive":
            if now < started + (due_at - started) * MAX_WAIT_WINDOWS:
                store.execute("UPDATE heal.workload_watches SET verdict = %s, after_stats = %s WHERE watch_id = %s",
                              (Jsonb(res.verdict), Jsonb([asdict(f) for f in after]), watch_id))
                res.status = "watching"
                out.append(res)
                continue
            res.reason = f"fewer than {th.min_calls} calls since the change after {MAX_WAIT_WINDOWS} windows"
        elif v.status == "regressed":
            rb = rollback(fix_id)
            res.rollback_fix_id = getattr(rb, "fix_id", None)
            if getattr(rb, "status", None) == "rolled_back":
                res.status = "reverted_regression"
                held_until = now + dt.timedelta(seconds=policy.hold_s)
                store.execute(
                    "INSERT INTO heal.fix_holds (target_db, fingerprint, held_until, reason, watch_id) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (target_db, fingerprint) DO UPDATE SET "
                    "held_until = EXCLUDED.held_until, reason = EXCLUDED.reason, watch_id = EXCLUDED.watch_id",
                    (target_db, fp, held_until, f"workload regression (total {v.total_change_pct} %)", watch_id))
            else:
                res.status = "revert_failed"
                res.reason = getattr(rb, "reason", None) or "rollback did not complete"
        else:
            res.status = "improved" if v.status == "improved" else "kept"
        _finish(store, res, after, now)
        out.append(res)
    return out


def _finish(store: psycopg.Connection, res: WatchResult, after: list[Figures], now: dt.datetime) -> None:
    store.execute(
        "UPDATE heal.workload_watches SET status = %s, verdict = %s, after_stats = %s, reason = %s, "
        "rollback_fix_id = %s, evaluated_at = %s WHERE watch_id = %s",
        (res.status, Jsonb(res.verdict) if res.verdict is not None else None, Jsonb([asdict(f) for f in after]),
         res.reason, res.rollback_fix_id, now, res.watch_id))


# ---- one-call entry points for the Dagster wiring ----------------------------------------


def watch_applied(results: Iterable[Any], plans: Iterable[FixPlan], target_dsn: str, store_dsn: str,
                  policy: Any) -> list[dict[str, Any]]:
    """Start a watch for every verified index/type fix among ``results`` (FixResult) of ``plans``."""
    from ..db import connect
    from ..store import open_store
    from .shadow import is_watched

    by_fp = {p.fingerprint: p for p in plans}
    todo = [(r, by_fp[r.fingerprint]) for r in results
            if r.status == "verified" and r.fix_id and r.fingerprint in by_fp and is_watched(by_fp[r.fingerprint])]
    if not todo:
        return []
    out = []
    with open_store(store_dsn) as store, connect(target_dsn, purpose="target database", autocommit=True) as target:
        for r, p in todo:
            out.append(start_watch(store, target, r.fix_id, p, policy))
    return out


def evaluate_due_watches(target_dsn: str, store_dsn: str, target_db: str, policy: Any, *,
                         now: dt.datetime | None = None) -> list[WatchResult]:
    """:func:`evaluate_due` with the normal rollback (:func:`heal_pipeline.apply.executor.rollback_fix`)."""
    from ..apply.executor import rollback_fix
    from ..db import connect
    from ..store import open_store

    with open_store(store_dsn) as store, connect(target_dsn, purpose="target database", autocommit=True) as target:
        return evaluate_due(store, target, target_db, policy, now=now,
                            rollback=lambda fid: rollback_fix(fid, target_dsn, store_dsn, policy=policy))
