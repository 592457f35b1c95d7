"""Autonomy with proof (issue 15): shadow mode and the workload watch after a fix (no Dagster here).

* :mod:`.shadow` — what auto-apply would have done under the current policy, per run.
* :mod:`.workload` — pg_stat_statements figures before/after an applied index or type change, the
  verdict, the automatic revert on regression and the hold.
"""
