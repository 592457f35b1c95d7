"""Set-up of the export job table (psycopg 3).

The table is created here IF NOT EXISTS and can be dropped again, but nothing in the application
reads or writes its rows: a reference by DDL only is not use (planted ``unused_table``, issue 12.1).
"""

from __future__ import annotations

import psycopg

CREATE_EXPORT_JOBS = """
    CREATE TABLE IF NOT EXISTS public.export_jobs (
        id         integer PRIMARY KEY,
        kind       text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
"""


def ensure_export_jobs(cur: psycopg.Cursor) -> None:
    cur.execute(CREATE_EXPORT_JOBS)


def drop_export_jobs(cur: psycopg.Cursor) -> None:
    cur.execute("DROP TABLE IF EXISTS public.export_jobs")
