"""The heal code location: the only place that assembles Dagster definitions."""

import os

import dagster as dg

from .defs.assets import code_findings, failed_queries, schema_snapshot
from .defs.assets_detect import issue_set
from .defs.assets_verify import statement_checks
from .defs.assets_fix import applied_fixes, fix_plan, heal_apply, heal_rollback
from .defs.automation import SCHEDULES, SENSORS, auto_apply_sensor
from .defs.constants import GROUP_APPLY
from .defs.resources import HealResource

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
