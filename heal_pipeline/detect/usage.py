"""The observation window of ``unused_table`` (issue 12.1): statistics deltas between snapshots.

A table is used when its counters grew between a *baseline* and the current snapshot, once the scans
heal itself caused are taken out. The counters are ``seq_scan``, ``idx_scan``, ``n_tup_ins``,
``n_tup_upd`` and ``n_tup_del`` of ``pg_stat_user_tables`` (cumulative since the statistics epoch);
for ``unused_index``, the index's own ``idx_scan``.

Baseline, for a window ``W`` > 0 and the current snapshot taken at ``now`` (one rule for ``heal
check`` and for the Dagster ``issue_set``; both read the same heal store, ``HEAL_STORE_URL``):

1. the newest stored snapshot of the target with ``taken_at <= now - W`` and ``taken_at < now``,
   when it belongs to the same statistics epoch (the same ``pg_stat_database.stats_reset``);
2. else the start of the epoch (every counter 0 at ``stats_reset``), when ``stats_reset`` is known
   and ``stats_reset <= now - W`` — or, for ``W = 0``, even when it is unknown (the epoch certainly
   started before now);
3. else there is none: ``unused_table`` is reported as not checked, with the reason and the moment
   the window will be covered.

``W`` = 0 (no observation wait, as on the demo) always takes the epoch start: everything the counters
hold, not the one schedule tick since the previous snapshot.

heal's own scans: every read-only data transaction of detection (relationship containment samples,
orphan counts) reads ``pg_stat_xact_user_tables`` just before it rolls back and adds those scans to
``heal.own_reads`` (written with the detection results). The delta of a table is its counter growth
minus the ledger's scans recorded in ``(baseline, now]``.

This module is plain Python over psycopg (no Dagster).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg

from ..errors import HealError, first_line
from ..model import Snapshot, Table

COUNTERS = ("seq_scan", "idx_scan", "n_tup_ins", "n_tup_upd", "n_tup_del")
#: the start of a statistics epoch whose time is unknown (never reset): certainly before now
EPOCH_UNKNOWN = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

Key = tuple[str, str]


def _ts(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    d = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def counters(t: Table) -> tuple[int, ...]:
    return tuple(int(getattr(t, c) or 0) for c in COUNTERS)


@dataclass
class UsageBaseline:
    """Where the window starts: a stored snapshot, or the statistics epoch start (all counters 0)."""

    kind: str  # "snapshot" | "stats_reset"
    at: dt.datetime
    now: dt.datetime
    window_s: float
    tables: dict[Key, tuple[int, ...]] | None = None  # None for the epoch start (every counter 0)
    indexes: dict[Key, int] | None = None  # (schema, index) → idx_scan; None for the epoch start
    snapshot_id: int | None = None
    own_reads: dict[Key, tuple[int, int]] = field(default_factory=dict)  # heal's scans in (at, now]
    own_index_reads: dict[Key, int] = field(default_factory=dict)  # (schema, index) → heal's scans
    ledger: str = "ok"  # "ok" | "not available: …" (heal check on a store without heal.own_reads)

    @property
    def seconds(self) -> float | None:
        return None if self.at == EPOCH_UNKNOWN else (self.now - self.at).total_seconds()

    def since(self) -> str:
        """Human wording of the window, for issue details."""
        if self.seconds is None:
            return "since the statistics epoch started (stats_reset unknown; window 0)"
        return f"over {self.seconds / 86400:.1f} days (since the {self.kind} baseline of {self.at.isoformat()})"

    def before(self, key: Key) -> tuple[int, ...] | None:
        """The table's counters at the baseline; None when it did not exist in the baseline snapshot."""
        if self.tables is None:
            return (0,) * len(COUNTERS)
        return self.tables.get(key)

    def index_before(self, key: Key) -> int | None:
        """An index's idx_scan at the baseline; None when it did not exist in the baseline snapshot."""
        if self.indexes is None:
            return 0
        return self.indexes.get(key)

    def describe(self) -> dict:
        return {"baseline": self.kind, "baseline_at": None if self.at == EPOCH_UNKNOWN else self.at.isoformat(),
                "now": self.now.isoformat(),
                "seconds": None if self.seconds is None else round(self.seconds, 1), "window_s": self.window_s,
                "snapshot_id": self.snapshot_id, "ledger": self.ledger}


