"""Schema introspection: the whole catalog in a constant number of queries (no Dagster)."""

from .drift import compute_drift, drift_rows, drift_total
from .snapshot import snapshot_from_connection, take_snapshot

__all__ = ["take_snapshot", "snapshot_from_connection", "compute_drift", "drift_rows", "drift_total"]
