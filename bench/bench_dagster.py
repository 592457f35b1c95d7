"""heal_scan as a Dagster run vs `heal check`, on the demo estate and on a larger estate, in the same run.

    .venv/bin/python bench/bench_dagster.py [--tables 1000] [--repeat 2] [--multiprocess]

Starts a throwaway embedded PostgreSQL and builds the demo estate. The Dagster instance is the one
`heal dev` uses (dagster-postgres storage on the same server), not an in-memory test instance. For
each estate (the demo; the demo plus ``--tables`` generated tables, the same generator as
bench_snapshot) it times, in the same run:

* `heal check` as a subprocess (the baseline: what a CI job pays);
* the `heal_scan` job through ``dagster.execute_job`` with its own executor (in-process), the first
  run in an empty ``HEAL_HOME`` ("cold": no plan or code-scan cache) and unchanged re-runs ("warm");
  the definitions are imported before timing (a code server loads them once);
* Dagster's own floor: a job of six no-op partitioned assets with the same shape (one partition,
  metadata on each materialization), on the same instance — what any six-step run costs;
* with ``--multiprocess``, the job with the multiprocess executor it used before issue 16.

Prints seconds and ratios to `heal check`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent))

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _scan_job():
    from heal_pipeline.definitions import defs

    return defs.resolve_job_def("heal_scan")


def _scan_job_mp():
    """heal_scan as it was before issue 16: the default multiprocess executor."""
    from heal_pipeline import definitions as d

    job = dg.define_asset_job("heal_scan", selection=d.heal_scan.selection, tags={"heal/kind": "scan"},
                              executor_def=dg.multiprocess_executor)
    return dg.Definitions(assets=d.ASSETS, jobs=[job], resources=d.defs.resources).resolve_job_def("heal_scan")


def _floor_job():
    """Six no-op assets, partitioned like heal's, each with a few metadata entries."""
    from heal_pipeline.defs.constants import target_db_partitions

    def make(name, deps):
        @dg.asset(name=name, deps=deps, partitions_def=target_db_partitions)
        def _a() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"n": 1, "text": "x"})
        return _a

    a = [make("f_snapshot", [])]
    a.append(make("f_code", []))
    a.append(make("f_failed", []))
    a.append(make("f_issues", ["f_snapshot", "f_code", "f_failed"]))
    a.append(make("f_checks", ["f_snapshot"]))
    a.append(make("f_plan", ["f_issues"]))
    job = dg.define_asset_job("floor", selection=dg.AssetSelection.assets(*a), executor_def=dg.in_process_executor)
    return dg.Definitions(assets=a, jobs=[job]).resolve_job_def("floor")


def _run(instance, fn, partition: str) -> float:
    t0 = time.perf_counter()
    with dg.execute_job(dg.reconstructable(fn), instance=instance, run_config=QUIET,
                        tags={"dagster/partition": partition}) as res:
        if not res.success:
            raise SystemExit(f"run of {fn.__name__} failed")
    return time.perf_counter() - t0


def _check(env: dict) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "check"], capture_output=True,
                         text=True, env={**os.environ, **env}, check=False)
    if out.returncode not in (0, 1):
        raise SystemExit(f"heal check failed: {out.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def _grow(dsn: str, tables: int) -> None:
    import psycopg

    import bench_snapshot

    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in range(10):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS gen{s}")
        for lo in range(1, tables + 1, 500):
            conn.execute(bench_snapshot.GEN_SQL % {"lo": lo, "hi": min(lo + 499, tables)})
        conn.execute("ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--multiprocess", action="store_true")
    args = ap.parse_args()

    from heal_pipeline.defs.bootstrap import sync_partitions
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR, build_estate
    from heal_pipeline.dev import DAGSTER_DB, dagster_yaml
    from heal_pipeline.embedded import create_database, temporary_server

    server = temporary_server()
    home = tempfile.mkdtemp(prefix="heal-bench-dagster-")
    try:
        admin = server.info().dsn("postgres")
        create_database(admin, DAGSTER_DB)
        Path(home, "dagster.yaml").write_text(dagster_yaml(server.info()), encoding="utf-8")
        rows = []
        for label, extra in (("demo", 0), (f"demo + {args.tables} tables", args.tables)):
            name = "heal_demo" if not extra else "heal_big"
            dsn = build_estate(admin, name)["dsn"]
            if extra:
                _grow(dsn, extra)
            env = {"HEAL_DATABASE_URL": dsn, "HEAL_SOURCE_DIRS": str(APP_DIR),
                   "HEAL_MIGRATIONS_DIRS": str(MIGRATIONS_DIR), "HEAL_OBSERVATION_WINDOW": "0",
                   "HEAL_HOME": str(Path(home, name)), "HEAL_TARGET_NAME": name}
            os.environ.update(env)
            with dg.DagsterInstance.from_config(home) as instance:
                sync_partitions(instance, [name])
                _scan_job()  # the code location is loaded once per process, as a code server does
                checks = [_check(env) for _ in range(args.repeat + 1)][1:]   # first one warms the OS cache
                cold = _run(instance, _scan_job, name)
                warm = [_run(instance, _scan_job, name) for _ in range(args.repeat)]
                floor = [_run(instance, _floor_job, name) for _ in range(args.repeat)]
                mp = [_run(instance, _scan_job_mp, name)] if args.multiprocess else []
            c = statistics.median(checks)
            rows.append((label, c, cold, statistics.median(warm), statistics.median(floor),
                         statistics.median(mp) if mp else None))
        print(f"{'estate':<22}{'heal check':>11}{'run cold':>15}{'run warm':>15}{'dagster floor':>16}"
              f"{'warm - floor':>15}" + ("  multiprocess" if args.multiprocess else ""))
        for label, c, cold, warm, floor, mp in rows:
            line = (f"{label:<22}{c:9.2f} s{cold:7.2f} s {cold / c:4.1f}x{warm:7.2f} s {warm / c:4.1f}x"
                    f"{floor:8.2f} s {floor / c:4.1f}x{warm - floor:8.2f} s {(warm - floor) / c:4.1f}x")
            if mp is not None:
                line += f"{mp:8.2f} s {mp / c:4.1f}x"
            print(line)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
