"""Fix planning (the ``fix_plan`` asset's work) on the demo estate: cold, and again with nothing changed.

    .venv/bin/python bench/bench_plan.py [--repeat 3]

Starts a throwaway embedded PostgreSQL, builds the demo estate, scans it once (snapshot + code +
detection, as ``heal check``), then plans every open fixable issue with ``plan_issues`` exactly as
``fix_plan`` does:

* **cold**: no plan cache (every plan planned and linted);
* **unchanged**: the same inputs again through the plan cache (heal_pipeline/plan/cache.py);
* baseline in the same run: the scan itself (what ``heal check`` does), and squawk started once on an
  empty file (the floor of one lint process).

Targets (issue 16): 180 plans ≤ 1 s cold and ≤ 0.2 s unchanged. ``--tables 1000`` adds generated
tables (≈ 500 more fk_without_index plans) to measure planning at that size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dsn", help="use this demo database instead of building one")
    ap.add_argument("--tables", type=int, default=0,
                    help="add this many generated tables (bench_snapshot's generator: FKs, half unindexed)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one cold planning pass")
    args = ap.parse_args()

    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR, build_estate
    from heal_pipeline.embedded import temporary_server
    from heal_pipeline.plan import PlanCache, PlanContext, plan_issues
    from heal_pipeline.plan.lint import squawk_binary
    from heal_pipeline.scan import scan_target
    from heal_pipeline.targets import Target

    server = None
    try:
        dsn = args.dsn
        if dsn is None:
            server = temporary_server()
            dsn = build_estate(server.info().dsn("postgres"), "heal_demo")["dsn"]
            if args.tables:
                sys.path.insert(0, str(Path(__file__).resolve().parent))
                from bench_dagster import _grow

                _grow(dsn, args.tables)
        target = Target(name="heal_demo", dsn=dsn, store_dsn=dsn, source_dirs=(APP_DIR,),
                        migrations_dirs=(MIGRATIONS_DIR,), observation_window_s=0)
        t0 = time.perf_counter()
        outcome = scan_target(target)
        scan_s = time.perf_counter() - t0
        issues = [i for i in outcome.result.issues if i.fixable]
        snap, code = outcome.snapshot, outcome.code
        with tempfile.TemporaryDirectory() as d:
            Path(d, "empty.sql").write_text("")
            t0 = time.perf_counter()
            subprocess.run([squawk_binary(), "--reporter", "json", "empty.sql"], cwd=d, capture_output=True)
            squawk_s = time.perf_counter() - t0

        def plan(cache_dir: Path | None):
            with PlanContext.open(dsn, migrations_dirs=[MIGRATIONS_DIR], source_dirs=[APP_DIR],
                                  statements=list(code.statements) if code else []) as ctx:
                t0 = time.perf_counter()
                cache = PlanCache.for_target("heal_demo", home=cache_dir) if cache_dir else None
                plans = plan_issues(issues, snap, ctx, cache=cache)
                return time.perf_counter() - t0, plans, dict(cache.stats) if cache else {}

        if args.profile:
            import cProfile
            import pstats

            with tempfile.TemporaryDirectory() as cache:
                pr = cProfile.Profile()
                pr.enable()
                plan(Path(cache))
                pr.disable()
                pstats.Stats(pr).sort_stats("cumulative").print_stats(40)
        cold, warm, stats = [], [], {}
        n = 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as cache:
                s, plans, _ = plan(Path(cache))  # cold: empty cache
                cold.append(s)
                n = len(plans)
                s2, plans2, stats = plan(Path(cache))  # unchanged: every input the same
                warm.append(s2)
                assert [p.fingerprint for p in plans] == [p.fingerprint for p in plans2]
        nocache = [plan(None)[0] for _ in range(max(1, args.repeat - 1))]
        row = {"plans": n, "issues": len(issues), "cold_median_s": round(statistics.median(cold), 3),
               "unchanged_median_s": round(statistics.median(warm), 3),
               "no_cache_median_s": round(statistics.median(nocache), 3), "cache": stats,
               "scan_s": round(scan_s, 3), "squawk_process_s": round(squawk_s, 3)}
        print(json.dumps(row))
        print(f"\nplanning {n} plans: cold {row['cold_median_s']:.3f} s (target ≤ 1 s), unchanged "
              f"{row['unchanged_median_s']:.3f} s (target ≤ 0.2 s), no cache {row['no_cache_median_s']:.3f} s; "
              f"baseline: the scan {scan_s:.3f} s (cold/scan {row['cold_median_s'] / scan_s:.2f}×, "
              f"unchanged/scan {row['unchanged_median_s'] / scan_s:.2f}×), one squawk process {squawk_s:.3f} s")
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
