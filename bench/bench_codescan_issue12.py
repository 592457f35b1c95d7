"""Issue 12 items 3, 4, 5: the code patterns the scanner used to misread, planted in a generated tree.

    python bench/bench_codescan_issue12.py [--modules 1000] [--baseline /path/to/older/checkout]

Generates ``--modules`` modules, each with one planted pattern whose right reading is known, scans
the tree, and prints per pattern how many instances were read right (recall) and how many wrong
table references / findings the pattern caused (the false positives issue 12 reports). With
``--baseline`` the same tree is scanned by another checkout of heal (its ``heal_pipeline``, in a
subprocess) so the figures before and after sit side by side, plus both scan times (sequential,
cold, min of 3; the ratio is this checkout's time over the baseline's).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PATTERNS = ("ddl", "fstring_name", "qmark", "named", "sqlite_branch", "wrapper", "orm", "counter")


def module(kind: str, i: int) -> str:
    t = f"t{i}"
    if kind == "ddl":
        return f'''
            def setup(cur):
                cur.execute("CREATE TABLE IF NOT EXISTS app_{t} (id int PRIMARY KEY, note text)")
                cur.execute("DROP TABLE IF EXISTS old_{t}")
                cur.execute("""
                    CREATE TEMP TABLE tmp_{t} ON COMMIT DROP AS SELECT id FROM users;
                    SELECT u.email FROM tmp_{t} x JOIN users u ON u.id = x.id;
                    DROP TABLE tmp_{t}
                """)
        '''
    if kind == "fstring_name":
        return f'''
            def count(cur, schema, suffix):
                cur.execute(f"SELECT count(*) FROM {{schema}}.users")
                cur.execute(f"SELECT count(*) FROM events_{{suffix}}")
        '''
    if kind == "qmark":
        return f'''
            def get(cur, uid, email):
                cur.execute("SELECT id FROM users WHERE id = ? AND email = ?", (uid, email))
        '''
    if kind == "named":
        return f'''
            def put(cur, uid, email):
                cur.execute("UPDATE users SET email = :email WHERE id = :uid", {{"email": email, "uid": uid}})
        '''
    if kind == "sqlite_branch":
        return f'''
            def upsert(db, uid, email):
                if db.is_sqlite:
                    db.execute("INSERT OR REPLACE INTO users (id, email) VALUES (?, ?)", (uid, email))
                else:
                    db.execute("INSERT INTO users (id, email) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", uid, email)
        '''
    if kind == "wrapper":
        return f'''
            from .dbwrap import run_sql

            async def forget_{i}(conn, uid):
                return await run_sql(conn, "DELETE FROM sessions WHERE user_id = $1", uid)
        '''
    if kind == "orm":
        return f'''
            class Model{i}:
                __tablename__ = "users"
        '''
    if kind == "counter":
        return f'''
            def search(conn, status, since):
                conds, params = [], []
                n = 0
                if status:
                    n += 1
                    conds.append(f"status = ${{n}}")
                    params.append(status)
                if since:
                    n += 1
                    conds.append(f"created_at > ${{n}}")
                    params.append(since)
                return conn.fetch("SELECT id FROM orders WHERE " + " AND ".join(conds), *params)
        '''
    raise ValueError(kind)


def generate(root: Path, n: int, seed: int = 12) -> dict[str, str]:
    rng = random.Random(seed)
    (root / "__init__.py").write_text("")
    (root / "dbwrap.py").write_text(textwrap.dedent('''
        async def run_sql(conn, sql, *params):
            return await conn.execute(sql, *params)
    '''))
    kinds = {}
    for i in range(n):
        kind = PATTERNS[i % len(PATTERNS)] if i < len(PATTERNS) else rng.choice(PATTERNS)
        name = f"m{i:05d}.py"
        (root / name).write_text(textwrap.dedent(module(kind, i)).lstrip("\n"))
        kinds[name] = kind
    return kinds


MEASURE = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from heal_pipeline.codescan import scan
root = Path(sys.argv[2])
best = None
for _ in range(3):
    t = time.process_time()
    r = scan([root], workers=1, cache_dir=None)
    s = time.process_time() - t
    best = s if best is None else min(best, s)
def tables(s):
    return [[t.schema, t.name] for t in s.tables]
out = {"seconds": best,
       "statements": [{"file": s.file, "line": s.line, "sql": s.sql, "tables": tables(s),
                       "error": s.parse_error, "dynamic": s.dynamic,
                       "style": sorted({p.style for p in s.params}),
                       "dialect": getattr(s, "dialect", None)} for s in r.statements],
       "other": [{"file": s.file, "line": s.line} for s in getattr(r, "other_dialects", [])],
       "findings": [{"kind": f.kind, "file": f.file, "table": f.table} for f in r.findings]}
print(json.dumps(out))
'''


def measure(checkout: Path, root: Path) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(MEASURE)
    try:
        out = subprocess.run([sys.executable, fh.name, str(checkout), str(root)], check=True,
                             capture_output=True, text=True).stdout
    finally:
        Path(fh.name).unlink()
    return json.loads(out)


def score(kinds: dict[str, str], res: dict) -> dict[str, tuple[int, int, int]]:
    """pattern -> (instances, read right, wrong references/findings)."""
    by_file: dict[str, list] = {}
    for s in res["statements"]:
        by_file.setdefault(s["file"], []).append(s)
    other = {o["file"] for o in res["other"]}
    finds: dict[str, list] = {}
    for f in res["findings"]:
        finds.setdefault(f["file"], []).append(f)
    out = {k: [0, 0, 0] for k in PATTERNS}
    for file, kind in kinds.items():
        st = by_file.get(file, [])
        fs = finds.get(file, [])
        names = [t[1] for s in st for t in s["tables"]] + [t[0] or "" for s in st for t in s["tables"]]
        row = out[kind]
        row[0] += 1
        if kind == "ddl":
            wrong = sum(1 for n in names if n.startswith(("app_t", "old_t", "tmp_t")))
            row[1] += wrong == 0 and not any(s["error"] for s in st)
            row[2] += wrong
        elif kind == "fstring_name":
            wrong = sum(1 for n in names if "_heal_hole_" in n or n == "events_")
            row[1] += wrong == 0
            row[2] += wrong
        elif kind in ("qmark", "named"):
            ok = len(st) == 1 and st[0]["error"] is None
            row[1] += ok
            row[2] += sum(1 for f in fs if f["kind"] == "unparsed_sql")
        elif kind == "sqlite_branch":
            ok = file in other and all("$1" in s["sql"] for s in st)
            row[1] += ok
            row[2] += sum(1 for f in fs if f["kind"] == "unparsed_sql") + sum(
                1 for s in st if "OR REPLACE" in s["sql"])
        elif kind == "wrapper":
            row[1] += any(s["sql"].startswith("DELETE FROM sessions") for s in st)
        elif kind == "orm":
            row[1] += any(f["kind"] == "table_declaration" and f["table"] == "users" for f in fs)
        elif kind == "counter":
            ok = len(st) == 1 and "$11" not in st[0]["sql"] and not st[0]["dynamic"] and st[0]["error"] is None
            row[1] += ok
            row[2] += sum(1 for f in fs if f["kind"] in ("unsafe_sql", "unparsed_sql"))
    wrap_untraced = sum(1 for f in res["findings"] if f["kind"] == "untraced_sql" and f["file"] == "dbwrap.py")
    out["wrapper"][2] += wrap_untraced
    return {k: tuple(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=1000)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout of heal to compare with")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="heal-bench12-")) / "app"
    root.mkdir()
    try:
        kinds = generate(root, args.modules)
        runs = [("this checkout", REPO)] + ([("baseline", args.baseline)] if args.baseline else [])
        results = {label: measure(path, root) for label, path in runs}
        print(f"tree: {args.modules} modules, one planted pattern each (issue 12 items 3, 4, 5)")
        head = "pattern".ljust(15) + "".join(f"{label + ': right/n, wrong':>32}" for label, _ in runs)
        print(head)
        scores = {label: score(kinds, res) for label, res in results.items()}
        for k in PATTERNS:
            cells = []
            for label, _ in runs:
                n, right, wrong = scores[label][k]
                cells.append(f"{right:>5}/{n:<5} {100.0 * right / n if n else 0:5.1f} %  {wrong:>6}")
            print(k.ljust(15) + "".join(f"{c:>32}" for c in cells))
        secs = {label: res["seconds"] for label, res in results.items()}
        line = "scan (sequential, cold, CPU, min of 3): " + ", ".join(f"{label} {s:.3f} s" for label, s in secs.items())
        if args.baseline:
            line += f"; ratio {secs['this checkout'] / secs['baseline']:.2f}x"
        print(line)
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
