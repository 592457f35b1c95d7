"""Workload-watch evaluation over 1,000 tracked statements: target ≤ 100 ms.

Pure Python, no server: 1,000 statements' before/after pg_stat_statements figures (a mix of
regressed, improved, unchanged, waiting and sub-floor statements), then ``evaluate`` timed against a
baseline of the same size (building the queryid → figures dict and summing the deltas, the least any
comparison must do).

    python bench/bench_watch.py [--statements 1000] [--repeat 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heal_pipeline.watch.workload import Figures, Thresholds, evaluate  # noqa: E402


def figures(n: int, seed: int = 15) -> tuple[list[Figures], list[Figures]]:
    rnd = random.Random(seed)
    before, after = [], []
    for i in range(n):
        calls = rnd.randint(50, 5000)
        mean = rnd.uniform(0.05, 40.0)
        before.append(Figures(str(i), f"SELECT * FROM t{i % 50} WHERE c = $1", calls, calls * mean, mean,
                              rnd.randint(0, 10**6), rnd.randint(0, 10**7), calls))
        extra = rnd.choice((0, 5, 100, 1000))
        factor = rnd.choice((0.3, 0.9, 1.0, 1.05, 1.5))
        after.append(Figures(str(i), before[-1].query, calls + extra, calls * mean + extra * mean * factor,
                             mean, 0, 0, calls + extra))
    return before, after


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--statements", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=50)
    a = ap.parse_args()
    before, after = figures(a.statements)
    th = Thresholds()
    base, ev = [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        prev = {f.queryid: f for f in before}
        _ = sum(x.total_ms - prev[x.queryid].total_ms for x in after)
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        v = evaluate(before, after, th)
        ev.append(time.perf_counter() - t0)
    b, m = statistics.median(base), statistics.median(ev)
    print(f"statements: {a.statements}  verdict: {v.status}  judged: {v.judged}  waiting: {v.waiting}  "
          f"regressed: {len(v.regressed_statements)}  improved: {len(v.improved_statements)}")
    print(f"baseline (dict + delta sum)  median {b * 1000:7.3f} ms")
    print(f"evaluate                     median {m * 1000:7.3f} ms  (ratio {m / b:.1f}× baseline; "
          f"target ≤ 100 ms: {'OK' if m <= 0.1 else 'MISSED'})")


if __name__ == "__main__":
    main()
