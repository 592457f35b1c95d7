"""SQLite targets: the ``sqlite:`` URL, and opening the file without ever writing to it.

URL forms (SQLAlchemy's convention)::

    sqlite:////srv/app/app.db      absolute path (four slashes: the path starts with "/")
    sqlite:///data/app.db          relative path (to the current directory; in a fleet file use
                                   the ``path`` key, which is relative to the fleet file)

Every problem a user can cause is one :class:`~heal_pipeline.errors.HealError` line: the file is
missing, is not a SQLite database, is a WAL database whose ``-wal`` file is gone, is locked by a
writer for longer than the busy timeout, or sits on a read-only filesystem (fixes only).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from ..errors import ConfigError, HealError

SCHEME = "sqlite:"
HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5_000  # how long a read or write waits for another connection's lock


class SqliteError(HealError):
    """A SQLite target that cannot be read or changed (one line)."""


def is_sqlite_url(dsn: str | None) -> bool:
    return bool(dsn) and dsn.strip().lower().startswith(SCHEME)


def sqlite_path(dsn: str, *, name: str = "dsn") -> Path:
    """The file a ``sqlite:`` URL names (validated syntactically; the file is not touched)."""
    raw = dsn.strip()
    rest = raw[len(SCHEME):]
    if not rest.startswith("///"):
        raise ConfigError(f"{name}={raw!r} is not a SQLite URL: expected sqlite:////absolute/path.db "
                          "or sqlite:///relative/path.db")
    path = rest[3:]
    if "?" in path or "#" in path:
        raise ConfigError(f"{name}: SQLite URL options are not supported (heal opens the file read-only "
                          "for scans and with busy_timeout for fixes)")
    if not path or path.endswith("/"):
        raise ConfigError(f"{name}={raw!r}: the SQLite URL names no file")
    return Path(path)


def sqlite_url(path: str | os.PathLike) -> str:
    p = Path(path)
    return f"sqlite:///{p}" if not p.is_absolute() else f"sqlite:///{p.as_posix()}"


def target_name(path: Path) -> str:
    return path.stem or "sqlite"


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.absolute()))}?mode={mode}"


def preflight(path: Path, *, write: bool = False) -> dict:
    """Check the file before SQLite opens it (SQLite would create a missing file, or -wal/-shm files
    beside it). Returns {journal: "wal"|"rollback", size}. Raises SqliteError."""
    if not path.exists():
        raise SqliteError(f"SQLite target {path}: the file does not exist")
    if path.is_dir():
        raise SqliteError(f"SQLite target {path}: is a directory, not a database file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise SqliteError(f"SQLite target {path}: cannot be read: {exc.strerror or exc}") from None
    if len(head) and (len(head) < 100 or not head.startswith(HEADER)):
        raise SqliteError(f"SQLite target {path}: not a SQLite database (no 'SQLite format 3' header)")
    wal = len(head) == 100 and head[18] == 2 and head[19] == 2
    wal_file = Path(str(path) + "-wal")
    if wal and not wal_file.exists():
        raise SqliteError(
            f"SQLite target {path}: a WAL database without its -wal file ({wal_file.name}); if the file "
            "was copied, copy it with `sqlite3 SRC '.backup DST'` (a copy without -wal can lose commits); "
            "if the app closed it cleanly, run `sqlite3 FILE 'PRAGMA wal_checkpoint'` from the app side")
    if write:
        try:
            st = os.statvfs(path.absolute().parent)
        except OSError:
            st = None
        if st is not None and st.f_flag & os.ST_RDONLY:
            raise SqliteError(f"SQLite target {path}: on a read-only filesystem; heal cannot change it "
                              "(scans still work)")
        if not os.access(path, os.W_OK) or not os.access(path.absolute().parent, os.W_OK):
            raise SqliteError(f"SQLite target {path}: not writable by this user (the file and its "
                              "directory must be, for the journal)")
    return {"journal": "wal" if wal else "rollback", "size": len(head) and path.stat().st_size}


def _translate(path: Path, exc: sqlite3.Error) -> SqliteError:
    msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "locked" in msg or "busy" in msg:
        return SqliteError(f"SQLite target {path}: locked by another connection for longer than "
                           f"busy_timeout ({BUSY_TIMEOUT_MS} ms): {msg}")
    if "readonly" in msg or "read-only" in msg:
        return SqliteError(f"SQLite target {path}: read-only: {msg}")
    if "not a database" in msg or "malformed" in msg:
        return SqliteError(f"SQLite target {path}: not a usable SQLite database: {msg}")
    return SqliteError(f"SQLite target {path}: {msg}")


@contextlib.contextmanager
def open_readonly(path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Iterator[sqlite3.Connection]:
    """A ``mode=ro`` connection (no write to the file is possible through it); query_only too."""
    preflight(path)
    try:
        conn = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _translate(path, exc) from None
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # forces the header read (locks)
        yield conn
    except sqlite3.Error as exc:
        raise _translate(path, exc) from None
    finally:
        conn.close()


def open_write(path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A read-write connection for fixes (autocommit: heal issues BEGIN IMMEDIATE itself)."""
    preflight(path, write=True)
    try:
        conn = sqlite3.connect(_uri(path, "rw"), uri=True, timeout=busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as exc:
        raise _translate(path, exc) from None
    return conn


def version_tuple(conn: sqlite3.Connection, version: str | None = None) -> tuple[int, ...]:
    v = version or conn.execute("SELECT sqlite_version()").fetchone()[0]
    return tuple(int(x) for x in v.split(".")[:3])
