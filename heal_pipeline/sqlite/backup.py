"""Backups of a SQLite target through the backup API, and the post-fix row image rollback uses.

``sqlite3.Connection.backup`` copies a consistent snapshot of the database — WAL content included —
while the app keeps running (it restarts when the source changes mid-copy). The copy is verified
with ``PRAGMA integrity_check`` before any change is made. Next to it, ``<backup>.image.db`` holds
each changed table's per-row hash right after the fix (``key → hash``): a rollback restores only
the rows still equal to it, so rows the app wrote since are never overwritten.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from .target import SqliteError


def backup_dir(home: Path) -> Path:
    d = home.absolute() / "sqlite_backups"
    d.mkdir(parents=True, exist_ok=True)
    return d


def take_backup(conn: sqlite3.Connection, dest_dir: Path, name: str) -> tuple[Path, float]:
    """A restorable copy of the whole file (consistent, WAL included). Returns (path, seconds)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    dest = dest_dir / f"{name}_{stamp}.db"
    t0 = time.perf_counter()
    out = sqlite3.connect(dest)
    try:
        conn.backup(out, pages=4096)
        ok = out.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        out.close()
    if ok != "ok":
        dest.unlink(missing_ok=True)
        raise SqliteError(f"the backup {dest} failed integrity_check ({ok}); nothing was changed")
    return dest, time.perf_counter() - t0


def save_image(backup: Path, table: str, image: dict) -> Path:
    path = Path(str(backup) + ".image.db")
    c = sqlite3.connect(path)
    try:
        c.execute("CREATE TABLE IF NOT EXISTS image (tbl TEXT NOT NULL, k TEXT NOT NULL, h TEXT NOT NULL, "
                  "PRIMARY KEY (tbl, k)) WITHOUT ROWID")
        c.execute("DELETE FROM image WHERE tbl = ?", (table,))
        c.executemany("INSERT INTO image VALUES (?, ?, ?)", ((table, repr(k), h) for k, h in image.items()))
        c.commit()
    finally:
        c.close()
    return path


def load_image(backup: Path, table: str) -> dict[str, str]:
    path = Path(str(backup) + ".image.db")
    if not path.exists():
        raise SqliteError(f"the post-fix row image {path} is missing: cannot tell which rows the app changed")
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(c.execute("SELECT k, h FROM image WHERE tbl = ?", (table,)))
    finally:
        c.close()
