"""Target databases: one from the environment (``HEAL_DATABASE_URL``), or several from a fleet file.

A target is identified by a short name, which is also its Dagster partition key and the
``target_db`` column of every heal table. Plain Python, no Dagster.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings, database_name, validate_dsn
from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


@dataclass(frozen=True)
class Target:
    name: str
    dsn: str
    store_dsn: str
    source_dirs: tuple[Path, ...] = ()
    migrations_dirs: tuple[Path, ...] = ()
    query_log: Path | None = None
    policy: Path | None = None
    observation_window_s: float = 7 * 86400
    extra: dict = field(default_factory=dict, hash=False, compare=False)


def default_target_name(dsn: str) -> str:
    name = os.environ.get("HEAL_TARGET_NAME") or database_name(dsn)
    if not _NAME.match(name):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:63] or "target"
    return name


def targets_from_settings(settings: Settings) -> dict[str, Target]:
    """The targets heal knows about. Empty when nothing is configured (never a guess)."""
    if settings.database_url is None:
        return {}
    dsn = validate_dsn(settings.database_url, name="HEAL_DATABASE_URL")
    name = default_target_name(dsn)
    return {
        name: Target(
            name=name,
            dsn=dsn,
            store_dsn=settings.effective_store_url or dsn,
            source_dirs=tuple(settings.source_dirs),
            migrations_dirs=tuple(settings.migrations_dirs),
            query_log=settings.query_log,
            policy=settings.policy,
            observation_window_s=settings.observation_window_s,
        )
    }


def resolve_target(name: str, settings: Settings | None = None) -> Target:
    settings = settings or Settings.from_env()
    targets = targets_from_settings(settings)
    if not targets:
        raise ConfigError("no target database configured: set HEAL_DATABASE_URL "
                          "(or run `heal dev` for the demo estate)")
    if name not in targets:
        raise ConfigError(f"unknown target database {name!r}; configured: {', '.join(sorted(targets))}")
    return targets[name]
