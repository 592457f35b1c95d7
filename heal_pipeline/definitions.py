"""The heal code location: the only place that assembles Dagster definitions."""

import gc
import os

import dagster as dg

from .defs.assets import code_findings, failed_queries, schema_snapshot
from .defs.assets_detect import issue_set
from .defs.assets_verify import statement_checks
from .defs.assets_fix import applied_fixes, fix_plan, heal_apply, heal_rollback
from .defs.automation import SCHEDULES, SENSORS, auto_apply_sensor
from .defs.constants import GROUP_APPLY
from .defs.resources import HealResource

# The processes that load this location (run workers, the code server) hold Dagster's whole object
# graph, and heal's steps allocate ~10^6 short-lived containers a run: with CPython's default
# young-generation threshold (700) the collector ran ~400 times a heal_scan run and took 0.2-0.4 s of a
# 2 s run at 1,000 tables (heal check, with a small heap, loses < 0.05 s to it). Collecting the young
# generation every 100,000 net allocations keeps cyclic garbage bounded (tens of MB at most) and cost
# ~0.07 s (bench/bench_dagster.py). Only this location's processes are affected.
GC_THRESHOLD = (100_000, 20, 10)
if gc.get_threshold()[0] < GC_THRESHOLD[0]:
    gc.set_threshold(*GC_THRESHOLD)

ASSETS = [schema_snapshot, code_findings, failed_queries, issue_set, fix_plan, applied_fixes,
          statement_checks]

# the scan: everything up to fix_plan (never applies anything)
heal_scan = dg.define_asset_job(
    "heal_scan",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(GROUP_APPLY),
    description="Snapshot, scan code and logs, detect issues and plan fixes. Writes only heal.* tables.",
    tags={"heal/kind": "scan"},
    # one process: a subprocess per step cost ~2 s each for steps of about a second (issue 16)
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[heal_scan, heal_apply, heal_rollback],
    schedules=SCHEDULES,
    sensors=[*SENSORS, auto_apply_sensor(heal_apply)],
    resources={
        # single target: the DSN through EnvVar (never in run config); fleet: per-target env vars
        "heal": (HealResource(database_url=dg.EnvVar("HEAL_DATABASE_URL"))
                 if os.environ.get("HEAL_DATABASE_URL") else HealResource()),
    },
)
