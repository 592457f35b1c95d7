"""Connections with clear errors. Plain psycopg 3, no Dagster."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg import sql

from .config import SQL_DIR, describe_dsn, validate_dsn
from .errors import ConnectionFailed, HealError, first_line

APPLICATION_NAME = "heal"


def connect(dsn: str, *, purpose: str = "target database", autocommit: bool = True,
            connect_timeout: int = 10, **kwargs) -> psycopg.Connection:
    """Open a connection or raise a one-line :class:`ConnectionFailed` naming what failed."""
    validate_dsn(dsn, name=purpose)
    if dsn.strip().lower().startswith("sqlite:"):  # accepted as a target URL, never a PostgreSQL one
        raise ConnectionFailed(f"the {purpose} is a SQLite file ({dsn.strip()}): this command needs PostgreSQL "
                               "(SQLite targets: heal check, heal snapshot, heal sqlite fix/rollback; the heal "
                               "store is HEAL_STORE_URL or the embedded server)")
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout,
                               application_name=APPLICATION_NAME, **kwargs)
    except psycopg.OperationalError as exc:
        raise ConnectionFailed(
            f"cannot connect to the {purpose} ({describe_dsn(dsn)}): {first_line(exc)}") from None
    except psycopg.Error as exc:  # pragma: no cover - e.g. InterfaceError from bad options
        raise ConnectionFailed(
            f"cannot connect to the {purpose} ({describe_dsn(dsn)}): {first_line(exc)}") from None


@contextlib.contextmanager
def connection(dsn: str, **kwargs) -> Iterator[psycopg.Connection]:
    conn = connect(dsn, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def load_sql(relative: str) -> str:
    """Read a SQL file kept under the top-level ``sql/`` folder."""
    path = SQL_DIR / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HealError(f"heal SQL file missing: {path} (is HEAL_SQL_DIR right?)") from None


def load_query(relative: str, **identifiers: sql.Composable) -> sql.Composed | sql.SQL:
    """A query file as a psycopg ``sql`` object; ``{name}`` holes are filled with composables only."""
    text = load_sql(relative)
    q = sql.SQL(text)  # type: ignore[arg-type]
    return q.format(**identifiers) if identifiers else q


def sql_files(folder: str) -> list[Path]:
    return sorted((SQL_DIR / folder).glob("*.sql"))


def is_permission_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.errors.InsufficientPrivilege) or (
        isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None) == "42501")


__all__ = ["connect", "connection", "load_sql", "load_query", "sql_files", "Path"]
