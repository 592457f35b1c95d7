"""Configuration from the environment (PRODUCT.md "Configuration"). No Dagster here.

Every value is validated when read; a bad value raises :class:`ConfigError` with one line that names
the variable and what was wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg.conninfo

from .errors import ConfigError
from .packaged import REPO_ROOT, data_dir  # noqa: F401  (REPO_ROOT re-exported)

SQL_DIR = Path(os.environ.get("HEAL_SQL_DIR") or data_dir("sql"))

# schemas heal never examines (its own, and the system's)
HEAL_SCHEMAS = ("heal", "heal_backup", "heal_archive", "heal_quarantine")
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str, *, name: str = "duration") -> float:
    """'7d' -> 604800.0 seconds; '0' -> 0; '90' -> 90 seconds."""
    m = _DURATION.match(value or "")
    if not m:
        raise ConfigError(f"{name}={value!r} is not a duration (examples: 0, 90s, 30m, 12h, 7d, 2w)")
    return float(m.group(1)) * _UNITS[m.group(2)]


#: URL schemes a target may use (a libpq keyword string has none)
ACCEPTED_SCHEMES = ("postgresql", "postgres", "sqlite")


def check_scheme(dsn: str, *, name: str) -> None:
    """A one-line error naming the scheme of a URL heal cannot use (``mysql://…``)."""
    m = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://", dsn or "")
    if m and m.group(1).lower() not in ACCEPTED_SCHEMES:
        raise ConfigError(f"{name} uses the {m.group(1)!r} scheme; heal works on PostgreSQL "
                          f"(postgresql://…) and SQLite (sqlite:///…) databases")


def validate_dsn(dsn: str, *, name: str) -> str:
    """Check a libpq URL/keyword string (or a ``sqlite:`` URL) parses, without connecting."""
    if is_sqlite_url(dsn):
        from .sqlite.target import sqlite_path  # noqa: PLC0415

        sqlite_path(dsn, name=name)
        return dsn
    if not dsn or not dsn.strip():
        raise ConfigError(f"{name} is empty; expected a PostgreSQL URL such as postgresql://user@host/db")
    check_scheme(dsn, name=name)
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"{name} is not a valid PostgreSQL connection string: {msg}") from None
    return dsn


def describe_dsn(dsn: str) -> str:
    """A printable, password-free description of a DSN: 'dbname@host:port'."""
    if is_sqlite_url(dsn):
        return dsn.strip()
    try:
        d = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    host = d.get("host") or "localhost"
    port = d.get("port")
    where = f"{host}:{port}" if port else host
    return f"{d.get('dbname') or d.get('user') or '?'}@{where}"


def is_sqlite_url(dsn: str | None) -> bool:
    """A ``sqlite:`` URL names a SQLite file target (heal_pipeline.sqlite); the rest is PostgreSQL."""
    return bool(dsn) and dsn.strip().lower().startswith("sqlite:")


def database_name(dsn: str) -> str:
    if is_sqlite_url(dsn):
        from .sqlite.target import sqlite_path  # noqa: PLC0415

        return sqlite_path(dsn).stem or "sqlite"
    d = psycopg.conninfo.conninfo_to_dict(dsn)
    return str(d.get("dbname") or d.get("user") or "postgres")


def with_database(dsn: str, dbname: str) -> str:
    d = psycopg.conninfo.conninfo_to_dict(dsn)
    d["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**d)


def _split_paths(value: str | None) -> list[Path]:
    if not value:
        return []
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


@dataclass
class Settings:
    database_url: str | None
    store_url: str | None
    source_dirs: list[Path] = field(default_factory=list)
    migrations_dirs: list[Path] = field(default_factory=list)
    query_log: Path | None = None
    policy: Path | None = None
    observation_window_s: float = 7 * 86400
    home: Path = Path(".heal")
    # HEAL_QUERY_LOG_KEYS: key mapping of an application JSON log (heal_pipeline/logs/applog.py)
    query_log_keys: dict[str, str] | None = None
    # HEAL_FLEET: a TOML/YAML file listing several targets (see targets.py); when set, it is the list
    fleet: Path | None = None
    # the environment these settings were read from (fleet entries name their DSN variables);
    # never printed: it holds secrets
    env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def effective_store_url(self) -> str | None:
        return self.store_url or (None if is_sqlite_url(self.database_url) else self.database_url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        db = env.get("HEAL_DATABASE_URL") or None
        store = env.get("HEAL_STORE_URL") or None
        if db is not None:
            validate_dsn(db, name="HEAL_DATABASE_URL")
        if store is not None:
            validate_dsn(store, name="HEAL_STORE_URL")
            if is_sqlite_url(store):
                raise ConfigError("HEAL_STORE_URL must be PostgreSQL: the heal.* store does not live in SQLite")
        window = parse_duration(env.get("HEAL_OBSERVATION_WINDOW", "7d"),
                                name="HEAL_OBSERVATION_WINDOW")
        log = env.get("HEAL_QUERY_LOG") or None
        from .logs.applog import parse_key_mapping  # noqa: PLC0415

        log_keys = parse_key_mapping(env.get("HEAL_QUERY_LOG_KEYS") or None)
        policy = env.get("HEAL_POLICY") or None
        fleet = env.get("HEAL_FLEET") or None
        return cls(
            database_url=db,
            store_url=store,
            source_dirs=_split_paths(env.get("HEAL_SOURCE_DIRS")),
            migrations_dirs=_split_paths(env.get("HEAL_MIGRATIONS_DIRS")),
            query_log=Path(log).expanduser() if log else None,
            policy=Path(policy).expanduser() if policy else None,
            observation_window_s=window,
            home=Path(env.get("HEAL_HOME") or ".heal").expanduser(),
            fleet=Path(fleet).expanduser() if fleet else None,
            env=env,
            query_log_keys=log_keys,
        )
