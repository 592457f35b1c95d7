"""Take a :class:`~heal_pipeline.model.Snapshot` of a PostgreSQL database.

A constant number of catalog queries (the files under ``sql/introspect/``), whatever the number of
tables, all inside one read-only REPEATABLE READ transaction so the parts agree with each other and
nothing can be written to the target. Only catalog read access is needed: a read-only role is enough.
What cannot be read (pg_stat_statements not preloaded, no permission, a timeout) is recorded in
``Snapshot.unavailable`` and never reported as clean.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import model
from ..config import HEAL_SCHEMAS, database_name
from ..db import connect, load_query, load_sql
from ..errors import HealError, first_line

PARTS: tuple[tuple[str, str, type], ...] = (
    ("tables", "introspect/01_tables.sql", model.Table),
    ("columns", "introspect/02_columns.sql", model.Column),
    ("constraints", "introspect/03_constraints.sql", model.Constraint),
    ("indexes", "introspect/04_indexes.sql", model.Index),
    ("views", "introspect/05_views.sql", model.View),
    ("view_dependencies", "introspect/06_view_dependencies.sql", model.ViewDependency),
    ("functions", "introspect/07_functions.sql", model.Function),
    ("triggers", "introspect/08_triggers.sql", model.Trigger),
    ("extensions", "introspect/09_extensions.sql", model.Extension),
)

STATEMENT_LIMIT = 1000


def _row_to(typ: type, row: dict[str, Any]) -> Any:
    return typ(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in row.items()})


def take_snapshot(dsn: str, *, target_db: str | None = None,
                  exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                  statement_timeout_ms: int = 120_000) -> model.Snapshot:
    """Connect to ``dsn`` and read the whole catalog. Raises :class:`HealError` on failure."""
    conn = connect(dsn, purpose="target database", autocommit=False)
    try:
        return snapshot_from_connection(conn, target_db=target_db or database_name(dsn),
                                        exclude_schemas=exclude_schemas,
                                        statement_timeout_ms=statement_timeout_ms)
    finally:
        conn.close()


def snapshot_from_connection(conn: psycopg.Connection, *, target_db: str,
                             exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                             statement_timeout_ms: int = 120_000) -> model.Snapshot:
    params = {"exclude": list(exclude_schemas)}
    queries = 0
    conn.autocommit = False
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true),"
                        " set_config('lock_timeout', '5s', true)", (str(statement_timeout_ms),))
            cur.execute(load_sql("introspect/00_server.sql"), params)
            server = cur.fetchone()
            queries += 2
            assert server is not None
            snap = model.Snapshot(
                target_db=target_db,
                database=server["database"],
                server_version=server["server_version"],
                server_version_num=server["server_version_num"],
                taken_at=server["taken_at"],
                stats_reset=server["stats_reset"],
                schemas=list(server["schemas"]),
            )
            for attr, path, typ in PARTS:
                cur.execute(load_sql(path), params)
                queries += 1
                setattr(snap, attr, [_row_to(typ, r) for r in cur.fetchall()])

            pgss_schema = server["pgss_schema"]
            if pgss_schema is None:
                snap.pg_stat_statements = "not_installed"
            else:
                cur.execute("SAVEPOINT heal_pgss")
                try:
                    q = load_query("introspect/10_statements.sql",
                                   pgss=sql.Identifier(pgss_schema, "pg_stat_statements"))
                    cur.execute(q, {"limit": STATEMENT_LIMIT})
                    queries += 1
                    snap.statements = [_row_to(model.StatementStat, r) for r in cur.fetchall()]
                    snap.pg_stat_statements = "ok"
                except psycopg.Error as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT heal_pgss")
                    msg = first_line(exc)
                    if "shared_preload_libraries" in msg:
                        snap.pg_stat_statements = "not_preloaded"
                    elif getattr(exc, "sqlstate", None) == "42501":
                        snap.pg_stat_statements = f"no_permission: {msg}"
                    else:
                        snap.pg_stat_statements = f"error: {msg}"
                    snap.unavailable["statements"] = msg
        conn.rollback()  # read-only: nothing to keep
    except psycopg.errors.QueryCanceled as exc:
        conn.rollback()
        raise HealError(f"schema snapshot timed out after {statement_timeout_ms} ms: "
                        f"{first_line(exc)}") from None
    except psycopg.Error as exc:
        conn.rollback()
        raise HealError(f"schema snapshot failed: {first_line(exc)}") from None
    snap.query_count = queries
    return snap
