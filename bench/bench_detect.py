"""Benchmark: detection over a 10,000-table snapshot and a 5,000-module code scan.

    python bench/bench_detect.py [--tables 10000] [--modules 5000]

Target (issue #4): ≤ 2 s, excluding the orphan counts / data sampling (bounded per relationship by
statement_timeout) — measured both ways. Baseline in the same run: building the snapshot model
from its own dict (pure-Python work proportional to the catalog, the floor any detector pays to look
at every object once).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=10_000)
    ap.add_argument("--modules", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import psycopg

    import bench_codescan
    import bench_snapshot
    from heal_pipeline.codescan import scan
    from heal_pipeline.config import with_database
    from heal_pipeline.db import connect
    from heal_pipeline.detect import DetectContext, Thresholds, run_detection
    from heal_pipeline.embedded import create_database, temporary_server
    from heal_pipeline.introspect import take_snapshot
    from heal_pipeline.model import Snapshot

    server = temporary_server()
    try:
        admin = server.info().dsn("postgres")
        create_database(admin, "bench_detect", replace=True)
        dsn = with_database(admin, "bench_detect")
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for s in range(10):
                conn.execute(f"CREATE SCHEMA gen{s}")
            for lo in range(1, args.tables + 1, 500):
                conn.execute(bench_snapshot.GEN_SQL % {"lo": lo, "hi": min(lo + 499, args.tables)})
            conn.execute("ANALYZE")
        gen_db = time.perf_counter() - t0
        snap = take_snapshot(dsn, target_db="bench")
        root = Path(tempfile.mkdtemp(prefix="heal-bench-detect-"))
        t0 = time.perf_counter()
        lines = bench_codescan.generate(root, args.modules)
        code = scan([root])
        gen_code = time.perf_counter() - t0
        print(json.dumps({"tables": len(snap.tables), "columns": len(snap.columns), "indexes": len(snap.indexes),
                          "constraints": len(snap.constraints), "modules": args.modules, "generated": lines,
                          "statements": len(code.statements), "findings": len(code.findings),
                          "generate_db_s": round(gen_db, 1), "generate_and_scan_code_s": round(gen_code, 1)}))

        def detect(with_data: bool) -> tuple[float, int, list]:
            ctx = DetectContext(target_db="bench", snapshot=Snapshot.from_dict(snap.to_dict()), code=code,
                                connect=(lambda: connect(dsn, autocommit=False)) if with_data else None,
                                thresholds=Thresholds(observation_window_s=0), stats_coverage_s=0)
            t = time.perf_counter()
            res = run_detection(ctx)
            return time.perf_counter() - t, len(res.issues), res.unchecked

        d = snap.to_dict()
        floor = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            Snapshot.from_dict(d)
            floor.append(time.perf_counter() - t)
        offline = [detect(False) for _ in range(args.repeat)]
        online = [detect(True) for _ in range(1)]
        f_med = statistics.median(floor)
        off_med = statistics.median(x[0] for x in offline)
        row = {"detect_without_data_s": round(off_med, 3), "issues": offline[0][1],
               "detect_with_data_sampling_s": round(online[0][0], 3),
               "baseline_model_build_s": round(f_med, 3), "ratio_to_baseline": round(off_med / f_med, 2),
               "target_s": 2.0}
        print(json.dumps(row))
        print(f"\n| detection (10k tables, {args.modules} modules) | {off_med:.2f} s "
              f"(with data sampling {online[0][0]:.2f} s) | model build {f_med:.2f} s | "
              f"{off_med / f_med:.2f}× |")
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
