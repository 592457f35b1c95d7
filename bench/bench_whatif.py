"""What-if of one index over 50 statements (HypoPG on a throwaway PostgreSQL 15): target ≤ 1 s.

Starts Debian's PostgreSQL 15 with HypoPG in a temp dir (Unix socket only; see
heal_pipeline/whatif/pg15.py), a 200,000-row table, 50 distinct statements touching it (point
lookups, ranges, joins, aggregates, DML), then times:

* baseline: 50 plain ``EXPLAIN`` (generic plans, the same statements, no HypoPG) — the floor;
* what-if: ``whatif_create_index`` (50 × EXPLAIN before, ``hypopg_create_index``, 50 × EXPLAIN after).

    python bench/bench_whatif.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from heal_pipeline.whatif import pg15  # noqa: E402
from heal_pipeline.whatif.hypo import _plan_cost, whatif_create_index  # noqa: E402


def statements() -> list[tuple[str, str]]:
    out = []
    for i in range(10):
        out += [(f"SELECT * FROM orders WHERE customer_id = $1 AND amount > {i}", "code"),
                (f"SELECT count(*) FROM orders WHERE customer_id = $1 AND note <> 'x{i}'", "code"),
                (f"SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.region = {i}",
                 "pg_stat_statements"),
                (f"UPDATE orders SET note = 'y{i}' WHERE customer_id = $1", "code"),
                (f"SELECT customer_id, sum(amount) FROM orders WHERE amount > {i * 10} GROUP BY 1", "code")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    why = pg15.missing()
    if why:
        print(f"bench_whatif: cannot run: {why}")
        sys.exit(2)
    server = pg15.start()
    try:
        with psycopg.connect(server.dsn, autocommit=True) as c:
            c.execute("CREATE EXTENSION hypopg")
            c.execute("CREATE TABLE customers (id int PRIMARY KEY, region int)")
            c.execute("INSERT INTO customers SELECT g, g % 10 FROM generate_series(1, 20000) g")
            c.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric, note text)")
            c.execute("INSERT INTO orders SELECT g, g % 20000, g % 997, 'n' FROM generate_series(1, 200000) g")
            c.execute("ANALYZE")
        stmts = statements()
        assert len(stmts) == 50
        base, whatif = [], []
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("SET plan_cache_mode = force_generic_plan")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                for q, _src in stmts:
                    _plan_cost(conn, q, 150000)
                base.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                w = whatif_create_index(conn, "public", "orders", ["customer_id"], stmts)
                whatif.append(time.perf_counter() - t0)
                assert w.status == "estimated", w.reason
        b, m = statistics.median(base), statistics.median(whatif)
        print(f"statements: {len(stmts)}, used the hypothetical index: {w.used_by}, "
              f"costlier: {len(w.worse)}")
        print(f"baseline  50 × EXPLAIN (PREPARE/EXECUTE)       median {b * 1000:7.1f} ms")
        print(f"what-if   before + hypopg_create_index + after median {m * 1000:7.1f} ms  "
              f"(ratio {m / b:.2f}× baseline; target ≤ 1000 ms: {'OK' if m <= 1.0 else 'MISSED'})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
