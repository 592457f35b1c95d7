"""Connection helpers shared by every module."""

from __future__ import annotations

import os

import asyncpg
import psycopg
from psycopg import sql

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://localhost/acme")

_pool: asyncpg.Pool | None = None


async def pool() -> asyncpg.Pool:
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=10)
    return _pool


def sync_connection() -> psycopg.Connection:
    """For reports and admin scripts (psycopg 3, %s placeholders)."""
    return psycopg.connect(DATABASE_URL)


async def table_exists(conn, schema: str, name: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables "
        "WHERE table_schema = $1 AND table_name = $2)",
        schema, name,
    )


async def relation_sizes(conn, schema: str):
    return await conn.fetch(
        """
        SELECT c.relname, pg_total_relation_size(c.oid) AS bytes
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r'
        ORDER BY bytes DESC
        """,
        schema,
    )


def count_rows(cur: psycopg.Cursor, schema: str, table: str) -> int:
    """Identifiers composed with psycopg.sql: safe, and not a finding."""
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
    return cur.fetchone()[0]
