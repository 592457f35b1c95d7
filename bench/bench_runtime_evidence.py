"""Cost of issue 12 items 8 and 9 on a real server: generic plans and runtime evidence.

    python bench/bench_runtime_evidence.py [--n 1000] [--failures 1000] [--repeat 3] [--dsn DSN]

On an embedded PostgreSQL (or ``--dsn``): 50 tables of 6 columns (``bench/bench_verify.py``'s
schema) plus one of 200,000 rows, and N varied SELECT/UPDATE/DELETE statements (1 in 10 filter the
large table on an unindexed column). Measured in the same run:

1. ``likely_slow`` — ``EXPLAIN (GENERIC_PLAN)`` of every statement the verifier accepted (the
   verifier's verdicts seeded, so only the planning is timed) vs **baseline** ``verify_statements``
   of the same N statements (what every scan already pays);
2. ``runtime_issues`` — matching F failed-query groups (42883 / 22P02 / 23503, each diagnosed) to the
   issues of the run, vs **baseline** ``diagnose`` alone of the same F groups. The matching time
   includes, once per run, the pglast fingerprint of the N code statements' sent text
   (``prepare_text``) and the ``missing_table``/``missing_column`` checks it consults (offline here).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_verify  # noqa: E402

from heal_pipeline.db import connect  # noqa: E402
from heal_pipeline.detect import DetectContext  # noqa: E402
from heal_pipeline.detect.generic_plans import likely_slow  # noqa: E402
from heal_pipeline.detect.pg011_broken_statement import seed_statement_checks  # noqa: E402
from heal_pipeline.detect.runtime_evidence import runtime_issues  # noqa: E402
from heal_pipeline.introspect import take_snapshot  # noqa: E402
from heal_pipeline.logs import diagnose, normalize  # noqa: E402
from heal_pipeline.model import CodeScan, FailedQuery, SqlStatement  # noqa: E402
from heal_pipeline.verify import verify_statements  # noqa: E402

TABLES = bench_verify.TABLES  # the same generated tables


def schema_sql() -> str:
    """bench_verify's 50 tables plus the few this bench plants issues on."""
    return bench_verify.schema_sql() + """
        CREATE TABLE acct (id integer PRIMARY KEY);
        CREATE TABLE ref_t (id bigint PRIMARY KEY, acct_id text);  -- type_mismatch: text vs integer (code join)
        CREATE TABLE big (id bigint PRIMARY KEY, code text, amount numeric(12,2));
        INSERT INTO big SELECT g, 'c' || g, g % 100 FROM generate_series(1, 200000) g;
        ANALYZE big;"""


def statements(n: int) -> list[SqlStatement]:
    out = []
    for k in range(n):
        a, b = k % TABLES, (k * 7 + 3) % TABLES
        if k % 10 == 9:
            sql, kind = "SELECT id, amount FROM big WHERE code = %s", "SELECT"
        elif k % 3 == 0:
            sql, kind = (f"SELECT x.id, y.amount FROM t{a} x JOIN t{b} y ON y.parent_id = x.id "
                         f"WHERE x.created_at > %s LIMIT {k % 50 + 1}"), "SELECT"
        elif k % 3 == 1:
            sql, kind = f"UPDATE t{a} SET amount = amount + %s WHERE id = %s", "UPDATE"
        else:
            sql, kind = f"DELETE FROM t{a} WHERE parent_id = %s AND id > {k}", "DELETE"
        out.append(SqlStatement(file=f"app/m{k // 100}.py", line=k % 100 + 1, col=5, call="execute",
                                sql=sql, source_kind="literal", statement_kind=kind))
    return out


