"""Take a :class:`~heal_pipeline.model.Snapshot` of a PostgreSQL database.

A constant number of catalog queries (the files under ``sql/introspect/``), whatever the number of
tables, all inside one read-only REPEATABLE READ transaction so the parts agree with each other and
nothing can be written to the target. Only catalog read access is needed: a read-only role is enough.
What cannot be read (pg_stat_statements not preloaded, no permission, a timeout) is recorded in
``Snapshot.unavailable`` and never reported as clean.

Large catalogs (more than ``PARALLEL_THRESHOLD`` relations) are read over three connections that
share one exported snapshot (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``), so the groups of
queries run on the server's cores and still see exactly the same catalog state, while each result is
turned into model objects (``build.py``) as soon as it arrives. CHECK constraint texts are
remembered by catalog row version (``checkdefs.py``): deparsing them costs a fresh backend a relcache
build per table.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from .. import model
from ..config import HEAL_SCHEMAS, database_name
from ..db import connect, load_query, load_sql
from ..errors import HealError, first_line
from .build import (
    ColumnIndex,
    Opclasses,
    build_columns,
    build_constraints,
    build_indexes,
    build_rows,
    sum_index_scans,
)
from .checkdefs import CheckDefs
from .indexdef import Quoter
from .maintenance import read_maintenance  # issue 15: vacuum/analyze/sequence/xid facts

# attribute → (query file, model class); SELECT lists follow the dataclass field order.
QUERIES: dict[str, tuple[str, type | None]] = {
    "columns": ("introspect/02_columns.sql", model.Column),
    "tables": ("introspect/01_tables.sql", model.Table),
    "views": ("introspect/05_views.sql", model.View),
    "view_dependencies": ("introspect/06_view_dependencies.sql", model.ViewDependency),
    "functions": ("introspect/07_functions.sql", model.Function),
    "constraints": ("introspect/03_constraints.sql", model.Constraint),
    "triggers": ("introspect/08_triggers.sql", model.Trigger),
    "extensions": ("introspect/09_extensions.sql", model.Extension),
    "opclasses": ("introspect/11_opclasses.sql", None),
    "indexes": ("introspect/04_indexes.sql", model.Index),
}
# Three groups over three connections on a large catalog (10,000 tables, fresh backends, no parallel
# workers: columns ≈ 200 ms, tables ≈ 60, maintenance ≈ 70 | constraints ≈ 210 | indexes ≈ 200). The
# columns come first: the other groups' builders name attnums with them. The first group runs on the
# caller's connection and also reads the maintenance facts; the tables query runs before the
# builders start (measured: after the columns it waited for the GIL ≈ 4× its server time).
# Serially, the same order.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("columns", "views", "view_dependencies", "functions"),
    ("tables", "constraints", "triggers", "extensions"),
    ("opclasses", "indexes"),
)
_COMPOSED = {"introspect/01_tables.sql", "introspect/03_constraints.sql", "introspect/04_indexes.sql"}
STATEMENT_LIMIT = 1000
PARALLEL_THRESHOLD = 3000  # relations (tables + indexes + views) before the helper connections pay off


def _version_columns(server_version_num: int) -> dict[str, sql.Composable]:
    """Fixed column expressions for the brace holes of the catalog queries, by server version."""
    holes = {"nulls_not_distinct": sql.SQL("x.indnullsnotdistinct" if server_version_num >= 150000
                                           else "false"),
             # foreign keys heal spells: no SET NULL/DEFAULT column list (15+), no PERIOD (17+),
             # enforced (18+) — the others are spelt by the server
             "fk_plain": sql.SQL(" ").join(
                 ([sql.SQL("AND con.confdelsetcols IS NULL")] if server_version_num >= 150000 else [])
                 + ([sql.SQL("AND NOT con.conperiod")] if server_version_num >= 170000 else [])
                 + ([sql.SQL("AND con.conenforced")] if server_version_num >= 180000 else []))}
    if server_version_num >= 160000:
        return {**holes, "last_seq_scan": sql.SQL("pg_stat_get_lastscan(c.oid)::text"),
                "last_idx_scan": sql.SQL("pg_stat_get_lastscan(x.indexrelid)::text")}
    return {**holes, "last_seq_scan": sql.SQL("NULL::text"), "last_idx_scan": sql.SQL("NULL::text")}


def _begin(conn: psycopg.Connection, statement_timeout_ms: int, snapshot_id: str | None = None) -> None:
    conn.autocommit = False
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    if snapshot_id is not None:  # must be the transaction's first statement
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
    # no parallel workers: the snapshot's own connections already keep the cores busy, and a
    # worker's tuple queue and merge cost more than they save on catalog-sized scans; sorts of
    # ~15,000 wide rows stay in memory
    conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', '5s', true),"
                 " set_config('max_parallel_workers_per_gather', '0', true),"
                 " set_config('work_mem', '64MB', true)",
                 (str(statement_timeout_ms),))


class _Reader:
    """Runs groups of catalog queries and builds each result as soon as it is fetched (the builders
    of later groups wait for the columns, which name their attnums)."""

    def __init__(self, params: dict, holes: dict, quote: Quoter, checkdefs: CheckDefs) -> None:
        self.params, self.holes, self.quote, self.checkdefs = params, holes, quote, checkdefs
        self.queries = 0
        self.columns: Future[ColumnIndex] = Future()
        self.opclasses: Opclasses | None = None
        self.built: dict[str, list] = {}
        self.unspelt_indexes: list[tuple[int, model.Index]] = []
        self.unspelt_constraints: list[tuple[int, model.Constraint]] = []

    def run(self, conn: psycopg.Connection, attrs: tuple[str, ...]) -> None:
        try:
            with conn.cursor() as cur:
                for attr in attrs:
                    path, typ = QUERIES[attr]
                    cur.execute(load_query(path, **self.holes) if path in _COMPOSED else load_sql(path),
                                self.params)
                    names = [d.name for d in cur.description or []]
                    self._build(conn, attr, typ, names, cur.fetchall())
        except BaseException as exc:
            if "columns" in attrs and not self.columns.done():  # the others must not wait forever
                self.columns.set_exception(exc)
            raise

    def _build(self, conn: psycopg.Connection, attr: str, typ, names: list[str], rows: list[tuple]) -> None:
        if attr == "columns":
            self.built[attr], index = build_columns(names, rows)
            self.columns.set_result(index)
        elif attr == "opclasses":
            self.opclasses = Opclasses.from_rows(rows)
        elif attr == "constraints":
            checks: list[tuple[int, str, model.Constraint]] = []
            cols = self.columns.result()
            self.built[attr] = build_constraints(names, rows, cols, self.quote, self.unspelt_constraints,
                                                 checks)
            # the CHECK texts not remembered are asked on this group's connection (same snapshot)
            self.queries += self.checkdefs.resolve(conn, checks, cols.names)
        elif attr == "indexes":
            assert self.opclasses is not None, "opclasses are read before indexes"
            self.built[attr] = build_indexes(names, rows, self.columns.result(), self.opclasses,
                                             self.quote, self.unspelt_indexes)
        else:
            self.built[attr] = build_rows(typ, names, rows)


def take_snapshot(dsn: str, *, target_db: str | None = None,
                  exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                  statement_timeout_ms: int = 120_000, parallel: bool | None = None,
                  cache_dir: Path | None = None) -> model.Snapshot:
    """Connect to ``dsn`` and read the whole catalog. Raises :class:`HealError` on failure.

    ``cache_dir``: where CHECK constraint texts are remembered between processes (checkdefs.py);
    within a process they are remembered anyway."""
    conn = connect(dsn, purpose="target database", autocommit=False)
    try:
        return snapshot_from_connection(conn, target_db=target_db or database_name(dsn),
                                        exclude_schemas=exclude_schemas,
                                        statement_timeout_ms=statement_timeout_ms,
                                        second_dsn=dsn, parallel=parallel, cache_dir=cache_dir)
    finally:
        conn.close()


def snapshot_from_connection(conn: psycopg.Connection, *, target_db: str,
                             exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                             statement_timeout_ms: int = 120_000, second_dsn: str | None = None,
                             parallel: bool | None = None, cache_dir: Path | None = None) -> model.Snapshot:
    with _snapshot_runtime():
        return _snapshot(conn, target_db=target_db, exclude_schemas=exclude_schemas,
                         statement_timeout_ms=statement_timeout_ms, second_dsn=second_dsn,
                         parallel=parallel, cache_dir=cache_dir)


_RUNTIME_LOCK = threading.Lock()
_RUNTIME: dict[str, Any] = {"depth": 0}


@contextlib.contextmanager
def _snapshot_runtime():
    """While any snapshot runs in this process (measured at 10,000 tables, 2 cores):

    * no cyclic garbage collection: ~100,000 objects and their lists, none of them garbage; the
      collector otherwise runs hundreds of young passes and full ones over a large heap (0.1–0.3 s);
    * a 1 ms GIL switch interval instead of 5 ms: the connection threads wake on every chunk of rows
      while another thread builds objects, and each wake-up waited for the interval (0.95 → 0.86 s).

    Both are restored when the last concurrent snapshot ends."""
    with _RUNTIME_LOCK:
        if _RUNTIME["depth"] == 0:
            _RUNTIME["gc"], _RUNTIME["switch"] = gc.isenabled(), sys.getswitchinterval()
            gc.disable()
            sys.setswitchinterval(min(_RUNTIME["switch"], 0.001))
        _RUNTIME["depth"] += 1
    try:
        yield
    finally:
        with _RUNTIME_LOCK:
            _RUNTIME["depth"] -= 1
            if _RUNTIME["depth"] == 0:
                sys.setswitchinterval(_RUNTIME["switch"])
                if _RUNTIME["gc"]:
                    gc.enable()


def _snapshot(conn: psycopg.Connection, *, target_db: str, exclude_schemas: tuple[str, ...],
              statement_timeout_ms: int, second_dsn: str | None, parallel: bool | None,
              cache_dir: Path | None) -> model.Snapshot:
    params = {"exclude": list(exclude_schemas)}
    checkdefs = CheckDefs(conn.info.dsn, cache_dir)
    queries = 0
    helpers: list[psycopg.Connection] = []
    try:
        _begin(conn, statement_timeout_ms)
        server = conn.execute(load_sql("introspect/00_server.sql"), params).fetchone()
        queries += 2
        assert server is not None
        (database, server_version, version_num, taken_at, stats_reset, schemas, pgss_schema,
         relations, reserved_words, quote_all) = server
        snap = model.Snapshot(target_db=target_db, database=database, server_version=server_version,
                              server_version_num=version_num, taken_at=taken_at,
                              stats_reset=stats_reset, schemas=list(schemas))
        holes = _version_columns(version_num)
        use_parallel = parallel if parallel is not None else (
            second_dsn is not None and relations > PARALLEL_THRESHOLD)
        reader = _Reader(params, holes, Quoter(reserved_words, quote_all), checkdefs)
        if use_parallel and second_dsn is not None:
            snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            queries += 1
            for _ in GROUPS[1:]:
                helper = connect(second_dsn, purpose="target database", autocommit=False)
                helpers.append(helper)
                _begin(helper, statement_timeout_ms, snapshot_id)
                queries += 2
            errors: list[BaseException] = []

            def work(helper: psycopg.Connection, attrs: tuple[str, ...]) -> None:
                try:
                    reader.run(helper, attrs)
                except BaseException as exc:  # noqa: BLE001  (re-raised in the caller)
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(h, g), name=f"heal-snapshot-{i + 1}")
                       for i, (h, g) in enumerate(zip(helpers, GROUPS[1:], strict=True))]
            for t in threads:
                t.start()
            try:
                reader.run(conn, GROUPS[0])
                queries += read_maintenance(conn, snap, exclude_schemas)
            finally:
                for t in threads:
                    t.join()
            if errors:
                raise errors[0]
        else:
            for group in GROUPS:
                reader.run(conn, group)
            queries += read_maintenance(conn, snap, exclude_schemas)
        queries += len(QUERIES) + reader.queries
        for attr, objs in reader.built.items():
            setattr(snap, attr, objs)
        sum_index_scans(snap.tables, snap.indexes)
        unspelt_cons, unspelt_idx = reader.unspelt_constraints, reader.unspelt_indexes
        # what heal could not spell (a column the columns query did not see; for indexes also a
        # non-default opclass or collation): the server spells it, same snapshot
        for unspelt, ask in ((unspelt_cons, "SELECT x::int8, pg_get_constraintdef(x) FROM unnest(%s::oid[]) AS x"),
                             (unspelt_idx, "SELECT x::int8, pg_get_indexdef(x) FROM unnest(%s::oid[]) AS x")):
            if unspelt:
                defs = dict(conn.execute(ask, ([o for o, _ in unspelt],)).fetchall())
                queries += 1
                for oid, obj in unspelt:
                    obj.definition = defs.get(oid) or ""

        if pgss_schema is None:
            snap.pg_stat_statements = "not_installed"
        else:
            conn.execute("SAVEPOINT heal_pgss")
            try:
                q = load_query("introspect/10_statements.sql",
                               pgss=sql.Identifier(pgss_schema, "pg_stat_statements"))
                rows = conn.execute(q, {"limit": STATEMENT_LIMIT}).fetchall()
                queries += 1
                snap.statements = [model.StatementStat(*r) for r in rows]
                snap.pg_stat_statements = "ok"
            except psycopg.Error as exc:
                conn.execute("ROLLBACK TO SAVEPOINT heal_pgss")
                msg = first_line(exc)
                if "shared_preload_libraries" in msg:
                    snap.pg_stat_statements = "not_preloaded"
                elif getattr(exc, "sqlstate", None) == "42501":
                    snap.pg_stat_statements = f"no_permission: {msg}"
                else:
                    snap.pg_stat_statements = f"error: {msg}"
                snap.unavailable["statements"] = msg
        conn.rollback()  # read-only: nothing to keep
    except psycopg.errors.QueryCanceled as exc:
        _safe_rollback(conn)
        raise HealError(f"schema snapshot timed out after {statement_timeout_ms} ms: "
                        f"{first_line(exc)}") from None
    except psycopg.Error as exc:
        _safe_rollback(conn)
        raise HealError(f"schema snapshot failed: {first_line(exc)}") from None
    finally:
        for helper in helpers:
            _safe_rollback(helper)
            helper.close()
    snap.query_count = queries
    return snap


def _safe_rollback(conn: psycopg.Connection) -> None:
    try:
        conn.rollback()
    except psycopg.Error:
        pass


__all__ = ["Any", "snapshot_from_connection", "take_snapshot"]
