"""Which database a CLI command works on: ``--dsn``, else ``HEAL_DATABASE_URL``, else the demo of a
running ``heal dev`` in ``$HEAL_HOME`` (as ``heal demo-traffic`` does). No Dagster here.

Every command that falls back says so on stderr (one line: which database, and why that one), so
stdout stays machine-readable for ``--json``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .config import check_scheme, describe_dsn, validate_dsn
from .errors import ConfigError

DEMO_DB = "heal_demo"

@dataclass
class Resolved:
    dsn: str
    source: str  # '--dsn', 'HEAL_DATABASE_URL' or 'the running heal dev demo in …'
    env: dict[str, str] = field(default_factory=dict)  # extra HEAL_* defaults for the demo

    @property
    def is_demo(self) -> bool:
        return self.source.startswith("the running heal dev")

    def announce(self) -> None:
        print(f"heal: database {describe_dsn(self.dsn)} ({self.source})", file=sys.stderr)


def running_demo(env: dict[str, str] | None = None) -> Resolved | None:
    """The demo database of the heal dev server running in ``$HEAL_HOME`` (None if none runs)."""
    from .embedded import EmbeddedServer  # noqa: PLC0415

    env = dict(os.environ if env is None else env)
    home = Path(env.get("HEAL_HOME") or ".heal").expanduser().absolute()
    server = EmbeddedServer(home / "pg" / "data")
    if server.running_pid() is None:
        return None
    info = server.info()
    from .demo.estate import APP_DIR, MIGRATIONS_DIR  # noqa: PLC0415

    extra = {"HEAL_SOURCE_DIRS": str(APP_DIR), "HEAL_MIGRATIONS_DIRS": str(MIGRATIONS_DIR),
             "HEAL_QUERY_LOG": str(info.jsonlog), "HEAL_OBSERVATION_WINDOW": "0"}
    return Resolved(info.dsn(DEMO_DB), f"the running heal dev demo in {home}", extra)


def resolve(explicit: str | None, env: dict[str, str] | None = None) -> Resolved:
    """``--dsn``, else ``HEAL_DATABASE_URL``, else the running heal dev demo; else a one-line error."""
    env = dict(os.environ if env is None else env)
    for value, name in ((explicit, "--dsn"), (env.get("HEAL_DATABASE_URL"), "HEAL_DATABASE_URL")):
        if value:
            return Resolved(validate_dsn(value, name=name), name)
    demo = running_demo(env)
    if demo is None:
        home = Path(env.get("HEAL_HOME") or ".heal").expanduser().absolute()
        raise ConfigError("no target database: set HEAL_DATABASE_URL, pass --dsn, or start `heal dev` "
                          f"(no heal dev server is running in {home})")
    return demo
