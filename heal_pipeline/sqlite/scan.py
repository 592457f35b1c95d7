"""One scan of one SQLite target, in process (``heal check``): snapshot → code → app log → issues."""

from __future__ import annotations

import time
from pathlib import Path

from ..model import FailedQuery
from ..targets import Target
from .applog import read_app_log
from .detect import SqliteDetector
from .snapshot import snapshot_from_sqlite
from .target import open_readonly, sqlite_path


def scan_sqlite_target(target: Target, *, cache_dir: Path | None = None,
                       failed: list[FailedQuery] | None = None):
    from ..scan import ScanOutcome, scan_code  # noqa: PLC0415  (scan imports this module lazily)

    path = sqlite_path(target.dsn, name=target.dsn_env or "dsn")
    t: dict[str, float] = {}
    if not failed and target.query_log is not None:  # heal check passes [] for SQLite targets
        failed = read_app_log(target.query_log)
    failed = failed or []
    t0 = time.perf_counter()
    with open_readonly(path) as conn:
        snap = snapshot_from_sqlite(conn, target_db=target.name, database=path.name)
        t["snapshot"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        code = scan_code(target, cache_dir=cache_dir)
        t["code"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = SqliteDetector(path, snap, code, failed, target.migrations_dirs).run(conn)
        t["detect"] = time.perf_counter() - t0
    return ScanOutcome(snap, code, failed, result, t)


def detect_sqlite(target: Target, snap, code, failed, suppressions=()):
    """Detection on a stored snapshot (the Dagster issue_set asset): data evidence read-only from the file."""
    path = sqlite_path(target.dsn, name=target.dsn_env or "dsn")
    with open_readonly(path) as conn:
        return SqliteDetector(path, snap, code, failed or [], target.migrations_dirs).run(conn, suppressions)
