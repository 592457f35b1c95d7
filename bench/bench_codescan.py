"""Benchmark of the code scanner on a generated 5,000-module tree.

    python bench/bench_codescan.py [--modules 5000] [--workers 2] [--keep DIR]

Measures the floor (plain ``ast.parse`` of every file, read included), a cold scan (empty
cache, 2 workers), a warm rescan (nothing changed) and a rescan after a one-file change, and
prints the figures and their ratio to the floor. Targets on a 2-core box: cold <= 3 s,
rescan <= 0.3 s.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heal_pipeline.codescan import scan  # noqa: E402

TABLES = ["users", "sessions", "orders", "order_items", "products", "invoices", "payments",
          "accounts", "events", "audit_log", "carts", "addresses", "shipments", "coupons"]
COLS = ["id", "user_id", "account_id", "created_at", "status", "amount", "email", "name",
        "order_id", "product_id", "total", "updated_at"]


def plain_module(rng: random.Random, i: int) -> str:
    """Ordinary application code without SQL (about 80 % of modules, ~10 lines)."""
    lines = [f'"""Module {i}: business logic."""', "import logging", "",
             "log = logging.getLogger(__name__)", f"RETRIES = {i % 5}", ""]
    if rng.random() < 0.5:
        lines += [f"def compute_{i}(values, factor=2):",
                  "    total = sum(v * factor for v in values if v % 2)",
                  "    log.info('computed %s', total)",
                  "    if total > RETRIES:",
                  "        log.warning('large total %s', total)",
                  "    return total"]
    else:
        lines += [f"class Model{i}:",
                  "    def __init__(self, id, name=''):",
                  "        self.id, self.name = id, name",
                  "",
                  "    def label(self):",
                  "        return f'{self.name}-{self.id}'",
                  "",
                  "    def __repr__(self):",
                  "        return f'<Model {self.label()}>'"]
    return "\n".join(lines) + "\n"


def constants_module(rng: random.Random, i: int) -> str:
    lines = [f'"""Queries {i}."""', ""]
    for k in range(6):
        t = rng.choice(TABLES)
        c = rng.choice(COLS)
        lines += [f'Q{k} = """',
                  f"    SELECT t.id, t.{c}, t.created_at",
                  f"    FROM {t} t",
                  f"    WHERE t.{c} = %s AND t.status = %s",
                  "    ORDER BY t.created_at DESC",
                  '"""', ""]
    lines += [f'TABLE = "{rng.choice(TABLES)}"', ""]
    return "\n".join(lines) + "\n"


def sql_module(rng: random.Random, i: int, n_const: int) -> str:
    """A repository module with several queries (about 20 % of modules)."""
    c = rng.randrange(n_const)
    lines = [f'"""Repository {i}."""', "import uuid", "",
             f"from app.queries.q{c} import Q0, Q1, TABLE",
             f"from app.queries import q{c} as queries", "",
             "PAGE = 50", f'LOCAL = "SELECT id, name FROM {rng.choice(TABLES)} WHERE account_id = $1"', ""]
    for k in range(rng.randint(3, 5)):
        t = rng.choice(TABLES)
        t2 = rng.choice(TABLES)
        kind = rng.randrange(7)
        lines.append(f"async def op_{i}_{k}(conn, cur, user_id, table):")
        if kind == 0:
            lines += [f"    return await conn.fetchrow(",
                      f"        \"SELECT a.id, a.email FROM {t} a \"",
                      f"        \"JOIN {t2} b ON b.user_id = a.id::text \"",
                      f"        \"WHERE a.id = $1\", int(user_id))"]
        elif kind == 1:
            lines += ["    cur.execute(Q0, (str(user_id), 'active'))", "    return cur.fetchall()"]
        elif kind == 2:
            lines += [f"    rows = await conn.fetch(LOCAL, user_id)",
                      "    for r in rows:",
                      f"        await conn.execute(\"UPDATE {t} SET status = $1 WHERE id = $2\", 'x', r['id'])"]
        elif kind == 3:
            lines += [f"    return await conn.fetch(f\"SELECT * FROM {{TABLE}} WHERE id = $1 LIMIT {{PAGE}}\", user_id)"]
        elif kind == 4:
            lines += [f"    await conn.execute(f\"DELETE FROM {{table}} WHERE id = {{user_id}}\")"]
        elif kind == 5:
            lines += ["    cur.execute(queries.Q1, (uuid.UUID(user_id), 'x'))"]
        else:
            lines += [f"    sql = \"\"\"",
                      f"        INSERT INTO {t} (user_id, status, created_at)",
                      f"        VALUES (%s, %s::text, now())",
                      f"        RETURNING id",
                      f"    \"\"\"",
                      "    cur.execute(sql, (user_id, 'new'))", "    return cur.fetchone()"]
        lines.append("")
    return "\n".join(lines) + "\n"


