"""Benchmark (issue 12 "Done when"): precision and recall per issue type on a generated estate of
>= 1,000 tables with planted issues, and on the demo estate.

    python bench/bench_detect_estate.py [--modules 100]

Each *module* is one schema of 12 tables (100 modules = 1,200 tables) with a Python file of SQL. The
planted issues vary by module number (identical / prefix / identical-UNIQUE duplicate indexes; a declared
int8 → int4 FK; implicit orphans at 15 % that the old 90 % bar hid; NOT VALID FKs with orphans; unused
tables scanned while the schema was built, referenced by DDL only, tied by an FK, or read only by heal's
own sampling; a code join through a cast; f-string SQL; N+1 loops; unparseable SQL; missing tables and
columns) next to the negatives real schemas have (FKs covered by composite indexes, unique prefixes,
another id space behind a ``*_id`` name, lookup tables only FKs read, identifiers already quoted,
``str(uuid.uuid4())``). The flow is the scheduled one: baseline snapshot stored (dated 8 days back),
the application's workload, a first detection recorded (it writes heal's own reads to the ledger),
then the measured detection with a 7-day window.

Baseline measured in the same run: the pre-issue-12 rules evaluated on the same estate (unused_table
from absolute counters with an FK veto and any code reference; orphaned_rows behind the 90 % bar;
unique indexes never duplicates), printed as recall ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WEEK = 7 * 86400
CODE_SIDE = {"cast_workaround", "unsafe_sql", "query_in_loop", "unparsed_sql", "broken_statement"}
IDENTITY = {"fk_without_index": ("schema_name", "table_name", "object_name"),
            "duplicate_index": ("schema_name", "table_name", "object_name"),
            "unused_index": ("schema_name", "table_name", "object_name"),
            "invalid_index": ("schema_name", "table_name", "object_name"),
            "no_primary_key": ("schema_name", "table_name"), "unused_table": ("schema_name", "table_name"),
            "missing_table": ("schema_name", "table_name"), "slow_query": ("object_name",),
            "sequence_exhaustion": ("schema_name", "table_name", "object_name"),
            "xid_wraparound": ("schema_name", "table_name", "object_name"),
            "unvalidated_constraint": ("schema_name", "table_name", "object_name"),
            "stale_statistics": ("schema_name", "table_name"), "table_bloat": ("schema_name", "table_name")}


def key(issue_type: str, get) -> tuple:
    fields = ("file", "line") if issue_type in CODE_SIDE else IDENTITY.get(
        issue_type, ("schema_name", "table_name", "column_name"))
    return (issue_type, *(get(f) for f in fields))


def module_sql(m: int) -> tuple[str, list[tuple]]:
    """DDL + data of module ``m`` (schema e<m>) and its planted issues (identity tuples)."""
    s = f"e{m}"
    planted: list[tuple] = []
    dup = {0: "CREATE INDEX users_org_id_2 ON {s}.users (org_id);",  # identical to users_org_id (later name)
           1: "CREATE INDEX tickets_user_only ON {s}.tickets (user_id);",  # prefix of tickets_user_created
           2: "CREATE UNIQUE INDEX users_email_again ON {s}.users (email);",  # identical to the constraint's
           3: "CREATE UNIQUE INDEX users_email_org ON {s}.users (email, org_id);"}[m % 4]  # negative
    planted += [("duplicate_index", s, "users", "users_org_id_2")] if m % 4 == 0 else []
    planted += [("duplicate_index", s, "tickets", "tickets_user_only")] if m % 4 == 1 else []
    planted += [("duplicate_index", s, "users", "users_email_again")] if m % 4 == 2 else []
    pay_type = "bigint" if m % 2 == 0 else "integer"
    planted += [("type_mismatch", s, "payments", "order_id")] if m % 2 == 0 else []
    ticket_idx = ("" if m % 5 == 0 else f"CREATE INDEX tickets_user_created ON {s}.tickets (user_id, created);")
    if m % 5 == 0:
        planted.append(("fk_without_index", s, "tickets", "tickets_user_id_fkey"))
        if m % 4 == 1:  # the prefix duplicate needs the composite index
            ticket_idx = f"CREATE INDEX tickets_user_created ON {s}.tickets (user_id, created);"
            planted.remove(("fk_without_index", s, "tickets", "tickets_user_id_fkey"))
    # orders.user_id → users.id (naming + data): 15 % orphans / clean / another id space
    orders_user = {0: "CASE WHEN g % 20 < 3 THEN 9000 + g ELSE 1 + g % 100 END", 1: "1 + g % 100",
                   2: "CASE WHEN g % 5 = 0 THEN 1 + g % 100 ELSE 5000 + g END"}[m % 3]
    planted += [("orphaned_rows", s, "orders", "user_id")] if m % 3 == 0 else []
    notes_fk = (f"ALTER TABLE {s}.ticket_notes ADD CONSTRAINT ticket_notes_ticket_fk FOREIGN KEY (ticket_id)"
                f" REFERENCES {s}.tickets (id) NOT VALID;" if m % 4 == 0 else
                f"ALTER TABLE {s}.ticket_notes ADD CONSTRAINT ticket_notes_ticket_fk FOREIGN KEY (ticket_id)"
                f" REFERENCES {s}.tickets (id);")
    notes_ticket = "CASE WHEN g % 10 = 0 THEN 900 + g ELSE 1 + g % 100 END" if m % 4 == 0 else "1 + g % 100"
    planted += [("orphaned_rows", s, "ticket_notes", "ticket_id")] if m % 4 == 0 else []
    audit_pk = "" if m % 5 == 0 else "id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    planted += [("no_primary_key", s, "audit_log")] if m % 5 == 0 else []
    legacy_fk = f"org_id int REFERENCES {s}.orgs (id)," if m % 3 == 2 else "org_id int,"
    planted += [("unused_table", s, "legacy_x")]
    planted += [("unused_table", s, "archive_orders")]  # read only by heal's own sampling
    unused_ix = f"CREATE INDEX orders_total ON {s}.orders (total);" if m % 10 == 3 else ""
    planted += [("unused_index", s, "orders", "orders_total")] if m % 10 == 3 else []
    sessions = (f"CREATE TABLE {s}.sessions (id text PRIMARY KEY, user_ref text);"
                f" INSERT INTO {s}.sessions SELECT 's' || g, (1 + g % 100)::text FROM generate_series(1, 100) g;")
    planted += [("type_mismatch", s, "sessions", "user_ref")] if m % 4 == 0 else []
    ddl = f"""
    CREATE SCHEMA {s};
    CREATE TABLE {s}.orgs (id int PRIMARY KEY, name text);
    CREATE TABLE {s}.users (id int PRIMARY KEY, org_id int REFERENCES {s}.orgs (id), email text,
                            CONSTRAINT users_email_key UNIQUE (email));
    CREATE INDEX users_org_id ON {s}.users (org_id);
    CREATE TABLE {s}.orders (id int PRIMARY KEY, user_id int, total numeric);
    CREATE INDEX orders_user ON {s}.orders (user_id);
    CREATE TABLE {s}.payments (id int PRIMARY KEY, order_id {pay_type} REFERENCES {s}.orders (id));
    CREATE INDEX payments_order ON {s}.payments (order_id);
    CREATE TABLE {s}.tickets (id int PRIMARY KEY, user_id int REFERENCES {s}.users (id), created date);
    CREATE TABLE {s}.ticket_notes (id int PRIMARY KEY, ticket_id int, body text);
    CREATE INDEX ticket_notes_ticket ON {s}.ticket_notes (ticket_id);
    CREATE TABLE {s}.audit_log ({audit_pk} at timestamptz NOT NULL DEFAULT now(), user_id int, action text);
    CREATE TABLE {s}.legacy_x (id int PRIMARY KEY, {legacy_fk} note text);
    CREATE INDEX legacy_x_note ON {s}.legacy_x (note);
    CREATE INDEX legacy_x_org ON {s}.legacy_x (org_id);
    CREATE TABLE {s}.lookup (code text PRIMARY KEY);
    CREATE TABLE {s}.events (id int PRIMARY KEY, code text REFERENCES {s}.lookup (code), user_id int);
    CREATE INDEX events_code ON {s}.events (code);
    CREATE TABLE {s}.archive_orders (id int PRIMARY KEY, user_id int);
    {sessions if m % 4 == 0 else f"CREATE TABLE {s}.sessions (id text PRIMARY KEY, user_ref int);"}
    INSERT INTO {s}.orgs SELECT g, 'o' || g FROM generate_series(1, 20) g;
    INSERT INTO {s}.users SELECT g, 1 + g % 20, 'u' || g || '@x' FROM generate_series(1, 100) g;
    INSERT INTO {s}.orders SELECT g, {orders_user}, g FROM generate_series(1, 200) g;
    INSERT INTO {s}.payments SELECT g, 1 + g % 200 FROM generate_series(1, 100) g;
    INSERT INTO {s}.tickets SELECT g, 1 + g % 100, date '2025-01-01' + g FROM generate_series(1, 100) g;
    INSERT INTO {s}.ticket_notes SELECT g, {notes_ticket}, 'b' FROM generate_series(1, 200) g;
    {notes_fk}
    INSERT INTO {s}.audit_log (user_id, action) SELECT 1 + g % 100, 'a' FROM generate_series(1, 100) g;
    INSERT INTO {s}.legacy_x SELECT g, {"1 + g % 20," if m % 3 == 2 else "NULL,"} 'n' FROM generate_series(1, 50) g;
    INSERT INTO {s}.lookup SELECT 'c' || g FROM generate_series(1, 5) g;
    INSERT INTO {s}.events SELECT g, 'c' || (1 + g % 5), 1 + g % 100 FROM generate_series(1, 100) g;
    INSERT INTO {s}.archive_orders SELECT g, 1 + g % 100 FROM generate_series(1, 50) g;
    {dup.format(s=s)}
    {ticket_idx}
    {unused_ix}
    """
    return ddl, planted


def module_code(m: int) -> tuple[str, list[tuple]]:
    s = f"e{m}"
    lines = ["import uuid", "from psycopg2.extensions import quote_ident", "", "",
             "def handlers(cur, conn, uid, org, email, table):"]
    planted: list[tuple] = []
    file = f"{s}.py"

    def add(text: str, issue: str | None = None) -> None:
        lines.append("    " + text)
        if issue:
            planted.append((issue, file, len(lines)))
    add(f'cur.execute("SELECT id, email FROM {s}.users WHERE org_id = %s", (org,))')
    add(f'cur.execute("SELECT id, name FROM {s}.orgs WHERE id = %s", (org,))')
    add(f'cur.execute("SELECT o.id, o.total FROM {s}.orders o WHERE o.user_id = %s", (uid,))')
    add(f'cur.execute("SELECT id FROM {s}.payments WHERE order_id = %s", (uid,))')
    add(f'cur.execute("SELECT id FROM {s}.tickets WHERE user_id = %s ORDER BY created", (uid,))')
    add(f'cur.execute("SELECT body FROM {s}.ticket_notes WHERE ticket_id = %s", (uid,))')
    add(f'cur.execute("INSERT INTO {s}.audit_log (user_id, action) VALUES (%s, %s)", (uid, "x"))')
    add(f'cur.execute("SELECT id, code FROM {s}.events WHERE user_id = %s", (uid,))')
    if m % 4 == 0:
        add(f'cur.execute("SELECT s.id FROM {s}.sessions s JOIN {s}.users u ON s.user_ref = u.id::text'
            f' WHERE u.id = %s", (uid,))', "cast_workaround")
        add(f'cur.execute("INSERT INTO {s}.sessions (id, user_ref) VALUES (%s, %s)", (str(uuid.uuid4()), email))')
    else:
        add(f'cur.execute("SELECT id FROM {s}.sessions WHERE user_ref = %s", (uid,))')
    if m % 3 == 0:
        add(f'cur.execute(f"SELECT id FROM {s}.users WHERE email = \'{{email}}\'")', "unsafe_sql")
    elif m % 3 == 1:
        add(f'cur.execute(f"SELECT count(*) FROM {s}.{{quote_ident(table, cur)}}")')
    if m % 5 == 1:
        add(f'for row in cur.execute("SELECT id FROM {s}.orders WHERE total > %s", (1,)).fetchall():')
        add(f'    cur.execute("SELECT email FROM {s}.users WHERE id = %s", (row[0],))', "query_in_loop")
    if m % 7 == 0:
        add(f'cur.execute("SELEC id FROM {s}.orgs")', "unparsed_sql")
    if m % 3 == 1:  # legacy_x named by DDL only
        add(f'cur.execute("CREATE TABLE IF NOT EXISTS {s}.legacy_x (id int PRIMARY KEY, org_id int, note text)")')
        add(f'cur.execute("TRUNCATE {s}.legacy_x")')
    if m % 10 == 0:
        add(f'cur.execute("SELECT id FROM {s}.gone_table WHERE id = %s", (uid,))')
        planted.append(("missing_table", s, "gone_table"))
    if m % 10 == 5:
        add(f'cur.execute("SELECT nickname FROM {s}.users WHERE id = %s", (uid,))')
        planted.append(("missing_column", s, "users", "nickname"))
    return "\n".join(lines) + "\n", planted


def score(found: set, planted: set) -> dict[str, dict]:
    types = sorted({k[0] for k in found | planted})
    out = {}
    for t in types:
        f = {k for k in found if k[0] == t}
        p = {k for k in planted if k[0] == t}
        tp = len(f & p)
        out[t] = {"planted": len(p), "found": len(f), "tp": tp, "fp": len(f - p), "fn": len(p - f),
                  "precision": round(tp / len(f), 4) if f else None, "recall": round(tp / len(p), 4) if p else None}
    return out


def table(title: str, sc: dict[str, dict]) -> str:
    rows = [f"{title}", f"  {'issue_type':<22} {'planted':>7} {'found':>6} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}"]
    for t, r in sc.items():
        pr = "-" if r["precision"] is None else f"{r['precision']:.1%}"
        rc = "-" if r["recall"] is None else f"{r['recall']:.1%}"
        rows.append(f"  {t:<22} {r['planted']:>7} {r['found']:>6} {r['fp']:>4} {r['fn']:>4} {pr:>9} {rc:>7}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=100, help="schemas of 12 tables each (100 → 1,200 tables)")
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args()

    import psycopg

    from heal_pipeline.config import with_database
    from heal_pipeline.demo.estate import MIGRATIONS_DIR, SOURCE_DIRS, build_estate, load_planted
    from heal_pipeline.embedded import create_database, temporary_server
    from heal_pipeline.introspect import take_snapshot
    from heal_pipeline.scan import scan_target
    from heal_pipeline.store import open_store, record_detection, save_snapshot
    from heal_pipeline.targets import Target

    server = temporary_server()
    figures: dict = {}
    try:
        admin = server.info().dsn("postgres")
        create_database(admin, "bench_estate", replace=True)
        dsn = with_database(admin, "bench_estate")
        root = Path(tempfile.mkdtemp(prefix="heal-bench-estate-"))
        planted: set = set()
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for m in range(args.modules):
                ddl, p = module_sql(m)
                conn.execute(textwrap.dedent(ddl))
                planted |= set(p)
                code, pc = module_code(m)
                (root / f"e{m}.py").write_text(code)
                planted |= set(pc)
            conn.execute("ANALYZE")
        figures["generate_s"] = round(time.perf_counter() - t0, 1)
        # 1. the baseline snapshot, stored as if taken 8 days ago (the store is the target, as by default)
        snap0 = take_snapshot(dsn, target_db="bench")
        with open_store(dsn) as store:
            sid = save_snapshot(store, snap0, drift={}, run_id="baseline", seconds=None)
            store.execute("UPDATE heal.schema_snapshots SET taken_at = taken_at - interval '8 days'"
                          " WHERE snapshot_id = %s", (sid,))
        # 2. the application's workload in the window: every table it uses is read or written
        live = ("orgs", "users", "orders", "payments", "tickets", "ticket_notes", "audit_log", "events", "sessions")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for m in range(args.modules):
                for t in live:
                    conn.execute(f"SELECT count(*) FROM e{m}.{t}")  # noqa: S608 - generated names
            conn.execute("SET enable_seqscan = off")  # one probe per index the application uses
            for m in range(args.modules):
                for t, c in (("users", "org_id"), ("orders", "user_id"), ("payments", "order_id"),
                             ("ticket_notes", "ticket_id"), ("events", "code"), ("tickets", "user_id")):
                    conn.execute(f"SELECT count(*) FROM e{m}.{t} WHERE {c} = (SELECT {c} FROM e{m}.{t} LIMIT 1)")
                conn.execute(f"SELECT count(*) FROM e{m}.users WHERE email = 'u1@x' AND org_id = 2")
            conn.execute("RESET enable_seqscan")
            conn.execute("SELECT pg_stat_force_next_flush()")
            conn.execute("SELECT 1")
        target = Target(name="bench", dsn=dsn, store_dsn=dsn, source_dirs=(root,), observation_window_s=WEEK)
        # 3. a scheduled run: its data reads go to heal's ledger
        first = scan_target(target)
        with open_store(dsn) as store:
            record_detection(store, "bench", first.result, "run-1", set())
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT 1")
        # 4. the measured run
        t0 = time.perf_counter()
        out = scan_target(target)
        figures["scan_s"] = round(time.perf_counter() - t0, 2)
        figures.update({k: round(v, 2) for k, v in out.seconds.items()})
        figures["detect_over_snapshot"] = round(out.seconds["detect"] / max(out.seconds["snapshot"], 1e-9), 2)
        found = {key(i.issue_type, lambda f, i=i: getattr(i, f)) for i in out.result.issues}
        sc = score(found, planted)
        print(json.dumps({"tables": len(out.snapshot.tables), "modules": args.modules,
                          "statements": len(out.code.statements) if out.code else 0, "planted": len(planted),
                          "issues": len(out.result.issues), **figures}))
        print(table(f"generated estate ({len(out.snapshot.tables)} tables, window 7 d)", sc))
        extra = sorted(found - planted, key=str)[:10]
        missed = sorted(planted - found, key=str)[:10]
        if extra or missed:
            print("  false positives (first 10):", extra)
            print("  missed (first 10):", missed)
        if out.result.unchecked:
            print("  not checked:", Counter(u["check"] for u in out.result.unchecked))

        # baseline in the same run: the pre-issue-12 rules on the same estate
        snap = out.snapshot
        any_ref = {(t.schema or "public", t.name) for st in out.code.statements for t in st.tables}
        in_fk = {(c.schema, c.table) for c in snap.constraints if c.kind == "foreign_key"} | {
            (c.ref_schema, c.ref_table) for c in snap.constraints if c.kind == "foreign_key"}
        old_unused = {("unused_table", t.schema, t.name) for t in snap.tables
                      if t.schema.startswith("e") and (t.schema, t.name) not in any_ref | in_fk
                      and t.seq_scan + t.idx_scan == 0}
        old_orphans = {key(i.issue_type, lambda f, i=i: getattr(i, f)) for i in out.result.issues
                       if i.issue_type == "orphaned_rows" and not (
                           (i.evidence.get("relationship") or {}).get("by") == "naming+data"
                           and ((i.evidence.get("relationship") or {}).get("containment") or 0) < 0.9)}
        old_dups = {key(i.issue_type, lambda f, i=i: getattr(i, f)) for i in out.result.issues
                    if i.issue_type == "duplicate_index" and not i.evidence.get("unique")}
        old_unsafe = {("unsafe_sql", f.file, f.line) for f in out.code.findings if f.kind == "unsafe_sql"}
        print("pre-issue-12 rules on the same estate (baseline) vs now:")
        p_unsafe = {k for k in planted if k[0] == "unsafe_sql"}
        print(f"  {'unsafe_sql':<22} precision {len(old_unsafe & p_unsafe) / max(len(old_unsafe), 1):.1%} → "
              f"{sc['unsafe_sql']['precision']:.1%} ({len(old_unsafe - p_unsafe)} quoted identifiers no longer reported)")
        for t, old in (("unused_table", old_unused), ("orphaned_rows", old_orphans), ("duplicate_index", old_dups)):
            p = {k for k in planted if k[0] == t}
            r_old = len(old & p) / len(p) if p else 0
            r_new = sc[t]["recall"] or 0
            print(f"  {t:<22} recall {r_old:.1%} → {r_new:.1%} (×{r_new / r_old:.2f})" if r_old else
                  f"  {t:<22} recall {r_old:.1%} → {r_new:.1%}")

        unused = [i for i in out.result.issues if i.issue_type == "unused_table"]
        print(f"  unused_table found only because of issue 12.1: {sum(bool(i.evidence['heal_reads']['seq_scan'] + i.evidence['heal_reads']['idx_scan']) for i in unused)} "
              f"read only by heal's own sampling (ledger), {sum(bool(i.evidence['foreign_keys']) for i in unused)} with an FK, "
              f"{sum(bool(i.evidence['ddl_references']) for i in unused)} named by DDL only, "
              f"{sum(i.evidence['seq_scan'] > 0 for i in unused)} scanned before the baseline (absolute seq_scan > 0)")

        if not args.no_demo:
            t0 = time.perf_counter()
            summary = build_estate(admin, "bench_demo")
            demo = scan_target(Target(name="heal_demo", dsn=summary["dsn"], store_dsn=summary["dsn"],
                                      source_dirs=SOURCE_DIRS, migrations_dirs=(MIGRATIONS_DIR,),
                                      observation_window_s=0))
            dfound = {key(i.issue_type, lambda f, i=i: getattr(i, f)) for i in demo.result.issues}
            dplanted = {key(p["issue_type"], p.get) for p in load_planted()}
            print(table(f"demo estate ({summary['tables']} tables, window 0, {time.perf_counter() - t0:.1f} s)",
                        score(dfound, dplanted)))
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