def epoch_baseline(snap: Snapshot, window_s: float, *, covered: bool = False,
                   coverage_s: float | None = None) -> UsageBaseline | None:
    """Rule 2: the epoch start, when ``stats_reset`` is known and at least ``window_s`` old.

    ``covered`` (the post-fix re-detection: "the window is treated as covered", or a caller without a
    heal store that states how long the counters cover, ``coverage_s``) accepts the epoch start whatever
    its age — the question there is whether the table is still in the state that made it an issue."""
    now = _ts(snap.taken_at)
    reset = _ts(snap.stats_reset)
    if now is None:
        return None
    if covered:
        at = now - dt.timedelta(seconds=coverage_s) if coverage_s is not None and coverage_s != float("inf") \
            else (reset or now)
        return UsageBaseline("stats_reset", at, now, window_s)
    if reset is None:
        # never reset: the epoch started at an unknown moment, certainly <= now — enough for window 0
        return UsageBaseline("stats_reset", EPOCH_UNKNOWN, now, window_s) if window_s <= 0 else None
    if (now - reset).total_seconds() < window_s:
        return None
    return UsageBaseline("stats_reset", reset, now, window_s)


def own_reads_of_transaction(conn: psycopg.Connection) -> list[tuple[tuple, int, int]]:
    """The scans the current transaction caused (not yet flushed to the shared statistics): one row per
    user table ``((schema, table), seq, idx)`` and one per index it scanned ``((schema, table, index), 0, n)``."""
    try:
        rows = conn.execute(
            "SELECT schemaname::text, relname::text, coalesce(seq_scan, 0), coalesce(idx_scan, 0)"
            "  FROM pg_stat_xact_user_tables WHERE coalesce(seq_scan, 0) + coalesce(idx_scan, 0) > 0").fetchall()
        idx = conn.execute(
            """SELECT n.nspname::text, t.relname::text, i.relname::text, pg_stat_get_xact_numscans(x.indexrelid)
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                 JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE x.indrelid IN (SELECT relid FROM pg_stat_xact_user_tables WHERE idx_scan > 0)
                  AND pg_stat_get_xact_numscans(x.indexrelid) > 0""").fetchall() if any(r[3] for r in rows) else []
    except psycopg.Error:
        return []  # an aborted transaction: nothing can be read (and nothing is recorded)
    return ([((s, t), int(q), int(i)) for s, t, q, i in rows]
            + [((s, t, ix), 0, int(n)) for s, t, ix, n in idx])


def flush_own_stats(conn: psycopg.Connection) -> None:
    """Make this session's counters visible now, not when it disconnects (asynchronously): the ledger
    written right after must never precede the scans it accounts for in the next snapshot."""
    try:
        conn.execute("SELECT pg_stat_force_next_flush()")  # PostgreSQL 15+; EXECUTE granted to PUBLIC
        if not conn.autocommit:
            conn.rollback()  # the flush happens as the backend goes idle outside a transaction
    except psycopg.Error:
        try:
            conn.rollback()
        except psycopg.Error:
            pass