def generate(root: Path, n: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    app = root / "app"
    n_const = max(1, n // 100)
    (app / "queries").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "queries" / "__init__.py").write_text("")
    for c in range(n_const):
        (app / "queries" / f"q{c}.py").write_text(constants_module(rng, c))
    written = n_const + 2
    pkg_count = 50
    for p in range(pkg_count):
        (app / f"pkg{p}").mkdir()
        (app / f"pkg{p}" / "__init__.py").write_text("")
        written += 1
    i = 0
    while written < n:
        pkg = app / f"pkg{i % pkg_count}"
        src = sql_module(rng, i, n_const) if rng.random() < 0.2 else plain_module(rng, i)
        (pkg / f"mod{i}.py").write_text(src)
        written += 1
        i += 1
    return written


def floor(root: Path) -> tuple[float, int]:
    t = time.perf_counter()
    lines = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                src = Path(dirpath, name).read_bytes()
                ast.parse(src)
                lines += src.count(b"\n")
    return time.perf_counter() - t, lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="heal-bench-"))
    try:
        src = tmp / "src"
        cache = tmp / "cache"
        n = generate(src, args.modules)
        t_floor, lines = floor(src)
        cold = scan([src], cache_dir=cache, workers=args.workers)
        warm = scan([src], cache_dir=cache, workers=args.workers)
        target = next(p for p in sorted((src / "app").rglob("mod*.py"))
                      if "fetch" in p.read_text())
        target.write_text(target.read_text() + "\n\nasync def extra(conn):\n"
                          "    return await conn.fetch(\"SELECT 1 FROM users WHERE id = $1\", 1)\n")
        one = scan([src], cache_dir=cache, workers=args.workers)
        const = src / "app" / "queries" / "q0.py"
        const.write_text(const.read_text().replace("ORDER BY", "ORDER  BY", 1))
        dep = scan([src], cache_dir=cache, workers=args.workers)
        print(f"tree: {n} modules, {lines} lines, {len(cold.statements)} statements, "
              f"{len(cold.findings)} findings ({sum(1 for f in cold.findings if f.kind == 'unsafe_sql')} unsafe, "
              f"{sum(1 for f in cold.findings if f.kind == 'cast_workaround')} cast, "
              f"{sum(1 for f in cold.findings if f.kind == 'query_in_loop')} loop)")
        print(f"floor  ast.parse all files        {t_floor:7.3f} s   1.00x")
        for label, r in (("cold   scan, empty cache, %d workers" % args.workers, cold),
                         ("warm   rescan, nothing changed", warm),
                         ("rescan after a one-file change", one),
                         ("rescan after a constants-module change", dep)):
            print(f"{label:<38} {r.seconds:7.3f} s  {r.seconds / t_floor:5.2f}x   "
                  f"(parsed {r.files_parsed}, cached {r.files_cached})")
        ok = cold.seconds <= 3.0 and one.seconds <= 0.3
        print("targets (cold <= 3 s, rescan <= 0.3 s):", "met" if ok else "NOT met")
        if args.keep:
            shutil.copytree(src, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
