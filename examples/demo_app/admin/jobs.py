"""Background jobs (psycopg 3): the app creates its own bookkeeping tables at start-up."""

from __future__ import annotations

import psycopg

# the app's own DDL: a definition in code (like a migration), never a reference to itself
JOB_LOCKS_DDL = """
    CREATE TABLE IF NOT EXISTS public.job_locks (
        name      text PRIMARY KEY,
        owner_id  integer REFERENCES public.users (id),
        taken_at  timestamptz NOT NULL DEFAULT now()
    )
"""


def ensure_tables(cur: psycopg.Cursor) -> None:
    cur.execute(JOB_LOCKS_DDL)
    cur.execute("DROP TABLE IF EXISTS public.job_locks_old")


def take_lock(cur: psycopg.Cursor, name: str, user_id: int) -> bool:
    # planted missing_table: job_locks is defined in code (above) but was never created here
    cur.execute("INSERT INTO public.job_locks (name, owner_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (name, user_id))
    return cur.rowcount == 1


def users_without_email(cur: psycopg.Cursor) -> list[tuple]:
    # a temp table created, filled, read and dropped in one statement: nothing is missing
    cur.execute("""
        CREATE TEMP TABLE tmp_user_ids ON COMMIT DROP AS SELECT id FROM public.users WHERE email = '';
        SELECT u.id, u.full_name FROM tmp_user_ids t JOIN public.users u ON u.id = t.id ORDER BY u.id;
        DROP TABLE IF EXISTS tmp_user_ids
    """)
    return cur.fetchall()
