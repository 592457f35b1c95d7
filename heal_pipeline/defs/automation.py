"""Schedules and sensors (issue #6 builds them here). Exported lists are merged by definitions.py."""

import dagster as dg

SCHEDULES: list[dg.ScheduleDefinition] = []
SENSORS: list[dg.SensorDefinition] = []
