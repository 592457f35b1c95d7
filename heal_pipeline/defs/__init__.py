"""All Dagster wiring for heal lives in this package, and nothing else does.

Core packages (introspect, codescan, logs, detect, plan, apply) are plain Python; the modules here
adapt them into assets, checks, jobs, schedules, sensors and resources.
"""