def record_own_reads(conn: psycopg.Connection, target_db: str, run_id: str | None, source: str,
                     reads: dict) -> int:
    """Append heal's own scans to the ledger (inside the caller's transaction)."""
    rows = [(target_db, run_id, source, k[0], k[1], k[2] if len(k) > 2 else None, int(v[0]), int(v[1]))
            for k, v in sorted(reads.items(), key=lambda kv: tuple(x or "" for x in kv[0]))]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO heal.own_reads (target_db, run_id, source, schema_name, table_name, index_name,"
            " seq_scan, idx_scan) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return len(rows)


def load_usage_baseline(store_dsn: str | None, target_db: str, snap: Snapshot,
                        window_s: float) -> UsageBaseline | str:
    """Rule 1 from the heal store's snapshot history, else rule 2; a reason string when neither applies."""
    from ..db import connect  # noqa: PLC0415

    now = _ts(snap.taken_at)
    fallback = epoch_baseline(snap, window_s)
    if store_dsn is None:
        return fallback or _no_baseline(snap, window_s, "no heal store configured")
    try:
        conn = connect(store_dsn, purpose="heal store", autocommit=True)
    except HealError as exc:
        return fallback or _no_baseline(snap, window_s, f"heal store not readable ({exc})")
    try:
        has = conn.execute("SELECT to_regclass('heal.schema_snapshots') IS NOT NULL,"
                           " to_regclass('heal.own_reads') IS NOT NULL").fetchone()
        if not has[0]:
            return fallback or _no_baseline(snap, window_s, "the heal store holds no snapshot history yet")
        if window_s <= 0:
            # W = 0 (no observation wait, the demo): the epoch start — everything the counters hold; the
            # previous snapshot would make a window of one schedule tick (5 minutes)
            base = fallback
        else:
            row = conn.execute(
                """SELECT snapshot_id, taken_at, stats_reset IS NOT DISTINCT FROM %s::timestamptz
                     FROM heal.schema_snapshots
                    WHERE target_db = %s AND taken_at < %s::timestamptz
                      AND taken_at <= %s::timestamptz - make_interval(secs => %s)
                    ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1""",
                (snap.stats_reset, target_db, snap.taken_at, snap.taken_at, float(window_s))).fetchone()
            if row is None or not row[2]:
                why = ("the statistics were reset after the newest snapshot old enough" if row is not None
                       else None)
                if fallback is not None:
                    base = fallback
                else:
                    oldest = conn.execute("SELECT min(taken_at) FROM heal.schema_snapshots WHERE target_db = %s",
                                          (target_db,)).fetchone()[0]
                    return _no_baseline(snap, window_s, why, oldest)
            else:
                sid, taken = int(row[0]), _ts(row[1])
                tables = {(s, t): tuple(int(x or 0) for x in vals) for s, t, *vals in conn.execute(
                    """SELECT e->>'schema', e->>'name', (e->>'seq_scan')::bigint, (e->>'idx_scan')::bigint,
                              (e->>'n_tup_ins')::bigint, (e->>'n_tup_upd')::bigint, (e->>'n_tup_del')::bigint
                         FROM heal.schema_snapshots s, jsonb_array_elements(s.snapshot->'tables') e
                        WHERE s.snapshot_id = %s""", (sid,)).fetchall()}
                indexes = {(s, i): int(n or 0) for s, i, n in conn.execute(
                    """SELECT e->>'schema', e->>'name', (e->>'idx_scan')::bigint
                         FROM heal.schema_snapshots s, jsonb_array_elements(s.snapshot->'indexes') e
                        WHERE s.snapshot_id = %s""", (sid,)).fetchall()}
                base = UsageBaseline("snapshot", taken, now, window_s, tables=tables, indexes=indexes,
                                     snapshot_id=sid)
        if has[1]:
            for s, t, ix, q, i in conn.execute(
                    """SELECT schema_name, table_name, index_name, sum(seq_scan), sum(idx_scan) FROM heal.own_reads
                        WHERE target_db = %s AND recorded_at > %s AND recorded_at <= %s::timestamptz
                        GROUP BY 1, 2, 3""", (target_db, base.at, snap.taken_at)).fetchall():
                if ix is None:
                    base.own_reads[(s, t)] = (int(q), int(i))
                else:
                    base.own_index_reads[(s, ix)] = int(i)
        else:
            base.ledger = "not available: the heal store predates heal.own_reads (migration 0015)"
        return base
    except psycopg.Error as exc:
        return fallback or _no_baseline(snap, window_s, f"heal store not readable ({first_line(exc)})")
    finally:
        conn.close()


def _no_baseline(snap: Snapshot, window_s: float, why: str | None = None, oldest=None) -> str:
    now = _ts(snap.taken_at)
    parts = [f"no statistics baseline at least {window_s:.0f}s old"]
    if oldest is not None and now is not None:
        first = _ts(oldest)
        parts.append(f"the first snapshot of this target was taken at {first.isoformat()}, so the window "
                     f"is covered from {(first + dt.timedelta(seconds=window_s)).isoformat()}")
    else:
        parts.append("no earlier snapshot of this target in the heal store")
    reset = _ts(snap.stats_reset)
    parts.append(f"stats_reset {reset.isoformat() if reset else 'unknown (never reset)'}")
    if why:
        parts.append(why)
    return "; ".join(parts)
