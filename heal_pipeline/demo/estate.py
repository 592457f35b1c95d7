"""Build the demo estate: an ~80-table SaaS database with every issue type planted once or more.

Plain Python over psycopg 3 (no Dagster). The estate is made of

* ``examples/demo_estate/*.sql`` — the schema (``01``), the rows (``02``), issues that need the
  rows first (``03``), a statement that must fail outside a transaction (``04``) and DDL that
  runs after the warm-up workload (``05``);
* ``examples/demo_estate/planted.json`` — the exact list of issues the detectors must report;
* ``examples/demo_app`` — the application's Python source and migrations (scanned, never run).

:func:`build_estate` drops and recreates the database, loads all of it, then resets the
statistics and runs a warm-up workload so that scan counters tell the intended story: every
table the application uses and every non-planted non-unique index has been scanned, the dead
tables and the planted unused indexes have not, and one query is slow (for ``slow_query``).
It checks that story before returning and raises :class:`EstateError` when it does not hold.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..packaged import data_dir

ESTATE_DIR = data_dir("demo_estate")  # examples/demo_estate (packaged in a wheel)
APP_DIR = data_dir("demo_app")  # examples/demo_app
MIGRATIONS_DIR = APP_DIR / "migrations"
JS_APP_DIR = data_dir("demo_js")  # examples/demo_js: the Node (TypeScript/JavaScript) service
#: every source root of the demo: the Python app and the Node service, scanned side by side
SOURCE_DIRS = (APP_DIR, JS_APP_DIR)
PLANTED_FILE = ESTATE_DIR / "planted.json"

#: the application schemas of the estate (heal's own schemas are never created here)
SCHEMAS = ("public", "auth", "billing", "content", "analytics", "support")

#: files run in one transaction each, in this order
TRANSACTIONAL_FILES = ("01_schema.sql", "02_data.sql", "03_plant.sql")
#: statements run one by one in autocommit mode, each expected to fail with a unique violation
CONCURRENT_FILE = "04_concurrently.sql"
#: DDL run after the warm-up workload (objects that must start with zero scans)
AFTER_WORKLOAD_FILE = "05_after_workload.sql"

#: tables that are neither used by the code nor scanned, yet are not dead: a view or a
#: foreign key refers to them. The workload leaves them alone (negatives for unused_table).
QUIET_TABLES = (("public", "countries"), ("billing", "tax_rates"))

#: The slow query of the workload (planted ``slow_query``): an analyst's ad-hoc "returning
#: users" report from a BI tool (it is not in the application code). A self-join of the
#: 100k-row events table does most of the work; ``pg_sleep`` adds a fixed floor so that it
#: stays above heal's 200 ms threshold on fast machines too (~450-500 ms on 2 cores). It is sent
#: with server-side binding, so pg_stat_statements records exactly SLOW_QUERY_NORMALIZED.
SLOW_QUERY = (
    "SELECT e.user_id, count(*) AS returning_events "
    "FROM analytics.events e "
    "JOIN analytics.events r ON r.user_id = e.user_id AND r.occurred_at > e.occurred_at "
    "CROSS JOIN pg_sleep(%s) AS pacing "
    "WHERE e.occurred_at >= %s "
    "GROUP BY e.user_id ORDER BY returning_events DESC LIMIT %s"
)
SLOW_QUERY_NORMALIZED = SLOW_QUERY.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
SLOW_QUERY_PARAMS = (0.3, "2025-01-18T00:00:00+00:00", 20)
SLOW_QUERY_CALLS = 3
#: pg_stat_statements must show at least this mean (heal's default threshold is 200 ms)
SLOW_QUERY_MIN_MEAN_MS = 250.0


class EstateError(RuntimeError):
    """The built estate does not match what planted.json promises."""


def load_planted() -> list[dict[str, Any]]:
    """The issues planted in the demo estate, as listed in ``examples/demo_estate/planted.json``."""
    with PLANTED_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)


def _planted_names(planted: list[dict[str, Any]], issue_type: str) -> set[tuple[str, str, str | None]]:
    return {(p["schema_name"], p["table_name"], p["object_name"])
            for p in planted if p["issue_type"] == issue_type}


def _statements(path: Path) -> list[str]:
    """The statements of a file of simple statements (no quoted ';', no dollar quoting)."""
    body = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


DEMO_MARKER = "heal demo estate (heal demo build); safe to rebuild"


def estate_dsn(admin_dsn: str, dbname: str = "heal_demo") -> str:
    """The DSN of database ``dbname`` on the server of ``admin_dsn``."""
    params = conninfo_to_dict(admin_dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def build_estate(admin_dsn: str, dbname: str = "heal_demo", *, replace: bool = True) -> dict[str, Any]:
    """(Re)create database ``dbname`` as the demo estate and return a summary.

    ``admin_dsn`` is a superuser DSN to any database of the server. With ``replace=False`` an
    existing database is an error. The summary holds ``dsn``, ``dbname``, ``tables``, ``rows``,
    ``seconds``, ``planted`` (count), ``pg_stat_statements`` (whether it is loaded, i.e.
    whether ``slow_query`` can be detected), ``server_version_num``, ``workload`` (query count
    and timings of the warm-up) and ``phases`` (seconds per build step).

    Raises :class:`EstateError` when the result does not match planted.json (for example an
    index that must look used was never scanned). Needs PostgreSQL 15 or later.

    Note: statistics belong to the database, so a copy made with ``CREATE DATABASE … TEMPLATE``
    has the schema and rows but none of the scan counters or pg_stat_statements entries.
    """
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - t0 - sum(phases.values()), 3)

    planted = load_planted()
    dsn = estate_dsn(admin_dsn, dbname)

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists and not replace:
            raise EstateError(f"database {dbname!r} already exists (pass replace=True to rebuild it)")
        if exists:
            # never drop a database heal did not create as a demo estate (user data)
            marker = admin.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (dbname,)).fetchone()[0]
            if marker != DEMO_MARKER:
                raise EstateError(f"database {dbname!r} exists and is not a heal demo estate: refusing to "
                                  "replace it (pick another name)")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
        # template0: nothing someone added to template1 can leak into the estate
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(dbname),
                                                                    sql.Literal(DEMO_MARKER)))
    lap("create_database")

    with psycopg.connect(dsn, autocommit=True) as conn:
        server_version_num = int(conn.execute("SHOW server_version_num").fetchone()[0])
        if server_version_num < 150000:
            raise EstateError(f"the demo estate needs PostgreSQL 15 or later, not {server_version_num}")
        for name in TRANSACTIONAL_FILES:
            with conn.transaction():
                conn.execute((ESTATE_DIR / name).read_text(encoding="utf-8"))
            lap(name)
        for stmt in _statements(ESTATE_DIR / CONCURRENT_FILE):
            try:
                conn.execute(stmt)
            except psycopg.errors.UniqueViolation:
                pass  # expected: this is how the invalid index is planted
            else:
                raise EstateError(f"expected a unique violation from: {stmt}")
        pgss = _ensure_pg_stat_statements(conn)

        tables = _tables(conn)
        rows = sum(conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(s), sql.Identifier(t))).fetchone()[0] for s, t in tables)
        lap("count_rows")
        conn.execute("ANALYZE")
        lap("analyze")

        # statistics: flush what this backend still holds, then start from zero
        _flush_stats(conn)
        conn.execute("SELECT pg_stat_reset()")
        if pgss:
            conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                         "WHERE datname = current_database()), 0)")
        workload = _warm_up(conn, planted, tables)
        lap("workload")

        for stmt in _statements(ESTATE_DIR / AFTER_WORKLOAD_FILE):
            conn.execute(stmt)
        _flush_stats(conn)
        _verify(conn, planted, tables, pgss)
        lap("verify")

    return {
        "dsn": dsn,
        "dbname": dbname,
        "tables": len(tables),
        "rows": rows,
        "planted": len(planted),
        "pg_stat_statements": pgss,
        "server_version_num": server_version_num,
        "workload": workload,
        "phases": phases,
        "seconds": round(time.perf_counter() - t0, 2),
    }


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _ensure_pg_stat_statements(conn: psycopg.Connection) -> bool:
    """Create the extension when the server has it; True when it is also preloaded."""
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'").fetchone()
    if not available:
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    libs = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
    return "pg_stat_statements" in {x.strip().strip('"') for x in libs.split(",")}


def _tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype = 'e')
           ORDER BY 1, 2""", (list(SCHEMAS),)).fetchall()]


