"""Instance storage for heal's Dagster: dagster-postgres, keeping one connection per process.

dagster-postgres opens a new server connection for every read and write outside the webserver
(``NullPool``): a run of heal_scan writes about fifty events, so a run worker pays fifty
connection setups — measured on the embedded server, six no-op assets took 1.0 s with NullPool and
0.33 s with one kept connection (bench/bench_dagster.py prints the floor). These subclasses are the
dagster-postgres storages with a small pool instead: one connection kept per storage and process,
extra ones for concurrent threads closed when returned, checked before use (``pool_pre_ping``, a
restarted server costs one reconnect, never a failed write) and recycled hourly. The webserver still
replaces the engine with its own pool (``optimize_for_webserver``).

Used by the instance ``heal dev`` writes (``heal_pipeline.dev.dagster_yaml``, which names these
classes without importing them) and offered in ``deploy/dagster.yaml``; a plain ``storage:
postgres:`` block keeps working.
"""

from __future__ import annotations

from typing import Any

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

#: connections beyond the kept one, for threads of one process (the daemon's, a sensor's)
MAX_OVERFLOW = 8
POOL_RECYCLE_S = 3600


def _keep_connection(storage: Any) -> None:
    """Swap the storage's NullPool engine for a pooled one (same URL, same token provider)."""
    previous = storage._engine
    storage._engine = create_pg_engine(
        storage.postgres_url, storage._token_provider, isolation_level="AUTOCOMMIT", pool_size=1,
        max_overflow=MAX_OVERFLOW, pool_recycle=POOL_RECYCLE_S, pool_pre_ping=True)
    previous.dispose()


def _kwargs(config_value: Any) -> dict[str, Any]:
    return {"postgres_url": pg_url_from_config(config_value),
            "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
            "token_provider": get_token_provider_from_config(config_value)}


class _KeptConnection:
    """Mixin: the dagster-postgres storage it precedes, built from the same config, with a pooled engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _keep_connection(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # noqa: D102 - the dagster-postgres config
        return cls(inst_data=inst_data, **_kwargs(config_value))


class PooledPostgresRunStorage(_KeptConnection, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(_KeptConnection, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_KeptConnection, PostgresScheduleStorage):
    pass
