"""Benchmark: the failed-query log tail on a 1 GB PostgreSQL jsonlog.

    python bench/bench_logtail.py [--size-mb 1024] [--repeat 5] [--keep]

Generates a jsonlog of realistic PostgreSQL 18 lines (LOG lines, duration lines and ERROR records
with statements, ~1 in 5 a failure) in a temp dir by repeating a ~1 MB block, then measures:

1. ``cursor_at_end`` and a first tick with that cursor (nothing new: must not depend on file size);
2. a tick after appending 10 new lines (target ≤ 50 ms; must read only the new bytes);
3. baseline in the same run: reading the whole file once (``for line in f``);
4. for information: a first tick from byte 0 with the default 64 MB cap, with and without the
   duration lines parsed (``durations=False`` is the sensor's read) (what a sensor's very first
   read of a big log costs).

The page cache is warm for all of them (the file was just written). The file is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heal_pipeline.logs import DEFAULT_MAX_BYTES, cursor_at_end, read_new  # noqa: E402

TARGET_MS = 50.0


def _line(i: int) -> str:
    ts = f"2026-11-22 01:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d} UTC"
    base = {"timestamp": ts, "user": "app", "dbname": "shop", "pid": 12000 + i % 50,
            "remote_host": "10.0.0.7", "session_id": f"6b02448e.{i % 4096:x}", "line_num": i,
            "ps": "SELECT", "session_start": "2026-11-22 01:00:00 UTC", "vxid": f"{i % 50}/{i}", "txid": 0}
    k = i % 10
    if k < 6:
        rec = {**base, "error_severity": "LOG",
               "message": f"duration: {1000 + i % 900}.{i % 1000:03d} ms  statement: select o.id, o.total "
                          f"from orders o where o.customer_id = {i} order by o.created_at desc limit 20"}
    elif k < 8:
        rec = {**base, "error_severity": "LOG", "message": "checkpoint starting: time"}
    elif k == 8:
        rec = {**base, "error_severity": "ERROR", "state_code": "42P01",
               "message": 'relation "billing.refunds" does not exist',
               "statement": f"select * from billing.refunds where order_id = {i}", "cursor_position": 15}
    else:
        rec = {**base, "error_severity": "ERROR", "state_code": "42883",
               "message": "operator does not exist: text = integer",
               "hint": "No operator matches the given name and argument types. "
                       "You might need to add explicit type casts.",
               "statement": f"select * from sessions s join users u on s.user_id = u.id where u.id = {i}",
               "cursor_position": 47}
    rec.update({"application_name": "shop-api", "backend_type": "client backend", "query_id": 0})
    return json.dumps(rec, separators=(",", ":")) + "\n"


def generate(path: Path, size_mb: int) -> tuple[int, int]:
    block_lines = [_line(i) for i in range(4000)]
    block = "".join(block_lines).encode()
    target = size_mb * 1024 * 1024
    written = lines = 0
    with open(path, "wb", buffering=0) as fh:
        while written < target:
            fh.write(block)
            written += len(block)
            lines += len(block_lines)
    return written, lines


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="heal-logtail-"))
    path = tmp / "postgresql.json"
    try:
        t0 = time.perf_counter()
        size, nlines = generate(path, args.size_mb)
        gen_s = time.perf_counter() - t0
        print(f"generated {path}: {size / 1e9:.2f} GB, {nlines:,} lines in {gen_s:.1f} s")

        # 1. cursor at the end, then a tick with nothing new
        t0 = time.perf_counter()
        cursor = cursor_at_end(path)
        at_end_s = time.perf_counter() - t0
        idle = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = read_new(path, cursor)
            idle.append(time.perf_counter() - t0)
            assert res.records == [] and res.cursor["offset"] == size, res.summary()
        idle_bytes = res.bytes_read

        # 2. append 10 lines, tick
        ticks, tick_bytes, appended = [], [], 0
        for r in range(args.repeat):
            new = "".join(_line(1_000_000 + r * 10 + i) for i in range(10))
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(new)
            appended = len(new.encode())
            t0 = time.perf_counter()
            res = read_new(path, cursor)
            ticks.append(time.perf_counter() - t0)
            tick_bytes.append(res.bytes_read)
            # 2 of every 10 lines fail, 6 are duration lines (slow_query without pg_stat_statements)
            assert len(res.records) == 2 and len(res.durations) == 6 and res.skipped == 2, res.summary()
            assert res.cursor["offset"] == os.path.getsize(path)
            cursor = res.cursor
        last_groups = [(g.sqlstate, g.count) for g in res.failed]

        # 3. baseline: read the whole file once
        t0 = time.perf_counter()
        n = 0
        with open(path, "rb") as fh:
            for _line_ in fh:
                n += 1
        full_s = time.perf_counter() - t0

        # 4. information: a first tick from byte 0 (64 MB cap), with the duration lines parsed and
        #    grouped (failed_queries asset, heal check) and without (the sensor: durations=False)
        t0 = time.perf_counter()
        first = read_new(path, None)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first_nd = read_new(path, None, durations=False)
        first_nd_s = time.perf_counter() - t0

        tick_med = statistics.median(ticks)
        print()
        print(f"cursor_at_end (1 MB tail scan)      : {ms(at_end_s)}")
        print(f"tick, nothing new (median of {args.repeat})    : {ms(statistics.median(idle))}"
              f"   bytes read {idle_bytes} (head check)")
        print(f"tick after appending 10 lines       : median {ms(tick_med)}, max {ms(max(ticks))}"
              f"   bytes read {statistics.median(tick_bytes):.0f} (appended {appended} + 256 head)"
              f"   groups {last_groups}")
        print(f"baseline: `for line in f`, whole file: {full_s:.2f} s ({n:,} lines, "
              f"{size / full_s / 1e6:.0f} MB/s)")
        print(f"ratio baseline / 10-line tick       : {full_s / tick_med:,.0f}x")
        print(f"first tick from byte 0 (cap {DEFAULT_MAX_BYTES >> 20} MB): {first_s:.2f} s, "
              f"{first.bytes_read / 1e6:.0f} MB, {len(first.records):,} failures in {len(first.failed)} "
              f"groups, {len(first.durations):,} duration lines in {len(first.slow)} statement(s), "
              f"more={first.more} ({first.bytes_read / first_s / 1e6:.0f} MB/s)")
        print(f"the same without durations (sensor) : {first_nd_s:.2f} s "
              f"({first_nd.bytes_read / first_nd_s / 1e6:.0f} MB/s); durations cost "
              f"{first_s / first_nd_s:.1f}x")
        ok = tick_med * 1000 <= TARGET_MS and max(tick_bytes) <= appended + 256
        print(f"target: 10-line tick <= {TARGET_MS:.0f} ms reading only new bytes -> {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
