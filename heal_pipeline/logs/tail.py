"""Incremental log reading with a JSON cursor: only the bytes written since the last read.

:func:`read_new` ``(path, cursor, fmt=None, max_bytes=64 MiB)`` opens the log, seeks to the cursor's
byte offset and reads what is new, at most ``max_bytes`` per call (``TailResult.more`` says the rest
waits for the next call). The cost is O(new bytes): one ``fstat``, one 256-byte read of the file
head, one seek and one read.

The cursor is a small JSON-serialisable dict (store it as the sensor cursor, in the asset
metadata, anywhere)::

    {"v": 1, "path": "/…/postgresql.json", "dev": 2049, "ino": 1234567, "offset": 104857,
     "line": 812, "head": "<sha1 of the first head_len bytes>", "head_len": 256,
     "fmt": "jsonlog", "skip": false}

What happens when the file changes under the cursor:

* **rotation** — the path now names another file (``(st_dev, st_ino)`` differ): the previous file is
  looked for (the cursor's old path, then the directory of ``path`` by inode, which finds
  ``postgresql.json.1`` after a rename) and its remaining bytes are read first; then the new file is
  read from byte 0. ``rotated=True``; a note says whether the old file was finished or not found.
* **replacement** — same inode but the first bytes differ from the cursor's ``head`` hash (a file
  deleted and recreated, inode reused; copytruncate followed by regrowth): read again from 0,
  ``rotated=True``.
* **truncation** — the file is shorter than the cursor's offset: read again from 0, ``truncated=True``.
* **partial last line** — an unterminated final line (or a csvlog record whose quoted field is still
  open) is not consumed: the offset stays before it and the next read sees it whole.
* **garbage** — a line that is not JSON in a jsonlog, a broken csvlog record: counted in ``garbage``,
  with up to 20 samples (byte offset, line number, reason), and skipped; reading never stops on it.
  A line longer than ``max_bytes`` is garbage too; its remainder is skipped on the next read.
* **missing file** — no exception: ``reason`` says so, the cursor is returned unchanged (a
  remaining part of a rotated-away file is still read when it can be found).
* **unreadable file** (permission, a directory) — :class:`LogUnreadable`, a one-line
  :class:`~heal_pipeline.errors.HealError`: that is a configuration problem for the user to fix
  (``log_file_mode = 0644``), not a state to skip silently.

A cursor of ``None`` starts at the beginning of the file (``start="beginning"``) or at its end
(``start="end"``: only what is written from now on). :func:`cursor_at_end` builds such a cursor.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from heal_pipeline.errors import HealError, first_line
from heal_pipeline.model import FailedQuery, LoggedStatement

from .durations import group_durations
from .normalize import group_failed
from .parse import MAX_GARBAGE_SAMPLES, ChunkResult, LogRecord, detect_format, parse_chunk, resolve_format

__all__ = ["DEFAULT_MAX_BYTES", "CURSOR_VERSION", "LogUnreadable", "TailResult", "read_new",
           "cursor_at_end"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
HEAD_BYTES = 256
CURSOR_VERSION = 1
_SNIFF_BYTES = 64 * 1024


class LogUnreadable(HealError):
    """The log file exists but cannot be read (permission, not a regular file, I/O error)."""


@dataclass
class TailResult:
    path: str
    fmt: str | None
    cursor: dict[str, Any]
    records: list[LogRecord] = field(default_factory=list)
    failed: list[FailedQuery] = field(default_factory=list)
    garbage: int = 0
    garbage_samples: list[dict] = field(default_factory=list)  # {"file","offset","line","reason","text"}
    skipped: int = 0  # well-formed records that are not failures
    durations: list[LogRecord] = field(default_factory=list)  # ``duration: … ms`` records
    slow: list[LoggedStatement] = field(default_factory=list)  # ``durations`` grouped (database filter)
    unrecognised: int = 0  # lines of no known shape / errors without a SQLSTATE (app logs: key mapping)
    unrecognised_samples: list[dict] = field(default_factory=list)
    rotated: bool = False
    truncated: bool = False
    bytes_read: int = 0  # from disk, including the 256-byte head check per file
    more: bool = False  # the byte cap stopped this read: call again
    reason: str | None = None  # why nothing was read ("missing: …", "empty: …")
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and metadata."""
        parts = [f"{len(self.records)} failed record(s) in {len(self.failed)} group(s)",
                 f"{self.bytes_read} bytes read"]
        if self.durations:
            parts.append(f"{len(self.durations)} duration record(s) of {len(self.slow)} statement(s)")
        if self.garbage:
            parts.append(f"{self.garbage} garbage")
        if self.unrecognised:
            parts.append(f"{self.unrecognised} unrecognised line(s)")
        if self.rotated:
            parts.append("rotated")
        if self.truncated:
            parts.append("truncated")
        if self.more:
            parts.append("more to read")
        if self.reason:
            parts.append(self.reason)
        return "; ".join(parts)


