"""The ``heal`` store: versioned schema from ``sql/schema/*.sql`` and the snapshot history.

The store is a PostgreSQL database (``HEAL_STORE_URL``; by default the target itself). Writing to it
is the only write heal does during a scan, and it never touches the application's schemas.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .db import connect, sql_files
from .errors import HealError, first_line
from .model import Snapshot

# an arbitrary constant so migrations of the store never run twice at once
_MIGRATION_LOCK = 0x6865616C  # "heal"


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply every not-yet-applied file of ``sql/schema`` in order. Returns the versions applied."""
    applied: list[str] = []
    files = sql_files("schema")
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("SET LOCAL lock_timeout = '10s'")
            exists = conn.execute(
                "SELECT to_regclass('heal.schema_migrations') IS NOT NULL").fetchone()[0]
            done: dict[str, str] = {}
            if exists:
                done = dict(conn.execute(
                    "SELECT version, checksum FROM heal.schema_migrations").fetchall())
            for path in files:
                version = path.stem
                text = path.read_text(encoding="utf-8")
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if version in done:
                    continue
                conn.execute(text)  # type: ignore[arg-type]  # trusted file shipped with heal
                conn.execute(
                    "INSERT INTO heal.schema_migrations (version, checksum) VALUES (%s, %s)"
                    " ON CONFLICT (version) DO NOTHING", (version, checksum))
                applied.append(version)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise HealError(
            f"cannot create the heal store schema: {first_line(exc)} "
            "(grant CREATE on the database, or set HEAL_STORE_URL to a writable database)") from None
    except psycopg.Error as exc:
        raise HealError(f"heal store migration failed: {first_line(exc)}") from None
    return applied


def open_store(dsn: str) -> psycopg.Connection:
    conn = connect(dsn, purpose="heal store", autocommit=True)
    migrate(conn)
    return conn


def previous_snapshot(conn: psycopg.Connection, target_db: str) -> Snapshot | None:
    row = conn.execute(
        "SELECT snapshot FROM heal.schema_snapshots WHERE target_db = %s"
        " ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1", (target_db,)).fetchone()
    return Snapshot.from_dict(row[0]) if row else None


def snapshot_history(conn: psycopg.Connection, target_db: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Light rows (no jsonb body) of earlier snapshots, newest first — for observation windows."""
    cur = conn.execute(
        "SELECT snapshot_id, taken_at, stats_reset, content_hash FROM heal.schema_snapshots"
        " WHERE target_db = %s ORDER BY taken_at DESC LIMIT %s", (target_db, limit))
    cols = [c.name for c in cur.description or []]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def save_snapshot(conn: psycopg.Connection, snap: Snapshot, *, drift: dict[str, Any],
                  run_id: str | None, seconds: float | None) -> int:
    try:
        row = conn.execute(
            """INSERT INTO heal.schema_snapshots
                   (target_db, run_id, taken_at, content_hash, server_version, stats_reset,
                    counts, drift, unavailable, seconds, snapshot)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING snapshot_id""",
            (snap.target_db, run_id, snap.taken_at, snap.content_hash(), snap.server_version,
             snap.stats_reset, Jsonb(snap.counts()), Jsonb(drift), Jsonb(snap.unavailable),
             seconds, Jsonb(json.loads(json.dumps(snap.to_dict(), default=str)))),
        ).fetchone()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise HealError(f"cannot write to the heal store: {first_line(exc)} "
                        "(set HEAL_STORE_URL to a writable database)") from None
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise HealError(f"the heal store is read-only: {first_line(exc)} "
                        "(set HEAL_STORE_URL to a writable database)") from None
    assert row is not None
    return int(row[0])
