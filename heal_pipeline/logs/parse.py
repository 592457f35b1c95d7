"""Log parsing: PostgreSQL jsonlog, csvlog and stderr, and a plain one-line application format.

Bytes in, :class:`LogRecord` objects out. Nothing here opens files except :func:`parse_file`; the
incremental reader (``tail.py``) hands :func:`parse_chunk` the new bytes of a file and gets back
the records *and* how many bytes were complete enough to consume, so a partial final line (or a
csvlog record whose quoted field is still open) stays for the next read.

Formats (``FORMATS``):

``jsonlog``  PostgreSQL 15+ ``log_destination = 'jsonlog'``: one JSON object per line, keys
             ``timestamp, user, dbname, pid, error_severity, state_code, message, detail, hint,
             statement, cursor_position, context, internal_query, application_name, backend_type,
             query_id, …``; absent keys are omitted.
``csvlog``   ``log_destination = 'csvlog'``: 23 (PG ≤ 12), 24 (PG 13) or 26 (PG 14–18) columns.
             Messages and statements may contain newlines inside quoted fields, so one record can
             span several lines; a record is complete when its double quotes balance.
``plain``    one failure per line, for application logs::

                 <ISO timestamp> <ERROR|FATAL|PANIC> <SQLSTATE> [db=<name>] [user=<name>] <message> [| STATEMENT: <sql>]
                 2026-11-22T01:25:34.244Z ERROR 42P01 db=shop relation "x" does not exist | STATEMENT: select * from x

             The statement runs to the end of the line. Lines that match nothing are counted as
             ``unrecognised`` (with samples; not garbage: an application log has other lines). The same reader also accepts
             PostgreSQL's own stderr format (``… ERROR:  msg`` followed by ``… DETAIL:  …`` /
             ``… STATEMENT:  sql`` lines and tab-indented continuation lines, any
             ``log_line_prefix`` that keeps the timestamp first); stderr carries no SQLSTATE unless
             ``log_error_verbosity = verbose`` (``ERROR:  42P01: …``), so it is inferred from the
             message for the codes in ``sqlstate.py``; errors it cannot be inferred for are counted
             as ``unrecognised``.

A ``jsonlog`` line without PostgreSQL's ``error_severity`` key is an application's own JSON line,
read through a configurable key mapping (``applog.py``). ``LOG`` records ``duration: … ms  statement:
…`` (``log_min_duration_statement``) are returned in ``ChunkResult.durations`` (``durations.py``).

Only failed queries are kept by default: severity ERROR, FATAL or PANIC with a SQLSTATE other than
``00000``. Timestamps are normalised to ISO 8601 (``2026-11-22T01:25:34.244+00:00``) when the zone is
UTC/GMT/Z or a numeric offset; other zone abbreviations are kept as written.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from heal_pipeline.errors import HealError

__all__ = ["FORMATS", "FAILURE_SEVERITIES", "LogRecord", "Garbage", "ChunkResult", "detect_format",
           "resolve_format", "parse_chunk", "parse_text", "parse_file", "iso_timestamp"]

FORMATS = ("jsonlog", "csvlog", "plain")
_ALIASES = {"json": "jsonlog", "jsonlog": "jsonlog", "jsonl": "jsonlog", "csv": "csvlog",
            "csvlog": "csvlog", "plain": "plain", "stderr": "plain", "text": "plain", "log": "plain"}
FAILURE_SEVERITIES = frozenset({"ERROR", "FATAL", "PANIC"})
MAX_GARBAGE_SAMPLES = 20


@dataclass
class LogRecord:
    """One server or application log record (only failures are kept unless asked otherwise)."""

    severity: str
    sqlstate: str | None
    message: str
    timestamp: str | None = None
    database: str | None = None
    user: str | None = None
    detail: str | None = None
    hint: str | None = None
    context: str | None = None
    statement: str | None = None
    cursor_position: int | None = None  # 1-based character position in ``statement``
    internal_query: str | None = None
    application: str | None = None
    pid: int | None = None
    session_id: str | None = None
    backend_type: str | None = None
    query_id: int | None = None
    sqlstate_inferred: bool = False  # stderr without %e / verbose: guessed from the message
    offset: int | None = None  # byte offset of the record in its file
    line: int | None = None  # 1-based line number (None when the reader started mid-file)
    source: str | None = None
    duration_ms: float | None = None  # a ``duration: … ms  statement: …`` LOG record (durations.py)
    app: bool = False  # from an application log line (no server attribution: kept for any database)

    @property
    def is_failure(self) -> bool:
        return (self.severity in FAILURE_SEVERITIES and bool(self.sqlstate) and self.sqlstate != "00000"
                and self.application != "heal_verify")  # heal_pipeline.verify's own rejected PREPAREs


@dataclass(frozen=True)
class Garbage:
    offset: int
    line: int | None
    reason: str
    text: str  # the first 120 characters

    def to_dict(self) -> dict:
        return {"offset": self.offset, "line": self.line, "reason": self.reason, "text": self.text}


@dataclass
class ChunkResult:
    records: list[LogRecord] = field(default_factory=list)
    consumed: int = 0  # bytes from the start of the chunk that are done with
    lines: int = 0  # newlines inside the consumed bytes
    garbage: int = 0
    garbage_samples: list[Garbage] = field(default_factory=list)
    skipped: int = 0  # well-formed records that are not failures (LOG lines, info-level app lines)
    skip_open: bool = False  # an oversized line/record was cut at the byte cap: skip its remainder
    durations: list[LogRecord] = field(default_factory=list)  # ``duration: … ms`` records
    unrecognised: int = 0  # lines of no known shape, errors without a SQLSTATE (never silently dropped)
    unrecognised_samples: list[Garbage] = field(default_factory=list)
    want_durations: bool = True  # False: duration lines are merely skipped (the sensor's ticks)

    def _unrec(self, offset: int, line: int | None, reason: str, raw: bytes | str) -> None:
        self.unrecognised += 1
        if len(self.unrecognised_samples) < MAX_GARBAGE_SAMPLES:
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "replace")
            self.unrecognised_samples.append(
                Garbage(offset, line, reason, raw[:200].decode("utf-8", "replace")[:120]))

    def _duration(self, rec: LogRecord) -> bool:
        """Keep ``rec`` as a duration record if its message is one; False otherwise."""
        from .durations import parse_duration_message  # noqa: PLC0415

        got = parse_duration_message(rec.message) if self.want_durations else None
        if got is None:
            return False
        rec.duration_ms, rec.statement = got
        self.durations.append(rec)
        return True

    def _bad(self, offset: int, line: int | None, reason: str, raw: bytes) -> None:
        self.garbage += 1
        if len(self.garbage_samples) < MAX_GARBAGE_SAMPLES:
            text = raw[:200].decode("utf-8", "replace")[:120]
            self.garbage_samples.append(Garbage(offset, line, reason, text))


# --------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------

_TS = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
_CSV_START = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?(?: [A-Za-z0-9+\-:/_]+)?,")
_TS_PARTS = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?\s*"
                       r"(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$")


def resolve_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    try:
        return _ALIASES[fmt.lower()]
    except KeyError:
        raise HealError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}") from None


def detect_format(path: str | os.PathLike | None = None, sample: bytes = b"") -> str | None:
    """``.json``/``.jsonl`` → jsonlog, ``.csv`` → csvlog; otherwise sniff the first non-empty
    line of ``sample``: ``{`` → jsonlog, ``<timestamp>,`` → csvlog, anything else → plain.
    None when there is nothing to decide on (no telling suffix, empty sample)."""
    if path is not None:
        suffix = Path(path).suffix.lower()
        if suffix in (".json", ".jsonl"):
            return "jsonlog"
        if suffix == ".csv":
            return "csvlog"
    for raw in sample.splitlines():
        s = raw.strip()
        if not s:
            continue
        if s.startswith(b"{"):
            return "jsonlog"
        if _CSV_START.match(s):
            return "csvlog"
        return "plain"
    return None


def iso_timestamp(raw: str | None) -> str | None:
    """``2026-11-22 01:25:34.244 UTC`` → ``2026-11-22T01:25:34.244+00:00``; unknown zones as written."""
    if not raw:
        return None
    m = _TS_PARTS.match(raw.strip())
    if not m:
        return raw
    date, time, frac, zone = m.groups()
    out = f"{date}T{time}" + (f".{frac}" if frac else "")
    if zone in ("Z", "UTC", "GMT"):
        out += "+00:00"
    elif zone:
        digits = zone[1:].replace(":", "")
        out += f"{zone[0]}{digits[:2]}:{digits[2:4] or '00'}"
    return out


def _int(v) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _s(v) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


# --------------------------------------------------------------------------------------
# chunk parsing
# --------------------------------------------------------------------------------------


def parse_chunk(data: bytes, fmt: str, *, offset: int = 0, line: int | None = 1, final: bool = False,
                at_cap: bool = False, skip_partial: bool = False, source: str | None = None,
                failures_only: bool = True, keys: dict[str, str] | None = None,
                durations: bool = True) -> ChunkResult:
    """Parse the complete records at the start of ``data`` (bytes of a log file from ``offset``).

    ``final``: no more bytes will come (whole-file parsing, a rotated-away file): an unterminated
    last line is parsed as a record. ``at_cap``: ``data`` was cut by the byte cap, more follows.
    ``skip_partial``: the previous read cut an oversized line/record; drop its remainder first.
    ``keys``: the key mapping for application JSON lines (``applog.py``; None: the defaults).
    ``durations=False``: ``duration:`` lines are counted as skipped, not parsed.
    """
    fmt = resolve_format(fmt) or "plain"
    res = ChunkResult(want_durations=durations)
    start = 0
    if skip_partial:
        start = _skip_remainder(data, fmt, final)
        if start < 0:  # the remainder goes on beyond this chunk
            res.consumed = len(data)
            res.lines = data.count(b"\n")
            res.skip_open = not final
            return res
    body_end = len(data) if final else data.rfind(b"\n") + 1
    if body_end <= start and not final:
        if at_cap and len(data) > start:
            # one line longer than the whole byte cap: give it up, skip its remainder next time
            res._bad(offset + start, _line_at(line, data, start), "line longer than the byte cap",
                     data[start:])
            res.consumed = len(data)
            res.lines = data.count(b"\n")
            res.skip_open = True
        else:
            res.consumed = start
            res.lines = data.count(b"\n", 0, start)
        return res
    first_line = _line_at(line, data, start)
    parser = {"jsonlog": _parse_json_lines, "csvlog": _parse_csv_lines, "plain": _parse_plain_lines}[fmt]
    consumed = parser(data, start, body_end, offset, first_line, final, at_cap, source, failures_only, res,
                      keys)
    if fmt == "csvlog" and consumed == start and at_cap and body_end > start:
        # a csv record longer than the cap: give it up and resynchronise on the next record start
        res._bad(offset + start, first_line, "record longer than the byte cap", data[start:])
        consumed = len(data)
        res.skip_open = True
    res.consumed = consumed
    res.lines = data.count(b"\n", 0, consumed)
    return res


def _line_at(line: int | None, data: bytes, pos: int) -> int | None:
    return None if line is None else line + data.count(b"\n", 0, pos)


def _skip_remainder(data: bytes, fmt: str, final: bool) -> int:
    """Where parsing may resume after an oversized line/record; -1: not within ``data``."""
    if fmt == "csvlog":
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                return -1
            if _CSV_START.match(data, nl + 1):
                return nl + 1
            pos = nl + 1
    nl = data.find(b"\n")
    return nl + 1 if nl >= 0 else -1


def _iter_lines(data: bytes, start: int, end: int):
    """(line_start, line_bytes_without_newline) for data[start:end]."""
    pos = start
    find = data.find
    while pos < end:
        nl = find(b"\n", pos, end)
        if nl < 0:
            yield pos, data[pos:end]
            return
        yield pos, data[pos:nl]
        pos = nl + 1


# ---- jsonlog -------------------------------------------------------------------------

_FAIL_MARKERS = (b'"ERROR"', b'"FATAL"', b'"PANIC"')


def _parse_json_lines(data, start, end, offset, line, final, at_cap, source, failures_only, res,
                      keys=None) -> int:
    from .applog import app_json_line, is_pg_jsonlog  # noqa: PLC0415

    records = res.records
    ln = line
    for pos, raw in _iter_lines(data, start, end):
        s = raw.strip()
        if s:
            if s[:1] != b"{" or s[-1:] != b"}":
                res._bad(offset + pos, ln, "not a JSON object", raw)
            elif not is_pg_jsonlog(s):
                app_json_line(s, raw, offset + pos, ln, source, keys, res)
            elif failures_only and not (_FAIL_MARKERS[0] in s or _FAIL_MARKERS[1] in s
                                        or _FAIL_MARKERS[2] in s):
                if res.want_durations and b'"duration: ' in s:  # log_min_duration_statement
                    try:
                        obj = json.loads(s.decode("utf-8", "replace"))
                    except ValueError as exc:
                        res._bad(offset + pos, ln, f"invalid JSON: {exc}", raw)
                    else:
                        rec = None
                        if isinstance(obj, dict) and obj.get("error_severity") == "LOG":
                            rec = LogRecord(severity="LOG", sqlstate=None, message=str(obj.get("message") or ""),
                                            timestamp=iso_timestamp(_s(obj.get("timestamp"))),
                                            database=_s(obj.get("dbname")), user=_s(obj.get("user")),
                                            application=_s(obj.get("application_name")))
                        if rec is not None and res._duration(rec):
                            rec.offset, rec.line, rec.source = offset + pos, ln, source
                        else:
                            res.skipped += 1
                else:
                    res.skipped += 1  # a LOG/WARNING/… line: not validated further
            else:
                try:
                    obj = json.loads(s.decode("utf-8", "replace"))
                except ValueError as exc:
                    res._bad(offset + pos, ln, f"invalid JSON: {exc}", raw)
                else:
                    if not isinstance(obj, dict):
                        res._bad(offset + pos, ln, "not a JSON object", raw)
                    else:
                        rec = _from_json(obj)
                        if failures_only and not rec.is_failure:
                            res.skipped += 1
                        else:
                            rec.offset, rec.line, rec.source = offset + pos, ln, source
                            records.append(rec)
        if ln is not None:
            ln += 1
    return end


def _from_json(o: dict) -> LogRecord:
    return LogRecord(
        severity=str(o.get("error_severity") or ""),
        sqlstate=_s(o.get("state_code")),
        message=str(o.get("message") or ""),
        timestamp=iso_timestamp(_s(o.get("timestamp"))),
        database=_s(o.get("dbname")),
        user=_s(o.get("user")),
        detail=_s(o.get("detail")),
        hint=_s(o.get("hint")),
        context=_s(o.get("context")),
        statement=_s(o.get("statement")),
        cursor_position=_int(o.get("cursor_position")),
        internal_query=_s(o.get("internal_query")),
        application=_s(o.get("application_name")),
        pid=_int(o.get("pid")),
        session_id=_s(o.get("session_id")),
        backend_type=_s(o.get("backend_type")),
        query_id=_int(o.get("query_id")),
    )


# ---- csvlog --------------------------------------------------------------------------


def _parse_csv_lines(data, start, end, offset, line, final, at_cap, source, failures_only, res,
                     keys=None) -> int:
    lines = list(_iter_lines(data, start, end))
    consumed = start
    i = 0
    n = len(lines)
    while i < n:
        pos, raw = lines[i]
        if not raw.strip():
            i += 1
            consumed = _after(lines, i, end)
            continue
        # accumulate lines until the double quotes balance; a line that is itself a whole new
        # record (timestamp first, balanced quotes) means the open one is broken
        quotes = raw.count(b'"')
        j = i
        while quotes % 2 and j + 1 < n:
            nxt = lines[j + 1][1]
            nq = nxt.count(b'"')
            if not nq % 2 and _CSV_START.match(nxt):
                break
            j += 1
            quotes += nq
        ln = None if line is None else line + i
        if quotes % 2:
            if j + 1 < n:  # stopped at the start of the next record: resynchronise there
                res._bad(offset + pos, ln, "unterminated quoted field", raw)
                i = j + 1
                consumed = lines[i][0]
                continue
            # the record is still open at the end of what we have: wait for the rest
            if final:
                res._bad(offset + pos, ln, "unterminated quoted field", raw)
                consumed = end
            break
        blob = b"\n".join(r for _, r in lines[i:j + 1])
        row = _csv_row(blob)
        if row is None or not 23 <= len(row) <= 40 or not _CSV_START.match((row[0] + ",").encode()):
            k = _next_record_start(lines, i + 1, j + 1) if j > i else None
            res._bad(offset + pos, ln, "not a csvlog record" if row is None else
                     f"not a csvlog record ({len(row)} columns)", raw)
            if k is not None:
                i = k
                consumed = lines[k][0]
                continue
        else:
            rec = _from_csv(row)
            if failures_only and not rec.is_failure:
                if rec.severity == "LOG" and rec.message.startswith("duration: ") and res._duration(rec):
                    rec.offset, rec.line, rec.source = offset + pos, ln, source
                else:
                    res.skipped += 1
            else:
                rec.offset, rec.line, rec.source = offset + pos, ln, source
                res.records.append(rec)
        i = j + 1
        consumed = _after(lines, i, end)
    return consumed


def _after(lines, i: int, end: int) -> int:
    return lines[i][0] if i < len(lines) else end


def _next_record_start(lines, lo: int, hi: int) -> int | None:
    for k in range(lo, hi):
        if _CSV_START.match(lines[k][1]):
            return k
    return None


def _csv_row(blob: bytes) -> list[str] | None:
    try:
        rows = list(csv.reader([blob.decode("utf-8", "replace").rstrip("\r")], strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _from_csv(r: list[str]) -> LogRecord:
    def col(i: int) -> str | None:
        return r[i] if i < len(r) and r[i] != "" else None

    return LogRecord(
        severity=r[11], sqlstate=col(12), message=r[13],
        timestamp=iso_timestamp(col(0)), user=col(1), database=col(2), pid=_int(col(3)),
        session_id=col(5), detail=col(14), hint=col(15), internal_query=col(16), context=col(18),
        statement=col(19), cursor_position=_int(col(20)), application=col(22),
        backend_type=col(23), query_id=_int(col(25)),
    )


# ---- plain (application one-liners and PostgreSQL stderr) ------------------------------

_APP = re.compile(
    rf"^(?P<ts>{_TS}(?:Z|[+-]\d{{2}}(?::?\d{{2}})?| [A-Z]{{2,5}})?)\s+(?P<sev>ERROR|FATAL|PANIC)\s+"
    r"(?P<state>(?=[0-9A-Z]*\d)[0-9A-Z]{5})\s+(?:(?:db|database)=(?P<db>\S*)\s+)?(?:user=(?P<user>\S*)\s+)?"
    r"(?P<msg>.*?)(?:\s+\|\s+STATEMENT:\s+(?P<stmt>.*))?\s*$")
_STDERR = re.compile(r"(?P<level>DEBUG[1-5]?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|QUERY|"
                     r"CONTEXT|LOCATION|STATEMENT):  (?P<text>.*)$")
_PREFIX_TS = re.compile(rf"^\s*(?P<ts>{_TS}(?: [A-Za-z][A-Za-z0-9+\-:/_]*|Z|[+-]\d{{2}}(?::?\d{{2}})?)?)")
_PREFIX_PID = re.compile(r"\[(\d+)\]")
_PREFIX_USER = re.compile(r"\buser=([^,\s\]]+)")
_PREFIX_DB = re.compile(r"\b(?:db|database)=([^,\s\]]+)")
_PREFIX_AT = re.compile(r"(?:^|\s)([A-Za-z_][\w$]*)@([A-Za-z_][\w$]*)(?=\s|$|:)")
_VERBOSE_STATE = re.compile(r"^([0-9A-Z]{5}): ")
_AT_CHARACTER = re.compile(r"^(?P<msg>.*) at character (?P<pos>\d+)$", re.S)
_ATTACH = {"DETAIL": "detail", "HINT": "hint", "CONTEXT": "context", "STATEMENT": "statement",
           "QUERY": "internal_query"}


def _parse_plain_lines(data, start, end, offset, line, final, at_cap, source, failures_only, res,
                       keys=None) -> int:
    from .sqlstate import infer_sqlstate  # noqa: PLC0415

    pending: LogRecord | None = None
    pending_pos = start
    last_field: str | None = None
    ln = line

    def flush() -> None:
        nonlocal pending
        rec = pending
        pending = None
        if rec is None:
            return
        m = _AT_CHARACTER.match(rec.message)
        if m:  # stderr appends the cursor position to the message
            rec.message, rec.cursor_position = m["msg"], int(m["pos"])
        if not rec.sqlstate and rec.severity in FAILURE_SEVERITIES:
            rec.sqlstate = infer_sqlstate(rec.message)
            rec.sqlstate_inferred = rec.sqlstate is not None
            if rec.sqlstate is None:  # an error, but of no SQLSTATE heal can name
                res._unrec(rec.offset or 0, rec.line, "an error without a SQLSTATE (none written, "
                           "none inferable from the message)", f"{rec.severity}:  {rec.message}")
                return
        if rec.severity == "LOG" and res._duration(rec):
            return
        if failures_only and not rec.is_failure:
            res.skipped += 1
        else:
            res.records.append(rec)

    for pos, raw in _iter_lines(data, start, end):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if text.startswith("\t") and pending is not None and last_field:
            setattr(pending, last_field, (getattr(pending, last_field) or "") + "\n" + text[1:])
        elif not text.strip():
            pass
        elif text.startswith("\t") and not _APP.match(text):
            res.skipped += 1  # the continuation of a record that is not kept (a multi-line LOG statement)
        else:
            m = _APP.match(text)
            if m:
                flush()
                last_field = None
                rec = LogRecord(severity=m["sev"], sqlstate=m["state"], message=m["msg"],
                                timestamp=iso_timestamp(m["ts"]), database=m["db"] or None,
                                user=m["user"] or None, statement=m["stmt"] or None,
                                offset=offset + pos, line=ln, source=source, app=True)
                res.records.append(rec)
            else:
                m = _STDERR.search(text)
                level = m["level"] if m else None
                if level in _ATTACH and pending is not None and _same_pid(pending, text[:m.start()]):
                    last_field = _ATTACH[level]
                    setattr(pending, last_field, m["text"])
                elif level == "LOCATION" and pending is not None:
                    last_field = None
                else:
                    flush()
                    last_field = None
                    if level in FAILURE_SEVERITIES or (level == "LOG" and m["text"].startswith("duration: ")):
                        pending = _stderr_record(level, m["text"], text[:m.start()], offset + pos, ln, source)
                        pending_pos = pos
                        last_field = "message"
                    elif level is not None:
                        res.skipped += 1
                        last_field = None
                    else:
                        res._unrec(offset + pos, ln, "not a PostgreSQL stderr line nor "
                                   "'<timestamp> ERROR <SQLSTATE> <message>'", raw)
        if ln is not None:
            ln += 1
    if pending is not None and at_cap and not final and pending_pos > start:
        # the cap cut the data right after an ERROR: its DETAIL/STATEMENT lines may follow
        return pending_pos  # the pending record is re-read next time
    flush()
    return end


def _same_pid(rec: LogRecord, prefix: str) -> bool:
    m = _PREFIX_PID.search(prefix)
    return rec.pid is None or m is None or int(m.group(1)) == rec.pid


def _stderr_record(level: str, text: str, prefix: str, off: int, ln: int | None, source) -> LogRecord:
    sqlstate = None
    vm = _VERBOSE_STATE.match(text)
    if vm:
        sqlstate, text = vm.group(1), text[vm.end():]
    tm = _PREFIX_TS.match(prefix)
    pm = _PREFIX_PID.search(prefix)
    um = _PREFIX_USER.search(prefix)
    dm = _PREFIX_DB.search(prefix)
    user = um.group(1) if um else None
    db = dm.group(1) if dm else None
    if user is None and db is None:
        am = _PREFIX_AT.search(prefix)
        if am:
            user, db = am.group(1), am.group(2)
    return LogRecord(severity=level, sqlstate=sqlstate, message=text,
                     timestamp=iso_timestamp(tm["ts"]) if tm else None, database=db, user=user,
                     pid=int(pm.group(1)) if pm else None, offset=off, line=ln, source=source)


# --------------------------------------------------------------------------------------
# whole texts and files
# --------------------------------------------------------------------------------------


def parse_text(text: str | bytes, fmt: str, *, source: str | None = None,
               failures_only: bool = True) -> list[LogRecord]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_chunk(data, fmt, final=True, source=source, failures_only=failures_only).records


def parse_file(path: str | os.PathLike, fmt: str | None = None, *,
               failures_only: bool = True) -> ChunkResult:
    """Parse a whole (small) file at once. For live logs use ``tail.read_new``."""
    data = Path(path).read_bytes()
    fmt = resolve_format(fmt) or detect_format(path, data[:65536]) or "plain"
    return parse_chunk(data, fmt, final=True, source=str(path), failures_only=failures_only)
