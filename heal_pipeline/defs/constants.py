"""Names shared by the Dagster definitions (groups, tags, partitions)."""

import dagster as dg

GROUP_INTROSPECT = "introspect"
GROUP_CODESCAN = "codescan"
GROUP_DETECT = "detect"
GROUP_PLAN = "plan"
GROUP_APPLY = "apply"

OWNERS = ["team:data-platform"]

TAG_TARGET_DB = "heal/target_db"

# one partition per target database (a fleet file lists several; a single target is one key)
target_db_partitions = dg.DynamicPartitionsDefinition(name="target_db")


def partitioned_check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """An asset check evaluated per target_db partition (issue 16): each target's result is its own, so
    a fleet shows every target's check instead of whichever target ran last. Dagster flags
    ``AssetCheckSpec(partitions_def=…)`` as preview; the warning is silenced for this call only."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")
        return dg.AssetCheckSpec(name, asset=asset, description=description, partitions_def=target_db_partitions)
