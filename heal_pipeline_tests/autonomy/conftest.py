import pytest


@pytest.fixture
def store_dsn(make_db):
    """A separate heal store database (the target's content hash only sees the application)."""
    return make_db(prefix="heal_t_store_")


# ---- a Debian PostgreSQL 15 with HypoPG, for the what-if tests only ---------------------------


@pytest.fixture(scope="session")
def pg15_hypopg_dsn():
    """Superuser DSN of a throwaway PostgreSQL 15 (Unix socket only, HypoPG + pg_stat_statements)."""
    from heal_pipeline.whatif import pg15

    why = pg15.missing()
    if why:
        pytest.skip(f"what-if tests need HypoPG on PostgreSQL 15: {why}")
    try:
        server = pg15.start()
    except Exception as exc:  # noqa: BLE001 - a server that cannot start: skip, saying why
        pytest.skip(f"what-if tests: the PostgreSQL 15 test server did not start: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def pg15_db(pg15_hypopg_dsn):
    """A fresh database on the PostgreSQL 15 server with hypopg + pg_stat_statements created."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"heal_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg15_hypopg_dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = pg15_hypopg_dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION hypopg")
        c.execute("CREATE EXTENSION pg_stat_statements")
    yield dsn
    with psycopg.connect(pg15_hypopg_dsn, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