# --------------------------------------------------------------------------------------
# cursor
# --------------------------------------------------------------------------------------


def _check_cursor(cursor: Any, notes: list[str]) -> dict | None:
    if not cursor:  # None, or the {} a read of a missing file hands back
        return None
    ok = (isinstance(cursor, dict) and cursor.get("v") == CURSOR_VERSION
          and all(isinstance(cursor.get(k), int) and not isinstance(cursor.get(k), bool)
                  for k in ("dev", "ino", "offset", "head_len"))
          and cursor["offset"] >= 0 and isinstance(cursor.get("head"), str))
    if not ok:
        notes.append("cursor ignored (not a heal log cursor of this version): reading from the start")
        return None
    return cursor


def _head(fd: int, n: int = HEAD_BYTES) -> bytes:
    return os.pread(fd, n, 0)


def _digest(b: bytes) -> str:
    return hashlib.sha1(b).hexdigest()


def _make_cursor(path: str, st: os.stat_result, head: bytes, offset: int, line: int | None,
                 fmt: str | None, skip: bool) -> dict[str, Any]:
    head = head[:min(HEAD_BYTES, st.st_size)]
    return {"v": CURSOR_VERSION, "path": path, "dev": st.st_dev, "ino": st.st_ino, "offset": offset,
            "line": line, "head": _digest(head), "head_len": len(head), "fmt": fmt, "skip": skip}


def _head_matches(cursor: dict, head: bytes) -> bool:
    n = cursor["head_len"]
    return len(head) >= n and _digest(head[:n]) == cursor["head"]


# --------------------------------------------------------------------------------------
# opening
# --------------------------------------------------------------------------------------


