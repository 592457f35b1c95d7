"""Benchmark: the automation ticks — failed-query sensor on a 1 GB jsonlog, schedule over 50 databases.

    python bench/bench_automation.py [--size-mb 1024] [--repeat 5] [--fleet 50]

1. ``failed_query_log_sensor`` (the whole tick: fleet/env config, cursor, log read, grouping, the
   queued-run lookup, partition check) on a generated PostgreSQL 18 jsonlog of ``--size-mb``:
   the first tick (starts watching at the end: must not depend on the file size), then ticks after
   appending 10 new lines (target ≤ 50 ms: reads only the new bytes).
   Baseline in the same run: reading the whole file once (``for line in f``), warm page cache.
2. ``heal_every_five_minutes`` over a fleet file of ``--fleet`` databases (DSNs in env vars, a policy
   file per target): the first tick (registers the partitions), steady ticks, and the tick as the
   daemon evaluates it (``evaluate_tick`` against the code location: partition validation and tags
   per request). Target ≤ 1 s. Baseline in the same run: a schedule function that returns the same
   number of run requests from a hard-coded list (no configuration read at all).

Everything runs against a real (temporary) Dagster instance; the files are deleted at the end.
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
import warnings
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

import dagster as dg  # noqa: E402

from heal_pipeline.config import Settings  # noqa: E402
from heal_pipeline.defs.automation import (LOG_BYTES_PER_TICK, evaluate_failed_query_log,  # noqa: E402
                                           heal_every_five_minutes, schedule_requests)
from heal_pipeline.logs import read_new  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_logtail import _line, generate as generate_jsonlog  # noqa: E402  (one realistic jsonlog generator)

LOG_TARGET_MS = 50.0
SCHEDULE_TARGET_S = 1.0


def _make_log(path: Path, size_mb: int) -> int:
    return generate_jsonlog(path, size_mb)[0]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def bench_log(work: Path, size_mb: int, repeat: int) -> dict:
    log = work / "postgresql.json"
    t0 = time.perf_counter()
    size = _make_log(log, size_mb)
    gen_s = time.perf_counter() - t0
    print(f"jsonlog: {size / 1e9:.2f} GB generated in {gen_s:.1f}s ({log})")

    # baseline: read the whole file once (warm page cache, as for the ticks)
    base = []
    for _ in range(2):
        t0 = time.perf_counter()
        n = 0
        with open(log, "rb") as fh:
            for _line_ in fh:
                n += 1
        base.append(time.perf_counter() - t0)
    baseline = min(base)
    print(f"baseline: read the whole file once: {baseline:.3f}s ({n:,} lines)")

    settings = Settings.from_env({"HEAL_DATABASE_URL": "postgresql://app@db.internal/shop",
                                  "HEAL_QUERY_LOG": str(log), "HEAL_HOME": str(work / "home")})
    out: dict = {"size_bytes": size, "baseline_s": baseline}
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        first = evaluate_failed_query_log(None, instance, settings=settings)
        out["first_tick_s"] = time.perf_counter() - t0
        assert not first.run_requests, "the first tick only starts watching"
        cursor = first.cursor
        ticks, read_bytes, reads = [], [], []
        for r in range(repeat):
            tail_before = json.loads(cursor)["targets"]["shop"]["cursor"]
            before = tail_before["offset"]
            with open(log, "a", encoding="utf-8") as fh:
                fh.write("".join(_line(10_000_000 + r * 10 + i) for i in range(10)))
            t0 = time.perf_counter()
            res = evaluate_failed_query_log(cursor, instance, settings=settings)
            ticks.append(time.perf_counter() - t0)
            cursor = res.cursor
            after = json.loads(cursor)["targets"]["shop"]["cursor"]["offset"]
            read_bytes.append(after - before)
            (req,) = res.run_requests
            assert req.tags["heal/failed_queries"] == "2", req.tags  # 10 lines of bench_logtail, 2 of them errors
            t0 = time.perf_counter()  # the log part alone: the same read again
            tail = read_new(log, tail_before, max_bytes=LOG_BYTES_PER_TICK)
            reads.append(time.perf_counter() - t0)
            assert len(tail.records) == 2 and tail.bytes_read < 10_000
        t0 = time.perf_counter()
        idle = evaluate_failed_query_log(cursor, instance, settings=settings)
        out["idle_tick_s"] = time.perf_counter() - t0
        assert not idle.run_requests
    out["tick_median_s"] = statistics.median(ticks)
    out["tick_max_s"] = max(ticks)
    out["new_bytes"] = read_bytes[0]
    out["read_median_s"] = statistics.median(reads)
    print(f"first tick (start watching at the end): {_ms(out['first_tick_s'])}")
    print(f"tick after 10 new lines: median {_ms(out['tick_median_s'])}, max {_ms(out['tick_max_s'])} "
          f"over {repeat} ticks; {out['new_bytes']:,} new bytes consumed per tick "
          f"(target ≤ {LOG_TARGET_MS:.0f} ms: {'OK' if out['tick_max_s'] * 1000 <= LOG_TARGET_MS else 'MISSED'})")
    print(f"  of which the log read + parse (read_new): median {_ms(out['read_median_s'])}; the rest is the "
          "instance lookups (queued scan of the target? partition registered?) on the test SQLite storage")
    print(f"idle tick (nothing new): {_ms(out['idle_tick_s'])}")
    print(f"ratio: whole-file read / tick = {baseline / out['tick_median_s']:,.0f}x; "
          f"tick / whole-file read = {out['tick_median_s'] / baseline:.5f}")
    log.unlink()
    return out


def bench_schedule(work: Path, n: int, repeat: int) -> dict:
    env = {"HEAL_HOME": str(work / "home")}
    policies = work / "policies"
    policies.mkdir()
    (policies / "auto.toml").write_text('dry_run = false\nauto_apply_tiers = ["auto"]\n')
    (policies / "dry.toml").write_text("dry_run = true\n")
    lines = []
    for i in range(n):
        name = f"db{i:03d}"
        env[f"DB{i:03d}_URL"] = f"postgresql://heal@pg{i % 7}.internal:5432/{name}"
        lines += ["[[targets]]", f'name = "{name}"', f'dsn_env = "DB{i:03d}_URL"',
                  f'source_dirs = ["/srv/apps/{name}"]', f'query_log = "/var/log/pg{i % 7}/postgresql.json"',
                  f'policy = "policies/{"auto" if i % 5 == 0 else "dry"}.toml"', 'observation_window = "7d"', ""]
    fleet = work / "fleet.toml"
    fleet.write_text("\n".join(lines))
    os.environ.update(env)
    os.environ["HEAL_FLEET"] = str(fleet)
    for k in ("HEAL_DATABASE_URL", "HEAL_QUERY_LOG", "HEAL_SOURCE_DIRS"):
        os.environ.pop(k, None)

    from heal_pipeline.definitions import defs  # noqa: PLC0415

    repo = defs.get_repository_def()
    when = datetime(2026, 11, 22, 3, 5, tzinfo=timezone.utc)
    names = [f"db{i:03d}" for i in range(n)]

    @dg.schedule(cron_schedule="*/5 * * * *", job_name="heal_scan")
    def floor(context):
        return [dg.RunRequest(run_key=f"{k}:{when.isoformat()}", partition_key=k,
                              tags={"heal/target_db": k}) for k in names]

    out: dict = {"targets": n}
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        reqs = schedule_requests(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
        out["first_tick_s"] = time.perf_counter() - t0
        assert len(reqs) == n and sum(r.tags["heal/auto_apply"] == "true" for r in reqs) == (n + 4) // 5
        steady, own, daemon, base = [], [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            reqs = heal_every_five_minutes(dg.build_schedule_context(instance=instance,
                                                                     scheduled_execution_time=when))
            steady.append(time.perf_counter() - t0)
            assert len(reqs) == n
            # the same with the context's instance already open (Dagster opens it from the
            # instance ref once per tick: with SQLite storage that alembic check dominates)
            ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
            ctx.instance.get_dynamic_partitions("target_db")
            t0 = time.perf_counter()
            schedule_requests(ctx)
            own.append(time.perf_counter() - t0)
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                t0 = time.perf_counter()
                data = heal_every_five_minutes.evaluate_tick(dg.build_schedule_context(
                    instance=instance, scheduled_execution_time=when, repository_def=repo))
                daemon.append(time.perf_counter() - t0)
                assert len(data.run_requests) == n
                t0 = time.perf_counter()
                floor.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                                              repository_def=repo))
                base.append(time.perf_counter() - t0)
    out["steady_s"] = statistics.median(steady)
    out["own_s"] = statistics.median(own)
    out["daemon_s"] = statistics.median(daemon)
    out["daemon_max_s"] = max(daemon)
    out["baseline_s"] = statistics.median(base)
    print(f"fleet of {n} databases ({fleet.stat().st_size:,} bytes TOML, {len(set(r.tags['heal/auto_apply'] for r in reqs))} "
          f"policy outcomes)")
    print(f"first tick (parse fleet + policies, register {n} partitions): {_ms(out['first_tick_s'])}")
    print(f"steady tick (schedule function): median {_ms(out['steady_s'])}, of which heal's own work "
          f"(fleet + {n} policies + partition check + {n} requests) {_ms(out['own_s'])}")
    print(f"tick as the daemon evaluates it (evaluate_tick, partition validation): median "
          f"{_ms(out['daemon_s'])}, max {_ms(out['daemon_max_s'])} "
          f"(target ≤ {SCHEDULE_TARGET_S:.0f} s: {'OK' if out['daemon_max_s'] <= SCHEDULE_TARGET_S else 'MISSED'})")
    print(f"baseline: hard-coded list of {n} run requests through evaluate_tick: {_ms(out['baseline_s'])}; "
          f"ratio heal / baseline = {out['daemon_s'] / out['baseline_s']:.2f}x")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fleet", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="heal-bench-auto-"))
    try:
        log = bench_log(work, args.size_mb, args.repeat)
        print()
        sched = bench_schedule(work, args.fleet, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = log["tick_max_s"] * 1000 <= LOG_TARGET_MS and sched["daemon_max_s"] <= SCHEDULE_TARGET_S
    if args.json:
        print(json.dumps({"log": log, "schedule": sched}, indent=2))
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
