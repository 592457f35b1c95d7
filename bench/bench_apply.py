"""Writers' latency while heal fixes a busy table.

A ``--rows`` table (default 1,000,000) under concurrent write load (``--writers`` Python threads doing
small autocommit inserts and updates, recording every operation's latency). Three phases:

1. baseline (no fix running),
2. ``fk_without_index``: ``CREATE INDEX CONCURRENTLY`` through ``apply_plan``,
3. ``type_mismatch`` int → bigint by expand/contract (new column, sync trigger, batched backfill,
   concurrent index rebuild, short-lock swap) through ``apply_plan``.

Prints p50/p99/max per phase, the ratios to the baseline, the longest single lock wait a writer
saw (sampled from ``pg_stat_activity``), and the fix's own step timings (the swap transaction is the
only ACCESS EXCLUSIVE moment of the type change).

    python bench/bench_apply.py                     # embedded PostgreSQL, 1M rows
    python bench/bench_apply.py --rows 200000 --dsn postgresql://postgres@/postgres?host=/tmp
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from heal_pipeline.apply import Policy, apply_plan  # noqa: E402
from heal_pipeline.config import with_database  # noqa: E402
from heal_pipeline.introspect.snapshot import take_snapshot  # noqa: E402
from heal_pipeline.model import Issue  # noqa: E402
from heal_pipeline.plan import PlanContext, Thresholds, plan_issue  # noqa: E402

USERS = 1000


class Writers:
    def __init__(self, dsn: str, n: int, rows: int):
        self.dsn, self.n, self.rows = dsn, n, rows
        self.phase = "warmup"
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(n)]
        self.pids: list[int] = []

    def work(self, i: int) -> None:
        rnd = random.Random(i)
        with psycopg.connect(self.dsn, autocommit=True) as c:
            with self.lock:
                self.pids.append(c.info.backend_pid)
            while not self.stop.is_set():
                phase = self.phase
                t0 = time.perf_counter()
                try:
                    if rnd.random() < 0.5:
                        c.execute("INSERT INTO bench.events (user_id, note) VALUES (%s, %s)",
                                  (rnd.randint(1, USERS), "w"))
                    else:
                        c.execute("UPDATE bench.events SET note = %s WHERE id = %s",
                                  (str(t0), rnd.randint(1, self.rows)))
                    dt = time.perf_counter() - t0
                    with self.lock:
                        self.lat.setdefault(phase, []).append(dt)
                except psycopg.Error:
                    with self.lock:
                        self.errors[phase] = self.errors.get(phase, 0) + 1
                time.sleep(0.002)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


class LockWatch(threading.Thread):
    """Samples pg_stat_activity every 5 ms: the longest continuous lock wait of any writer."""

    def __init__(self, dsn: str, writers: Writers):
        super().__init__(daemon=True)
        self.dsn, self.writers = dsn, writers
        self.stop = threading.Event()
        self.longest: dict[str, float] = {}

    def run(self) -> None:
        since: dict[int, float] = {}
        with psycopg.connect(self.dsn, autocommit=True) as c:
            while not self.stop.is_set():
                now = time.perf_counter()
                rows = c.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                 " AND pid = ANY(%s)", (list(self.writers.pids),)).fetchall()
                waiting = {r[0] for r in rows}
                phase = self.writers.phase
                for pid in list(since):
                    if pid not in waiting:
                        dur = now - since.pop(pid)
                        self.longest[phase] = max(self.longest.get(phase, 0.0), dur)
                for pid in waiting:
                    since.setdefault(pid, now)
                time.sleep(0.005)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def plan_for(dsn: str, issue: Issue, policy: Policy):
    snap = take_snapshot(dsn, target_db="bench")
    with PlanContext.open(dsn, policy=policy, thresholds=Thresholds.from_policy(policy)) as ctx:
        return plan_issue(issue, snap, ctx)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--baseline", type=float, default=8.0, help="seconds of baseline load")
    ap.add_argument("--dsn", help="superuser DSN of an existing server (default: a temporary embedded one)")
    args = ap.parse_args()

    server = None
    admin = args.dsn
    if not admin:
        from heal_pipeline.embedded import temporary_server

        server = temporary_server()
        admin = server.info().dsn("postgres")
    name = f"heal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(admin, name)
    store = dsn
    try:
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE SCHEMA bench")
            c.execute("CREATE TABLE bench.users (id bigint PRIMARY KEY)")
            c.execute("INSERT INTO bench.users SELECT generate_series(1, %s)", (USERS,))
            c.execute("CREATE TABLE bench.events (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                      " user_id integer NOT NULL CONSTRAINT events_user_fk REFERENCES bench.users (id),"
                      " note text, created_at timestamptz NOT NULL DEFAULT now())")
            c.execute("INSERT INTO bench.events (id, user_id, note) SELECT g, 1 + g %% %s, 'n' FROM"
                      " generate_series(1, %s) g", (USERS, args.rows))
            c.execute("SELECT setval(pg_get_serial_sequence('bench.events', 'id'), %s)", (args.rows,))
            c.execute("VACUUM ANALYZE bench.events")
        print(f"loaded {args.rows:,} rows in {time.perf_counter() - t0:.1f}s "
              f"(PostgreSQL {take_snapshot(dsn).server_version})")

        policy = Policy(dry_run=False, lock_timeout_s=2.0, lock_retries=5, retry_backoff_s=0.5, cooldown_s=0,
                        max_rows_to_rewrite=None, small_table_rows=100_000,
                        batch_pause_s=0.005, backup_max_rows=10_000_000)
        w = Writers(dsn, args.writers, args.rows)
        watch = LockWatch(dsn, w)
        w.start()
        time.sleep(1.0)
        watch.start()
        w.phase = "baseline"
        time.sleep(args.baseline)

        fk = Issue("fk_without_index", "warning", "bench", "bench", schema_name="bench", table_name="events",
                   object_name="events_user_fk", evidence={"columns": ["user_id"], "suggested_index": "events_user_id_idx"})
        plan = plan_for(dsn, fk, policy)
        assert plan is not None and plan.blocked is None, plan and plan.blocked
        w.phase = "index build"
        r1 = apply_plan(plan, dsn, store, policy, run_id="bench", approve=True)
        w.phase = "between"
        time.sleep(1.0)

        tm = Issue("type_mismatch", "critical", "bench", "bench", schema_name="bench", table_name="events",
                   column_name="user_id", evidence={"child_type": "integer", "declared_fk": True,
                                                    "constraint": "events_user_fk",
                                                    "parent": {"schema": "bench", "table": "users", "column": "id",
                                                               "data_type": "bigint"}})
        plan2 = plan_for(dsn, tm, policy)
        assert plan2 is not None and plan2.blocked is None, plan2 and plan2.blocked
        w.phase = "expand/contract"
        r2 = apply_plan(plan2, dsn, store, policy, run_id="bench", approve=True)
        w.phase = "after"
        time.sleep(1.0)
        w.finish()
        watch.stop.set()
        watch.join()

        base = w.lat.get("baseline", [])
        b50, b99 = pct(base, 0.5), pct(base, 0.99)
        print(f"\nwriters: {args.writers} threads, 50% inserts / 50% single-row updates, autocommit")
        print(f"{'phase':<18}{'ops':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p50 x':>7}{'p99 x':>7}"
              f"{'lock wait max ms':>18}{'errors':>8}")
        for ph in ("baseline", "index build", "expand/contract"):
            xs = w.lat.get(ph, [])
            p50, p99 = pct(xs, 0.5), pct(xs, 0.99)
            print(f"{ph:<18}{len(xs):>8}{p50 * 1000:>9.2f}{p99 * 1000:>9.2f}{max(xs or [0]) * 1000:>9.1f}"
                  f"{p50 / b50:>7.2f}{p99 / b99:>7.2f}{watch.longest.get(ph, 0) * 1000:>18.1f}"
                  f"{w.errors.get(ph, 0):>8}")
        for label, r in (("index build", r1), ("expand/contract", r2)):
            print(f"\n{label}: {r.status} in {r.seconds:.1f}s{(' — ' + r.reason) if r.reason else ''}")
            for s in r.steps:
                if s.get("kind") in ("check", "checksum") and s.get("seconds", 0) < 0.05:
                    continue
                extra = f" rows={s['rows']}" if s.get("rows") is not None else ""
                extra += f" batches={s['batches']}" if s.get("batches") else ""
                extra += f" attempts={s['attempts']}" if s.get("attempts", 1) > 1 else ""
                print(f"  {s['seconds']:>8.3f}s  [{s['list']}] {s['description'][:70]}{extra}")
        swap = [s for s in r2.steps if s.get("op") in ("rename_column",)]
        if swap:
            print(f"\nswap transaction (the only ACCESS EXCLUSIVE moment of the type change): "
                  f"{swap[0]['seconds'] * 1000:.1f} ms")
        return 0 if r1.status == r2.status == "verified" else 1
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    sys.exit(main())
