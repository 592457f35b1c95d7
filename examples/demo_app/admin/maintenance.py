"""Admin scripts (psycopg 3): housekeeping, exports, one-off reports."""

from __future__ import annotations

import psycopg
from psycopg import sql

from ..db import count_rows


def sessions_per_user(cur: psycopg.Cursor) -> list[tuple]:
    cur.execute("SELECT u.email, count(*) AS sessions FROM public.users u JOIN auth.sessions s ON s.user_id = CAST(u.id AS text) GROUP BY u.email ORDER BY sessions DESC LIMIT %s", (20,))
    return cur.fetchall()


def users_with_status(cur: psycopg.Cursor, status: str) -> list[tuple]:
    cur.execute("SELECT u.id, u.email FROM public.users u WHERE u.status = '%s' ORDER BY u.id" % status)
    return cur.fetchall()


def vacuum_candidates(cur: psycopg.Cursor) -> list[tuple]:
    cur.execute(
        "SELECT schemaname, relname, n_dead_tup FROM pg_catalog.pg_stat_user_tables "
        "WHERE n_dead_tup > %s ORDER BY n_dead_tup DESC",
        (1000,),
    )
    return cur.fetchall()


def table_sizes(cur: psycopg.Cursor) -> dict[str, int]:
    # a loop over a list of names, composed with psycopg.sql: neither unsafe nor an N+1
    sizes = {}
    for schema, table in [("public", "users"), ("billing", "invoices"), ("analytics", "events")]:
        sizes[f"{schema}.{table}"] = count_rows(cur, schema, table)
    return sizes


def export_table(cur: psycopg.Cursor, schema: str, table: str, limit: int) -> list[tuple]:
    query = sql.SQL("SELECT * FROM {} LIMIT {}").format(sql.Identifier(schema, table), sql.Literal(limit))
    cur.execute(query)
    return cur.fetchall()


def disable_stale_webhooks(cur: psycopg.Cursor) -> int:
    cur.execute(
        """
        UPDATE public.webhooks w SET active = false
        WHERE w.active AND NOT EXISTS (
            SELECT 1 FROM public.webhook_deliveries d
            WHERE d.webhook_id = w.id AND d.status_code < 500 AND d.delivered_at > now() - interval '30 days'
        )
        """
    )
    return cur.rowcount