def failures(n: int) -> list[FailedQuery]:
    """3 of 4 groups name a table without an issue (→ broken_statement, one per normalised statement);
    1 of 4 is ``ref_t.acct_id = <int>`` on the type_mismatch column (→ evidence on that issue)."""
    shapes = [("42883", "operator does not exist: text = integer", "SELECT id FROM t{i} WHERE name = {i}", 33),
              ("22P02", 'invalid input syntax for type bigint: "x{i}"', "SELECT name FROM t{i} WHERE id = 'x{i}'", 36),
              ("23503", 'insert or update on table "t{i}" violates foreign key constraint "t{i}_fk"',
               "INSERT INTO t{i} (id, parent_id) VALUES ({i}, 999999)", None)]
    out = []
    for k in range(n):
        if k % 4 == 3:
            s = f"SELECT id FROM ref_t WHERE acct_id = {k}"
            out.append(FailedQuery(sqlstate="42883", message="operator does not exist: text = integer",
                                   statement=s, normalized=normalize(s), cursor_position=36, count=1))
            continue
        state, msg, stmt, pos = shapes[k % 3]
        i = k % TABLES
        s = stmt.format(i=i) + f" /* {k} */"
        out.append(FailedQuery(sqlstate=state, message=msg.format(i=i), statement=s, normalized=normalize(s),
                               cursor_position=pos, count=1 + k % 5,
                               detail=f'Key (parent_id)=(999999) is not present in table "t{i}".'
                               if state == "23503" else None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--failures", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server = None
    if args.dsn:
        dsn = args.dsn
    else:
        from heal_pipeline.config import with_database
        from heal_pipeline.embedded import create_database, temporary_server

        server = temporary_server()
        admin = server.info().dsn("postgres")
        create_database(admin, "bench_runtime", replace=True)
        dsn = with_database(admin, "bench_runtime")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(schema_sql())
        snap = take_snapshot(dsn, target_db="bench")
        stmts = statements(args.n)
        import tempfile  # noqa: PLC0415

        from heal_pipeline.codescan import scan  # noqa: PLC0415 - the join is the code evidence

        with tempfile.TemporaryDirectory() as src:
            (Path(src) / "acct.py").write_text(
                'def f(cur):\n    cur.execute("SELECT a.id FROM acct a JOIN ref_t r ON r.acct_id::int = a.id")\n')
            stmts += scan([Path(src)]).statements
        code = CodeScan(roots=["app"], statements=stmts)
        v_times, p_times, hits = [], [], 0
        for _ in range(args.repeat):
            with psycopg.connect(dsn) as conn:
                t0 = time.perf_counter()
                checks = verify_statements(conn, stmts)
                v_times.append(time.perf_counter() - t0)
            ctx = DetectContext(target_db="bench", snapshot=snap, code=code,
                                connect=lambda: connect(dsn, autocommit=False))
            seed_statement_checks(ctx, checks)
            t0 = time.perf_counter()
            found = list(likely_slow(ctx))
            p_times.append(time.perf_counter() - t0)
            hits = len(found)
            found_sites = {(i.file, i.line) for i in found}
            assert not ctx.unchecked, ctx.unchecked
        v, p = statistics.median(v_times), statistics.median(p_times)
        row1 = {"statements": args.n, "verify_s": round(v, 3), "generic_plans_s": round(p, 3),
                "ratio_to_verify": round(p / v, 2), "likely_slow": hits,
                "ms_per_statement": round(p * 1000 / args.n, 3)}
        print(json.dumps(row1))

        fqs = failures(args.failures)
        expect_attached = sum(1 for k in range(args.failures) if k % 4 == 3)
        d_times, r_times, made, attached = [], [], 0, 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for fq in fqs:
                diagnose(fq)
            d_times.append(time.perf_counter() - t0)
            ctx = DetectContext(target_db="bench", snapshot=snap, code=code, failed=fqs, connect=None)
            seed_statement_checks(ctx, checks)
            from heal_pipeline.detect import issues_of  # noqa: PLC0415

            tm = issues_of(ctx, "type_mismatch")  # computed before the clock starts (a scan has it)
            t0 = time.perf_counter()
            made_issues = runtime_issues(ctx, [])
            r_times.append(time.perf_counter() - t0)
            made = len(made_issues)
            attached = sum(len(i.evidence.get("runtime", [])) for i in tm if i.table_name == "ref_t")
            attached_count = sum(i.evidence.get("runtime_count", 0) for i in tm if i.table_name == "ref_t")
            wrong = [i for i in made_issues if "ref_t" in (i.object_name or "")]
        d, r = statistics.median(d_times), statistics.median(r_times)
        row2 = {"failure_groups": args.failures, "diagnose_only_s": round(d, 3), "runtime_issues_s": round(r, 3),
                "ratio_to_diagnose": round(r / d, 2), "broken_statement_issues": made,
                "attached_to_type_mismatch": attached_count, "expected_attached": expect_attached,
                "misattributed": len(wrong)}
        print(json.dumps(row2))
        print(f"\ngeneric plans: {args.n:,} statements in {p * 1000:.0f} ms ({row1['ms_per_statement']} ms each, "
              f"{row1['ratio_to_verify']}x the verifier's {v * 1000:.0f} ms); {hits} likely slow")
        print(f"runtime evidence: {args.failures:,} failure groups in {r * 1000:.0f} ms "
              f"({row2['ratio_to_diagnose']}x diagnose alone, {d * 1000:.0f} ms); {made} broken_statement issue(s) "
              f"(expected 150); {attached_count} of {expect_attached} ref_t failures on the type_mismatch "
              f"(runtime list capped at {attached}), {len(wrong)} misattributed")
        expect_slow = {(s.file, s.line) for s in stmts if "FROM big" in s.sql}
        print(f"likely slow precision/recall on the generated set: "
              f"{len(found_sites & expect_slow) / max(1, len(found_sites)):.0%} / "
              f"{len(found_sites & expect_slow) / max(1, len(expect_slow)):.0%}")
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
