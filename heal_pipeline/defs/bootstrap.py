"""Used by `heal dev`: register the target partitions and run one scan before the UI opens."""

import dagster as dg

from ..config import Settings
from ..targets import targets_from_settings
from .constants import target_db_partitions


def sync_partitions(instance: dg.DagsterInstance, names: list[str]) -> list[str]:
    """Add the partition keys that are missing; returns the ones added."""
    existing = set(instance.get_dynamic_partitions(target_db_partitions.name))
    new = [n for n in names if n not in existing]
    if new:
        instance.add_dynamic_partitions(target_db_partitions.name, new)
    return new


def register_and_scan() -> str:
    from ..definitions import defs

    instance = dg.DagsterInstance.get()
    names = sorted(targets_from_settings(Settings.from_env()))
    sync_partitions(instance, names)
    job = defs.resolve_job_def("heal_scan")
    for name in names:
        result = job.execute_in_process(instance=instance, partition_key=name,
                                        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                                        tags={"heal/target_db": name, "heal/trigger": "heal dev"},
                                        raise_on_error=False)
        if not result.success:
            failures = [e.message for e in result.all_events if e.is_failure]
            raise RuntimeError(f"initial scan of {name} failed: {failures[:1]}")
    return ", ".join(names)
