"""Statement durations from the server log (``log_min_duration_statement``), for ``slow_query``.

With ``log_min_duration_statement = N`` PostgreSQL logs every statement that ran ``N`` ms or longer as
a ``LOG`` record whose message is one of::

    duration: 1012.345 ms  statement: SELECT …             (simple query protocol)
    duration: 1012.345 ms  execute <unnamed>: SELECT …     (extended protocol; named: execute S_1)

in all three destinations the log reader handles (jsonlog ``message``, csvlog column 14, stderr
``LOG:  duration: …`` with tab-indented continuation lines). ``parse``/``bind`` phase lines and a bare
``duration: … ms`` (``log_duration = on``, no statement) carry no statement of their own and are
counted as skipped. :func:`group_durations` groups the records by normalised statement into
:class:`~heal_pipeline.model.LoggedStatement` (calls, total/max ms, first/last seen);
:func:`merge_durations` adds up groups from several reads; :func:`save_durations` /
:func:`load_durations` keep them in ``heal.logged_statements`` (one row per target and statement).

The log holds only the executions at or above the server's threshold, so a group's mean is the
mean of its *slow* executions, not of all executions (pg_stat_statements has those).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from heal_pipeline.model import LoggedStatement

from .normalize import _before, _sort_key, normalize

__all__ = ["DURATION", "parse_duration_message", "group_durations", "merge_durations",
           "save_durations", "load_durations"]

DURATION = re.compile(r"^duration: (?P<ms>\d+(?:\.\d+)?) ms(?:  (?P<phase>statement|execute|parse|bind)"
                      r"(?: (?P<name>[^:]*))?: (?P<sql>.*))?\s*$", re.S)
DURATION_PREFIX = "duration: "
# statements that differ only in plain string/number literals normalise alike: one normalize() call
# per such shape (a log repeats one statement with other values thousands of times)
_LITERALS = re.compile(r"'(?:[^'\\]|'')*'|(?<![\w$.])\d+(?:\.\d+)?(?![\w.])")
_UNSAFE = ('"', "$$", "::", "\\", "--", "/*")


def _normalizer():
    shapes: dict[str, str] = {}

    def norm(stmt: str) -> str:
        if any(u in stmt for u in _UNSAFE):  # quoted names, dollar quotes, typmods, comments: exact
            return normalize(stmt)
        shape = _LITERALS.sub("?", stmt)
        got = shapes.get(shape)
        if got is None:
            got = shapes[shape] = normalize(stmt)
        return got
    return norm


def parse_duration_message(message: str) -> tuple[float, str] | None:
    """(milliseconds, statement) of a ``duration: … statement:/execute …:`` message, else None."""
    m = DURATION.match(message or "")
    if m is None or m["phase"] not in ("statement", "execute"):
        return None
    sql = (m["sql"] or "").strip()
    if not sql:
        return None
    return float(m["ms"]), sql


def group_durations(records: Iterable, *, database: str | None = None,
                    source: str | None = None) -> list[LoggedStatement]:
    """Group duration records (``LogRecord`` with ``duration_ms``) by normalised statement."""
    groups: dict[str, LoggedStatement] = {}
    norm_of = _normalizer()
    for rec in records:
        if rec.duration_ms is None or not rec.statement:
            continue
        if database is not None and rec.database != database and not (rec.database is None and rec.app):
            continue
        norm = norm_of(rec.statement)
        g = groups.get(norm)
        if g is None:
            groups[norm] = LoggedStatement(normalized=norm, statement=rec.statement, calls=1,
                                           total_ms=rec.duration_ms, max_ms=rec.duration_ms,
                                           database=rec.database, first_seen=rec.timestamp,
                                           last_seen=rec.timestamp, source=source or rec.source)
            continue
        g.calls += 1
        g.total_ms += rec.duration_ms
        g.max_ms = max(g.max_ms, rec.duration_ms)
        ts = rec.timestamp
        if ts and (g.first_seen is None or _earlier(ts, g.first_seen)):
            g.first_seen = ts
        if ts and (g.last_seen is None or not _earlier(ts, g.last_seen)):
            g.last_seen, g.statement = ts, rec.statement
    return sorted(groups.values(), key=lambda g: (-g.total_ms, g.normalized))


def _earlier(a: str, b: str) -> bool:
    """``a`` before ``b``: ISO texts of one log share their zone and shape, so they compare as text."""
    if len(a) == len(b) and a[-6:] == b[-6:] and a[10:11] == b[10:11] == "T":
        return a < b
    return _before(a, b)


def merge_durations(*batches: Iterable[LoggedStatement]) -> list[LoggedStatement]:
    """Groups of several reads added up by normalised statement (inputs are not modified)."""
    merged: dict[str, LoggedStatement] = {}
    for batch in batches:
        for g in batch:
            cur = merged.get(g.normalized)
            if cur is None:
                merged[g.normalized] = LoggedStatement(**vars(g))
                continue
            cur.calls += g.calls
            cur.total_ms += g.total_ms
            cur.max_ms = max(cur.max_ms, g.max_ms)
            firsts = [t for t in (cur.first_seen, g.first_seen) if t]
            lasts = [t for t in (cur.last_seen, g.last_seen) if t]
            if g.last_seen and (cur.last_seen is None or not _before(g.last_seen, cur.last_seen)):
                cur.statement = g.statement
            cur.first_seen = min(firsts, key=_sort_key) if firsts else None
            cur.last_seen = max(lasts, key=_sort_key) if lasts else None
    return sorted(merged.values(), key=lambda g: (-g.total_ms, g.normalized))


def save_durations(conn, target_db: str, groups: list[LoggedStatement]) -> None:
    """Upsert into ``heal.logged_statements`` (calls and times accumulate across reads); the caller
    owns the transaction (it stores the log cursor in the same one)."""
    for g in groups:
        conn.execute(
            """INSERT INTO heal.logged_statements (target_db, group_key, normalized, statement, database,
                   calls, total_ms, max_ms, first_seen, last_seen, source)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)
               ON CONFLICT (target_db, group_key) DO UPDATE SET
                   calls = heal.logged_statements.calls + EXCLUDED.calls,
                   total_ms = heal.logged_statements.total_ms + EXCLUDED.total_ms,
                   max_ms = greatest(heal.logged_statements.max_ms, EXCLUDED.max_ms),
                   first_seen = least(heal.logged_statements.first_seen, EXCLUDED.first_seen),
                   last_seen = greatest(heal.logged_statements.last_seen, EXCLUDED.last_seen),
                   statement = EXCLUDED.statement, updated_at = now()""",
            (target_db, g.group_key, g.normalized, g.statement, g.database, g.calls, g.total_ms,
             g.max_ms, g.first_seen, g.last_seen, g.source))


def load_durations(conn, target_db: str) -> list[LoggedStatement]:
    rows = conn.execute(
        "SELECT normalized, statement, calls, total_ms, max_ms, database, first_seen::text,"
        " last_seen::text, source FROM heal.logged_statements WHERE target_db = %s ORDER BY group_key",
        (target_db,)).fetchall()
    return [LoggedStatement(normalized=r[0], statement=r[1], calls=r[2], total_ms=r[3], max_ms=r[4],
                            database=r[5], first_seen=r[6], last_seen=r[7], source=r[8]) for r in rows]