def _flush_stats(conn: psycopg.Connection) -> None:
    """Make this backend's pending counters visible (PostgreSQL 15+ flushes before it idles)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_clear_snapshot()")


def _index_catalog(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return [dict(zip(("schema", "table", "index", "unique", "valid", "columns", "predicate",
                      "expressions", "idx_scan"), r)) for r in conn.execute(
        """SELECT n.nspname, t.relname, i.relname, x.indisunique, x.indisvalid,
                  array(SELECT a.attname FROM unnest(x.indkey[0:x.indnkeyatts - 1]) WITH ORDINALITY k(attnum, o)
                        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.o),
                  x.indpred IS NOT NULL, x.indexprs IS NOT NULL,
                  coalesce(s.idx_scan, 0)
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
           WHERE n.nspname = ANY(%s) AND t.relkind IN ('r', 'p')
           ORDER BY 1, 2, 3""", (list(SCHEMAS),)).fetchall()]


def _expectations(planted: list[dict[str, Any]]) -> dict[str, set]:
    dead = {(p["schema_name"], p["table_name"]) for p in planted if p["issue_type"] == "unused_table"}
    return {
        "dead": dead,
        "quiet": set(QUIET_TABLES),
        "unused_indexes": {(s, o) for s, _t, o in _planted_names(planted, "unused_index")},
        "duplicate_indexes": {(s, o) for s, _t, o in _planted_names(planted, "duplicate_index")},
    }


def _warm_up(conn: psycopg.Connection, planted: list[dict[str, Any]],
             tables: list[tuple[str, str]]) -> dict[str, Any]:
    """Scan every live table and every index that must look used; run the slow query."""
    exp = _expectations(planted)
    timings: list[tuple[float, str]] = []

    def run(query: sql.Composable) -> None:
        t = time.perf_counter()
        conn.execute(query)
        timings.append(((time.perf_counter() - t) * 1000, query.as_string(conn)[:200]))

    # 1. sequential scans of every table except the dead and the quiet ones
    conn.execute("SET enable_indexscan = off")
    conn.execute("SET enable_bitmapscan = off")
    conn.execute("SET enable_indexonlyscan = off")
    for schema, table in tables:
        if (schema, table) in exp["dead"] or (schema, table) in exp["quiet"]:
            continue
        run(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    # sample rows for the index probes (also sequential scans)
    probes = []
    for ix in _index_catalog(conn):
        key = (ix["schema"], ix["index"])
        if (ix["unique"] or not ix["valid"] or key in exp["unused_indexes"]
                or key in exp["duplicate_indexes"] or (ix["schema"], ix["table"]) in exp["dead"]
                or (ix["schema"], ix["table"]) in exp["quiet"]):
            continue
        if ix["predicate"] or ix["expressions"]:
            raise EstateError(f"no probe for partial/expression index {ix['schema']}.{ix['index']}")
        cols = [sql.Identifier(c) for c in ix["columns"]]
        sample = conn.execute(sql.SQL("SELECT {} FROM {}.{} WHERE {} LIMIT 1").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(c) for c in cols),
            sql.Identifier(ix["schema"]), sql.Identifier(ix["table"]),
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols))).fetchone()
        probes.append((ix, cols, sample))
    conn.execute("RESET enable_indexscan")
    conn.execute("RESET enable_bitmapscan")
    conn.execute("RESET enable_indexonlyscan")

    # 2. one equality probe per index that must be used (all key columns bound)
    conn.execute("SET enable_seqscan = off")
    for ix, cols, sample in probes:
        run(sql.SQL("SELECT count(*) FROM {}.{} WHERE {}").format(
            sql.Identifier(ix["schema"]), sql.Identifier(ix["table"]),
            sql.SQL(" AND ").join(sql.SQL("{} = {}").format(c, sql.Literal(v)) for c, v in zip(cols, sample))))
    conn.execute("RESET enable_seqscan")

    # 3. the slow query (server-side binding: pg_stat_statements sees $1, $2, $3)
    slow = []
    for _ in range(SLOW_QUERY_CALLS):
        t = time.perf_counter()
        conn.execute(SLOW_QUERY, SLOW_QUERY_PARAMS)
        slow.append(round((time.perf_counter() - t) * 1000, 1))

    slowest = max(timings)
    return {"queries": len(timings) + len(slow), "slow_query_ms": slow,
            "slowest_other_ms": round(slowest[0], 1), "slowest_other": slowest[1]}


def _verify(conn: psycopg.Connection, planted: list[dict[str, Any]], tables: list[tuple[str, str]],
            pgss: bool) -> None:
    """Raise EstateError unless the scan counters and catalog agree with planted.json."""
    exp = _expectations(planted)
    problems: list[str] = []
    for _ in range(20):  # the counters are flushed by now; retry briefly for slow machines
        problems = []
        stats = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
            "SELECT schemaname, relname, coalesce(seq_scan, 0), coalesce(idx_scan, 0) "
            "FROM pg_stat_user_tables WHERE schemaname = ANY(%s)", (list(SCHEMAS),)).fetchall()}
        for schema, table in tables:
            seq, idx = stats.get((schema, table), (0, 0))
            silent = (schema, table) in exp["dead"] or (schema, table) in exp["quiet"]
            if silent and seq + idx:
                problems.append(f"{schema}.{table} must have 0 scans, has seq={seq} idx={idx}")
            if not silent and not seq:
                problems.append(f"{schema}.{table} was not scanned by the workload")
        for ix in _index_catalog(conn):
            key = (ix["schema"], ix["index"])
            if key in exp["unused_indexes"]:
                if ix["idx_scan"]:
                    problems.append(f"planted unused index {key} was scanned {ix['idx_scan']} times")
            elif (key in exp["duplicate_indexes"] or ix["unique"] or not ix["valid"]
                  or (ix["schema"], ix["table"]) in exp["dead"]):  # an unused table's indexes stay idle too
                continue
            elif not ix["idx_scan"]:
                problems.append(f"index {ix['schema']}.{ix['index']} was not scanned by the workload")
        if not problems:
            break
        time.sleep(0.1)
        conn.execute("SELECT pg_stat_clear_snapshot()")

    for p in planted:
        if p["issue_type"] == "invalid_index":
            row = conn.execute(
                "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = %s AND i.relname = %s",
                (p["schema_name"], p["object_name"])).fetchone()
            if row is None or row[0]:
                problems.append(f"index {p['schema_name']}.{p['object_name']} should exist and be invalid")
    if pgss:
        row = conn.execute(
            "SELECT calls, mean_exec_time FROM pg_stat_statements WHERE query = %s AND dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (SLOW_QUERY_NORMALIZED,)).fetchone()
        if row is None or row[0] < SLOW_QUERY_CALLS or row[1] < SLOW_QUERY_MIN_MEAN_MS:
            problems.append(f"pg_stat_statements should show the slow query {SLOW_QUERY_CALLS} times with a "
                            f"mean of at least {SLOW_QUERY_MIN_MEAN_MS} ms, shows (calls, mean) = {row}")
        # nothing else may look slow (heal's default: mean >= 200 ms over >= 3 calls)
        for query, calls, mean in conn.execute(
                "SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE dbid = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND calls >= 3 AND mean_exec_time >= 200 AND query <> %s", (SLOW_QUERY_NORMALIZED,)):
            problems.append(f"unplanted slow statement ({calls} calls, {mean:.0f} ms): {query[:120]}")
    if problems:
        raise EstateError("the demo estate is inconsistent:\n  " + "\n  ".join(problems))
