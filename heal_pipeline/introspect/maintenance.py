"""Maintenance facts for the issue-15 checks: vacuum/analyze state, sequences, wraparound age.

Two catalog queries in one round trip (``sql/introspect/12_maintenance.sql``: a row per table;
``13_maintenance_other.sql``: sequences and the database's ages as (kind, jsonb)) run inside the
snapshot's read-only transaction, under a savepoint: a failure here (a permission, an old server) is recorded in ``Snapshot.maintenance_status`` and
``Snapshot.unavailable["maintenance"]`` and never fails the snapshot, nor reads as clean.
"""

from __future__ import annotations

import dataclasses

import psycopg

from .. import model
from ..config import HEAL_SCHEMAS
from ..db import load_sql
from ..errors import first_line
from .build import build_rows


def _build(typ: type, d: dict):
    names = [f.name for f in dataclasses.fields(typ)]
    return typ(**{n: d.get(n) for n in names if n in d})


def read_maintenance(conn: psycopg.Connection, snap: model.Snapshot,
                     exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS) -> int:
    """Fill the maintenance fields of ``snap`` on ``conn`` (inside a transaction); returns queries run."""
    conn.execute("SAVEPOINT heal_maintenance")
    try:
        params = {"exclude": list(exclude_schemas)}
        with conn.cursor() as cur_t, conn.cursor() as cur_o:
            with conn.pipeline():  # both sent before either result is read: one round trip
                cur_t.execute(load_sql("introspect/12_maintenance.sql"), params)
                cur_o.execute(load_sql("introspect/13_maintenance_other.sql"), params)
            cols = [d.name for d in cur_t.description or []]
            # the SELECT list follows the fields (checked): positional, 2× cheaper than keywords
            tables = build_rows(model.TableMaintenance, cols, cur_t.fetchall())
            rows = cur_o.fetchall()
        sequences = []
        for kind, data in rows:
            if kind == "sequence":
                sequences.append(_build(model.SequenceStat, data))
            else:
                snap.database_xid_age = data.get("database_xid_age")
                snap.database_mxid_age = data.get("database_mxid_age")
                snap.freeze_max_age = data.get("freeze_max_age")
        snap.maintenance, snap.sequences = tables, sequences
        snap.maintenance_status = "ok"
        conn.execute("RELEASE SAVEPOINT heal_maintenance")
        return 2
    except psycopg.Error as exc:
        conn.execute("ROLLBACK TO SAVEPOINT heal_maintenance")
        snap.maintenance, snap.sequences = [], []
        snap.maintenance_status = f"error: {first_line(exc)}"
        snap.unavailable["maintenance"] = first_line(exc)
    return 1


def maintenance_from_dsn(dsn: str, snap: model.Snapshot) -> model.Snapshot:
    """Fill ``snap``'s maintenance facts over a new read-only connection (for snapshots taken without them)."""
    from ..db import connect

    conn = connect(dsn, purpose="target database", autocommit=False)
    try:
        conn.read_only = True
        read_maintenance(conn, snap)
        conn.rollback()
    finally:
        conn.close()
    return snap
