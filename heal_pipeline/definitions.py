"""The heal code location: the only place that assembles Dagster definitions."""

import dagster as dg

from .defs.assets import schema_snapshot
from .defs.resources import HealResource

defs = dg.Definitions(
    assets=[schema_snapshot],
    resources={
        "heal": HealResource(database_url=dg.EnvVar("HEAL_DATABASE_URL")),
    },
)
