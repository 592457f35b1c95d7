"""heal_scan as a Dagster run vs `heal check` on the demo estate, in the same run.

    .venv/bin/python bench/bench_dagster.py

Starts a throwaway embedded PostgreSQL, builds the demo estate, times `heal check` (subprocess, the
baseline), then the heal_scan job through ``dagster.execute_job`` on a temporary instance with the
job's executor (in-process since issue 16) and with the multiprocess executor it used before.
Prints seconds and ratios to `heal check`.
"""

import os
import subprocess
import sys
import tempfile
import time

import dagster as dg

from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR, build_estate
from heal_pipeline.embedded import temporary_server


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    server = temporary_server()
    try:
        dsn = build_estate(server.info().dsn("postgres"), "heal_demo")["dsn"]
        env = {"HEAL_DATABASE_URL": dsn, "HEAL_SOURCE_DIRS": str(APP_DIR),
               "HEAL_MIGRATIONS_DIRS": str(MIGRATIONS_DIR), "HEAL_OBSERVATION_WINDOW": "0"}
        os.environ.update(env)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "check"], capture_output=True, check=False)
        check_s = time.perf_counter() - t0
        from heal_pipeline.defs.bootstrap import sync_partitions

        out = {}
        for label, fn in (("in_process (job default)", _scan_job), ("multiprocess (before)", _scan_job_mp)):
            with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
                sync_partitions(instance, ["heal_demo"])
                recon = dg.reconstructable(fn)
                t0 = time.perf_counter()
                with dg.execute_job(recon, instance=instance, run_config=QUIET,
                                    tags={"dagster/partition": "heal_demo"}) as res:
                    ok = res.success
                out[label] = (time.perf_counter() - t0, ok)
        print(f"heal check                  {check_s:6.2f} s   1.00x")
        for label, (secs, ok) in out.items():
            print(f"heal_scan {label:<26}{secs:6.2f} s   {secs / check_s:5.2f}x  success={ok}")
    finally:
        server.destroy()


def _scan_job():
    from heal_pipeline.definitions import defs

    return defs.resolve_job_def("heal_scan")


def _scan_job_mp():
    """heal_scan as it was before issue 16: the default multiprocess executor."""
    from heal_pipeline import definitions as d

    job = dg.define_asset_job("heal_scan", selection=d.heal_scan.selection, tags={"heal/kind": "scan"},
                              executor_def=dg.multiprocess_executor)
    return dg.Definitions(assets=d.ASSETS, jobs=[job], resources=d.defs.resources).resolve_job_def("heal_scan")


if __name__ == "__main__":
    main()
