"""Detection tests make many short-lived databases: their pg_stat_statements entries are forgotten.

pg_stat_statements keys entries by database, so every fresh database (and every store migration in it)
adds entries, and they stay after the database is dropped. The session server keeps 5,000
(``pg_stat_statements.max``); once full it evicts the least used — the demo's planted slow query among
them, which later tests read. So each detection test that used ``fresh_dsn`` drops the entries of its
own database (``pg_stat_statements_reset(0, dbid, 0)``: that database only) before it is dropped.
"""

import psycopg
import pytest


@pytest.fixture(autouse=True)
def _forget_statement_stats(request):
    dsn = request.getfixturevalue("fresh_dsn") if "fresh_dsn" in request.fixturenames else None
    yield
    if dsn is None:
        return
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
                         " WHERE datname = current_database()), 0)")
    except psycopg.Error:
        pass  # an external server without the preload: nothing kept, nothing to forget
