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