def _open(path: str):
    """(file object, fstat) or None when the file does not exist; LogUnreadable otherwise."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise LogUnreadable(f"cannot read log {path}: it is a directory, not a log file") from None
    except PermissionError:
        raise LogUnreadable(f"cannot read log {path}: permission denied (make it readable by this user, "
                            f"e.g. PostgreSQL's log_file_mode = 0644)") from None
    except OSError as exc:
        raise LogUnreadable(f"cannot read log {path}: {first_line(exc)}") from None
    st = os.fstat(fh.fileno())
    if not _is_regular(st):
        fh.close()
        raise LogUnreadable(f"cannot read log {path}: not a regular file")
    return fh, st


def _is_regular(st: os.stat_result) -> bool:
    import stat as _stat  # noqa: PLC0415

    return _stat.S_ISREG(st.st_mode)


def _find_previous(cursor: dict, path: str) -> str | None:
    """Where the file the cursor points into lives now (after a rename), or None."""
    want = (cursor["dev"], cursor["ino"])
    candidates: list[str] = []
    old = cursor.get("path")
    if isinstance(old, str) and old != path:
        candidates.append(old)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        with os.scandir(directory) as it:
            for entry in it:
                try:
                    if entry.inode() == cursor["ino"] and entry.path not in candidates:
                        candidates.append(entry.path)
                except OSError:
                    continue
    except OSError:
        pass
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == want and _is_regular(st):
            return cand
    return None


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


@dataclass
class _Acc:
    records: list[LogRecord] = field(default_factory=list)
    garbage: int = 0
    samples: list[dict] = field(default_factory=list)
    skipped: int = 0
    bytes_read: int = 0
    failures_only: bool = True
    keys: dict | None = None
    want_durations: bool = True
    durations: list[LogRecord] = field(default_factory=list)
    unrecognised: int = 0
    unrecognised_samples: list[dict] = field(default_factory=list)


def _read_segment(fh, path: str, st: os.stat_result, offset: int, line: int | None, fmt: str,
                  budget: int, *, final: bool, skip: bool, acc: _Acc) -> tuple[int, int | None, bool, bool]:
    """Parse [offset, size) of an open file within ``budget`` bytes.
    Returns (new offset, new line, skip flag, more-left flag)."""
    size = st.st_size
    avail = max(0, size - offset)
    n = min(avail, budget)
    if n <= 0:
        return offset, line, skip, avail > 0
    fh.seek(offset)
    data = fh.read(n)
    acc.bytes_read += len(data)
    at_cap = len(data) < avail
    res: ChunkResult = parse_chunk(data, fmt, offset=offset, line=line, final=final and not at_cap,
                                   at_cap=at_cap, skip_partial=skip, source=path,
                                   failures_only=acc.failures_only, keys=acc.keys,
                                   durations=acc.want_durations)
    acc.records.extend(res.records)
    acc.durations.extend(res.durations)
    acc.garbage += res.garbage
    acc.skipped += res.skipped
    acc.unrecognised += res.unrecognised
    for g in res.unrecognised_samples:
        if len(acc.unrecognised_samples) < MAX_GARBAGE_SAMPLES:
            acc.unrecognised_samples.append({"file": path, **g.to_dict()})
    for g in res.garbage_samples:
        if len(acc.samples) < MAX_GARBAGE_SAMPLES:
            acc.samples.append({"file": path, **g.to_dict()})
    new_line = None if line is None else line + res.lines
    return offset + res.consumed, new_line, res.skip_open, at_cap


def read_new(path: str | os.PathLike, cursor: dict | None = None, *, fmt: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, start: str = "beginning",
             database: str | None = None, failures_only: bool = True,
             keys: dict[str, str] | None = None, durations: bool = True) -> TailResult:
    """Read what was appended to ``path`` since ``cursor``; see the module doc.

    ``fmt``: ``jsonlog`` | ``csvlog`` | ``plain`` (default: the cursor's, else from the file name,
    else sniffed from the content). ``database``: group only that database's failures into
    ``failed`` (``records`` keep everything). ``failures_only=False`` also returns LOG/WARNING/…
    records in ``records`` (``failed`` still groups failures only). ``keys``: the key mapping of an
    application JSON log (``applog.py``). ``durations`` holds the ``duration: … ms`` records and
    ``slow`` groups them (with the same database filter); ``durations=False`` skips them (the
    sensor only needs failures). Raises :class:`LogUnreadable` only for a
    file that exists but cannot be read.
    """
    path = os.fspath(path)
    if max_bytes <= 0:
        raise HealError(f"max_bytes must be positive, got {max_bytes}")
    if start not in ("beginning", "end"):
        raise HealError(f"start must be 'beginning' or 'end', got {start!r}")
    notes: list[str] = []
    cur = _check_cursor(cursor, notes)
    fmt = resolve_format(fmt) or (cur.get("fmt") if cur else None)
    acc = _Acc(failures_only=failures_only, keys=keys, want_durations=durations)
    budget = max_bytes
    rotated = truncated = False

    opened = _open(path)
    if opened is None:
        # the log is gone (mid-rotation, not created yet): still finish a renamed previous file
        result = TailResult(path=path, fmt=fmt, cursor=cursor if cursor is not None else {},
                            reason=f"missing: {path} does not exist", notes=notes)
        if cur is not None:
            prev = _find_previous(cur, path)
            if prev is not None:
                new_cur, more = _finish_previous(prev, cur, fmt, budget, acc, notes)
                result.cursor, result.more, result.rotated = new_cur, more, True
                _fill(result, acc, database)
        return result

    fh, st = opened
    with fh:
        head = _head(fh.fileno())
        acc.bytes_read += len(head)
        offset, line, skip = 0, 1, False
        if cur is None:
            if start == "end":
                offset = _end_offset(fh, st.st_size)
                line = None
        elif (cur["dev"], cur["ino"]) == (st.st_dev, st.st_ino):
            if st.st_size < cur["offset"]:
                truncated = True
                notes.append(f"truncated: the file has {st.st_size} bytes, the cursor was at "
                             f"{cur['offset']}; read again from 0")
            elif not _head_matches(cur, head):
                rotated = True
                notes.append("replaced: same inode but different first bytes; read again from 0")
            else:
                offset, line, skip = cur["offset"], cur.get("line"), bool(cur.get("skip"))
        else:
            rotated = True
            prev = _find_previous(cur, path)
            if prev is None:
                notes.append(f"rotated: the previous file (inode {cur['ino']}) was not found; "
                             f"anything written to it after offset {cur['offset']} is not read; "
                             f"reading the new file from 0")
            else:
                prev_cur, more = _finish_previous(prev, cur, fmt, budget, acc, notes)
                budget = max_bytes - acc.bytes_read
                if more or budget <= 0:
                    # the cap ran out inside the previous file: continue there next time
                    result = TailResult(path=path, fmt=fmt, cursor={**prev_cur, "path": path},
                                        rotated=True, more=True, notes=notes)
                    _fill(result, acc, database)
                    return result

        if fmt is None:
            fmt = detect_format(path, os.pread(fh.fileno(), _SNIFF_BYTES, 0) if st.st_size else b"")
            if fmt is None:
                result = TailResult(path=path, fmt=None, rotated=rotated, truncated=truncated,
                                    cursor=_make_cursor(path, st, head, offset, line, None, False),
                                    reason=f"empty: {path} has no content to detect the format from",
                                    notes=notes)
                result.bytes_read = acc.bytes_read
                return result
        more = False
        if offset < st.st_size:
            offset, line, skip, more = _read_segment(fh, path, st, offset, line, fmt, budget,
                                                     final=False, skip=skip, acc=acc)
        new_cursor = _make_cursor(path, st, head, offset, line, fmt, skip)
    result = TailResult(path=path, fmt=fmt, cursor=new_cursor, rotated=rotated, truncated=truncated,
                        more=more, notes=notes)
    _fill(result, acc, database)
    return result


def _finish_previous(prev: str, cur: dict, fmt: str | None, budget: int, acc: _Acc,
                     notes: list[str]) -> tuple[dict, bool]:
    """Read the rest of the rotated-away file the cursor points into (it will not grow any more,
    so an unterminated last line is parsed as it is)."""
    opened = _open(prev)
    if opened is None:
        notes.append(f"rotated: the previous file {prev} disappeared")
        return cur, False
    fh, st = opened
    with fh:
        head = _head(fh.fileno())
        acc.bytes_read += len(head)
        offset, line = cur["offset"], cur.get("line")
        if st.st_size < offset or not _head_matches(cur, head):
            notes.append(f"rotated: the previous file {prev} changed too; not read")
            return cur, False
        fmt = fmt or cur.get("fmt") or detect_format(prev, os.pread(fh.fileno(), _SNIFF_BYTES, 0)) or "plain"
        before = acc.bytes_read
        new_offset, new_line, skip, more = _read_segment(fh, prev, st, offset, line, fmt, budget,
                                                         final=True, skip=bool(cur.get("skip")), acc=acc)
        done = "finished" if not more else "partly read (byte cap)"
        notes.append(f"rotated: {done} the previous file {prev} "
                     f"({acc.bytes_read - before} bytes after offset {offset})")
        return _make_cursor(prev, st, head, new_offset, new_line, fmt, skip), more


def _end_offset(fh, size: int) -> int:
    """End of the last complete line (so a half-written line is read whole next time)."""
    if size == 0:
        return 0
    back = min(size, 1 << 20)
    fh.seek(size - back)
    tail = fh.read(back)
    nl = tail.rfind(b"\n")
    if nl >= 0:
        return size - back + nl + 1
    return 0 if back == size else size  # no newline at all: the first line is still being written


def _fill(result: TailResult, acc: _Acc, database: str | None) -> None:
    result.records = acc.records
    result.garbage = acc.garbage
    result.garbage_samples = acc.samples
    result.skipped = acc.skipped
    result.bytes_read = acc.bytes_read
    result.durations = acc.durations
    result.unrecognised = acc.unrecognised
    result.unrecognised_samples = acc.unrecognised_samples
    result.failed = group_failed(acc.records, database=database, source=result.path)
    result.slow = group_durations(acc.durations, database=database, source=result.path)


def cursor_at_end(path: str | os.PathLike, fmt: str | None = None) -> dict[str, Any]:
    """A cursor at the end of ``path`` (only what is written from now on will be read)."""
    return read_new(path, None, fmt=fmt, start="end").cursor

