"""One scan of one target, without Dagster: snapshot → code → failed queries → issues.

The Dagster assets call these functions step by step (one asset each); ``heal check`` calls
:func:`scan_target` to do the whole thing in process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings, is_sqlite_url
from .db import connect
from .detect import DetectContext, DetectionResult, RULES, Thresholds, run_detection
from .errors import HealError
from .introspect import take_snapshot
from .model import CodeScan, FailedQuery, Snapshot
from .targets import Target


def code_cache_dir(settings: Settings | None = None) -> Path:
    settings = settings or Settings.from_env()
    return settings.home.absolute() / "cache" / "codescan"


def scan_code(target: Target, *, cache_dir: Path | None = None) -> CodeScan | None:
    """The application's SQL under the target's source roots (None when no roots are configured)."""
    if not target.source_dirs:
        return None
    from .codescan import scan  # noqa: PLC0415

    missing = [str(p) for p in target.source_dirs if not Path(p).is_dir()]
    if missing:
        raise HealError(f"HEAL_SOURCE_DIRS: not a directory: {', '.join(missing)}")
    return scan(list(target.source_dirs), cache_dir=cache_dir,
                dialect="sqlite" if is_sqlite_url(target.dsn) else "postgresql")


def thresholds_for(target: Target) -> Thresholds:
    return Thresholds(observation_window_s=target.observation_window_s)


def make_context(target: Target, snap: Snapshot, code: CodeScan | None, failed: list[FailedQuery],
                 *, coverage_s: float | None, data: bool = True, durations=None) -> DetectContext:
    ctx = DetectContext(
        target_db=target.name, snapshot=snap, code=code, failed=failed, durations=durations,
        connect=(lambda: connect(target.dsn, purpose="target database", autocommit=False)) if data else None,
        thresholds=thresholds_for(target), stats_coverage_s=coverage_s,
        migrations_dirs=tuple(target.migrations_dirs))
    from .detect.pg012_schema_drift import seed_shadow_server  # noqa: PLC0415
    from .detect.usage import load_usage_baseline  # noqa: PLC0415

    seed_shadow_server(ctx, target.store_dsn)  # schema_drift builds its shadow there, never on the target
    # unused_table: one window rule for heal check and Dagster — the store's snapshot history (issue 12.1)
    ctx.usage = lambda: load_usage_baseline(target.store_dsn, target.name, snap, ctx.thresholds.observation_window_s)
    return ctx


def snapshot_cache_dir(settings: Settings | None = None) -> Path:
    """Where scheduled runs remember CHECK constraint texts between processes (introspect/checkdefs.py)."""
    settings = settings or Settings.from_env()
    return settings.home.absolute() / "cache" / "snapshot"


def take_target_snapshot(target: Target, *, cache_dir: Path | None = None) -> Snapshot:
    """The snapshot of a target, whatever its engine (PostgreSQL, or a ``sqlite:`` file)."""
    if is_sqlite_url(target.dsn):
        from .sqlite.snapshot import take_sqlite_snapshot  # noqa: PLC0415
        from .sqlite.target import sqlite_path  # noqa: PLC0415

        return take_sqlite_snapshot(sqlite_path(target.dsn), target_db=target.name)
    return take_snapshot(target.dsn, target_db=target.name, cache_dir=cache_dir)


def detect_target(target: Target, ctx: DetectContext, suppressions=()) -> DetectionResult:
    """``run_detection`` for PostgreSQL targets; the SQLite engine hook for ``sqlite:`` files."""
    if is_sqlite_url(target.dsn):
        from .sqlite.scan import detect_sqlite  # noqa: PLC0415

        return detect_sqlite(target, ctx.snapshot, ctx.code, ctx.failed, suppressions)
    return run_detection(ctx, suppressions)


def checked_types(result: DetectionResult) -> set[str]:
    """Issue types whose check ran completely (only these may mark issues resolved)."""
    partial = {u["check"] for u in result.unchecked}
    return {t for t in RULES if t not in partial}


@dataclass
class ScanOutcome:
    snapshot: Snapshot
    code: CodeScan | None
    failed: list[FailedQuery]
    result: DetectionResult
    seconds: dict[str, float] = field(default_factory=dict)
    statement_checks: list | None = None  # the server's verdicts (heal_pipeline.verify), if it ran


def scan_target(target: Target, *, cache_dir: Path | None = None, failed: list[FailedQuery] | None = None,
                coverage_s: float | None = None, durations=None) -> ScanOutcome:
    """Snapshot + code scan + detection in process, writing nothing anywhere (``heal check``)."""
    if is_sqlite_url(target.dsn):
        from .sqlite.scan import scan_sqlite_target  # noqa: PLC0415

        return scan_sqlite_target(target, cache_dir=cache_dir, failed=failed)
    t = {}
    t0 = time.perf_counter()
    snap = take_snapshot(target.dsn, target_db=target.name)
    t["snapshot"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    code = scan_code(target, cache_dir=cache_dir)
    t["code"] = time.perf_counter() - t0
    if coverage_s is None and snap.stats_reset is not None:
        from datetime import datetime  # noqa: PLC0415

        coverage_s = (datetime.fromisoformat(snap.taken_at.replace("Z", "+00:00"))
                      - datetime.fromisoformat(snap.stats_reset.replace("Z", "+00:00"))).total_seconds()
    t0 = time.perf_counter()
    ctx = make_context(target, snap, code, failed or [], coverage_s=coverage_s, durations=durations)
    result = run_detection(ctx)
    t["detect"] = time.perf_counter() - t0
    return ScanOutcome(snap, code, failed or [], result, t, ctx._cache.get("statement_checks"))
