"""Statement verifier throughput: N statements prepared/described/closed vs N `SELECT 1` round trips.

Builds 50 tables of 6 columns on an embedded PostgreSQL (or ``--dsn``), generates N varied
statements (SELECT with joins and parameters, INSERT, UPDATE, DELETE; 1 in 20 broken) as
:class:`~heal_pipeline.model.SqlStatement` objects, and times :func:`verify_statements` against
the same number of sequential ``SELECT 1`` round trips on the same connection (the baseline a
naive "one query per statement" verifier would pay at best).

    python bench/bench_verify.py                 # 1,000 and 10,000 statements
    python bench/bench_verify.py --n 1000 --repeat 5 --dsn postgresql://postgres@/postgres?host=/tmp
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from heal_pipeline.model import SqlStatement  # noqa: E402
from heal_pipeline.verify import coverage, verify_statements  # noqa: E402

TABLES = 50


def schema_sql() -> str:
    return "\n".join(
        f"CREATE TABLE t{i} (id bigint PRIMARY KEY, parent_id bigint, name text, amount numeric(12,2), "
        f"created_at timestamptz DEFAULT now(), flag boolean);" for i in range(TABLES))


def statements(n: int) -> list[SqlStatement]:
    out = []
    for k in range(n):
        a, b = k % TABLES, (k * 7 + 3) % TABLES
        shape = k % 5
        if k % 20 == 19:
            sql = f"SELECT missing_col_{k} FROM t{a} WHERE id = %s"
        elif shape == 0:
            sql = (f"SELECT x.id, x.name, y.amount FROM t{a} x JOIN t{b} y ON y.parent_id = x.id "
                   f"WHERE x.created_at > %s AND y.flag = %s ORDER BY x.id LIMIT {k % 50 + 1}")
        elif shape == 1:
            sql = f"INSERT INTO t{a} (id, name, amount) VALUES (%s, %s, %s) RETURNING id"
        elif shape == 2:
            sql = f"UPDATE t{a} SET amount = amount + %(d)s WHERE id = %(id)s AND name <> 'x{k}'"
        elif shape == 3:
            sql = f"DELETE FROM t{a} WHERE parent_id = $1 AND id > {k}"
        else:
            sql = (f"SELECT count(*), sum(amount) FROM t{a} WHERE name LIKE %s "
                   f"GROUP BY flag HAVING count(*) > {k % 9}")
        out.append(SqlStatement(file=f"app/m{k // 100}.py", line=k % 100 + 1, col=5, call="execute",
                                sql=sql, source_kind="literal"))
    return out


def select1(conn: psycopg.Connection, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        conn.execute("SELECT 1").fetchone()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, action="append")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = args.n or [1000, 10_000]
    server = None
    if args.dsn:
        dsn = args.dsn
    else:
        from heal_pipeline.config import with_database
        from heal_pipeline.embedded import create_database, temporary_server

        server = temporary_server()
        admin = server.info().dsn("postgres")
        create_database(admin, "bench_verify", replace=True)
        dsn = with_database(admin, "bench_verify")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_verify CASCADE; CREATE SCHEMA bench_verify")
            conn.execute("SET search_path = bench_verify")
            conn.execute(schema_sql())
            rows = []
            for n in sizes:
                stmts = statements(n)
                v_times, b_times = [], []
                cov = None
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    checks = verify_statements(conn, stmts)
                    v_times.append(time.perf_counter() - t0)
                    cov = coverage(checks)
                    b_times.append(select1(conn, n))
                v, b = statistics.median(v_times), statistics.median(b_times)
                row = {"statements": n, "verify_s": round(v, 3), "select1_round_trips_s": round(b, 3),
                       "ratio": round(v / b, 2), "ok": cov["ok"], "rejected": cov["rejected"],
                       "not_verifiable": cov["not_verifiable"]}
                print(json.dumps(row))
                rows.append(row)
        print("\n| statements | verify (median) | N × `SELECT 1` | ratio | ok / rejected |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['statements']:,} | {r['verify_s'] * 1000:.0f} ms | {r['select1_round_trips_s'] * 1000:.0f} ms"
                  f" | {r['ratio']:.2f}× | {r['ok']} / {r['rejected']} |")
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
