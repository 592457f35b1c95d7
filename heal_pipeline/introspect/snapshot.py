"""Take a :class:`~heal_pipeline.model.Snapshot` of a PostgreSQL database.

A constant number of catalog queries (the files under ``sql/introspect/``), whatever the number of
tables, all inside one read-only REPEATABLE READ transaction so the parts agree with each other and
nothing can be written to the target. Only catalog read access is needed: a read-only role is enough.
What cannot be read (pg_stat_statements not preloaded, no permission, a timeout) is recorded in
``Snapshot.unavailable`` and never reported as clean.

Large catalogs (more than ``PARALLEL_THRESHOLD`` relations) are read over two connections that share
one exported snapshot (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``), so the two halves of the
queries run on two server cores and still see exactly the same catalog state.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import psycopg
from psycopg import sql

from .. import model
from ..config import HEAL_SCHEMAS, database_name
from ..db import connect, load_query, load_sql
from ..errors import HealError, first_line
from .constraintdef import spell_constraint
from .indexdef import Quoter, spell
from .maintenance import read_maintenance  # issue 15: vacuum/analyze/sequence/xid facts

# (attribute, query file, model class); SELECT lists follow the dataclass field order.
# Two halves of about equal server cost on a large catalog (10,000 tables, cold caches: columns ≈ 550 ms,
# constraints ≈ 480, indexes ≈ 350, maintenance ≈ 190, tables ≈ 100); part A's connection also reads
# the maintenance facts while part B runs.
PART_A: tuple[tuple[str, str, type], ...] = (
    ("columns", "introspect/02_columns.sql", model.Column),
    ("tables", "introspect/01_tables.sql", model.Table),
    ("views", "introspect/05_views.sql", model.View),
    ("view_dependencies", "introspect/06_view_dependencies.sql", model.ViewDependency),
    ("functions", "introspect/07_functions.sql", model.Function),
)
PART_B: tuple[tuple[str, str, type], ...] = (
    ("constraints", "introspect/03_constraints.sql", model.Constraint),
    ("indexes", "introspect/04_indexes.sql", model.Index),
    ("triggers", "introspect/08_triggers.sql", model.Trigger),
    ("extensions", "introspect/09_extensions.sql", model.Extension),
    ("opclasses", "introspect/11_opclasses.sql", None),
)
_COMPOSED = {"introspect/01_tables.sql", "introspect/03_constraints.sql", "introspect/04_indexes.sql"}
STATEMENT_LIMIT = 1000
PARALLEL_THRESHOLD = 3000  # relations (tables + indexes + views) before a second connection pays off


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
    conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', '5s', true)",
                 (str(statement_timeout_ms),))


def _run_parts(conn: psycopg.Connection, parts, params: dict, holes: dict) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {}
    with conn.cursor() as cur:
        for attr, path, _typ in parts:
            q = load_query(path, **holes) if path in _COMPOSED else load_sql(path)
            cur.execute(q, params)
            names = [d.name for d in cur.description or []]
            out[attr] = (names, cur.fetchall())
    return out


def _check_order(typ: type, names: list[str]) -> None:
    fields = [f.name for f in dataclasses.fields(typ)]
    if names != fields[: len(names)]:
        raise HealError(f"internal: catalog query columns {names} do not match {typ.__name__} fields")


def _known(names: dict[int, str], attnums) -> list[str] | None:
    """Column names of ``attnums``, or None when one is not in the columns query (server spells it)."""
    out = []
    for n in attnums or ():
        name = names.get(n)
        if name is None:
            return None
        out.append(name)
    return out


def _build(raw: dict[str, tuple[list, list]], quote: Quoter | None = None,
           unspelt: list[tuple[int, model.Index]] | None = None,
           unspelt_constraints: list[model.Constraint] | None = None) -> dict[str, list]:
    """Rows (tuples) → model objects; attnum/opclass-oid arrays → names; plain index definitions
    spelt (indexdef.py). Indexes that could not be spelt are appended to ``unspelt`` as (oid, index)."""
    quote = quote or Quoter(())
    built: dict[str, list] = {}
    opclass = {oid: name for oid, name in raw["opclasses"][1]}

    names, rows = raw["columns"]
    _check_order(model.Column, names)
    columns = [model.Column(*r) for r in rows]  # ordered by (relation oid, attnum) in SQL
    built["columns"] = columns
    by_rel: dict[tuple[str, str], dict[int, str]] = {}
    for c in columns:
        m = by_rel.get((c.schema, c.table))
        if m is None:
            m = by_rel[(c.schema, c.table)] = {}
        m[c.position] = c.name
    empty: dict[int, str] = {}

    def named(schema, table, attnums, expr_none=False) -> tuple:
        if not attnums:
            return ()
        m = by_rel.get((schema, table), empty)
        if expr_none:
            return tuple(None if n == 0 else m.get(n, f"#{n}") for n in attnums)
        if len(attnums) == 1:
            n = attnums[0]
            return (m.get(n, f"#{n}"),)
        return tuple(m.get(n, f"#{n}") for n in attnums)

    for attr, typ in (("tables", model.Table), ("views", model.View),
                      ("view_dependencies", model.ViewDependency), ("functions", model.Function),
                      ("triggers", model.Trigger), ("extensions", model.Extension)):
        names, rows = raw[attr]
        _check_order(typ, names)
        built[attr] = [typ(*r) for r in rows]

    names, rows = raw["constraints"]
    nf = names.index("_match")  # the trailing columns are not Constraint fields
    _check_order(model.Constraint, names[:nf])
    ci, ri = names.index("columns"), names.index("ref_columns")
    rs, rt = names.index("ref_schema"), names.index("ref_table")
    di, ki = names.index("definition"), names.index("kind")
    oui, odi, dfi, vi = (names.index("on_update"), names.index("on_delete"), names.index("deferrable"),
                         names.index("validated"))
    cons = []
    for r in rows:
        match, deferred, ref_visible, nnd = r[nf:nf + 4]
        r = list(r[:nf])
        attnums, ref_attnums = r[ci], r[ri]
        r[ci] = named(r[0], r[1], attnums)
        r[ri] = named(r[rs], r[rt], ref_attnums)
        if r[di] is None:
            r[di] = spell_constraint(
                quote, kind=r[ki], columns=_known(by_rel.get((r[0], r[1]), empty), attnums),
                ref_columns=_known(by_rel.get((r[rs], r[rt]), empty), ref_attnums),
                ref_schema=r[rs], ref_table=r[rt], ref_visible=ref_visible, match=match,
                on_update=r[oui], on_delete=r[odi], deferrable=r[dfi], deferred=deferred,
                validated=r[vi], nulls_not_distinct=nnd)
        c = model.Constraint(*r)
        if c.definition is None:
            if unspelt_constraints is None:
                raise HealError(f"internal: constraint {c.schema}.{c.name} has no definition")
            unspelt_constraints.append(c)
        cons.append(c)
    built["constraints"] = cons

    names, rows = raw["indexes"]
    nf = names.index("_oid")  # the trailing columns are not Index fields
    _check_order(model.Index, names[:nf])
    ci, oi, di = names.index("columns"), names.index("opclasses"), names.index("definition")
    mi, ki, pi, ui = (names.index("method"), names.index("key_count"), names.index("predicate"),
                      names.index("is_unique"))
    idx = []
    for r in rows:
        oid, options, partitioned, nnd = r[nf:nf + 4]
        r = list(r[:nf])
        attnums = r[ci]
        r[ci] = named(r[0], r[1], attnums, expr_none=True)
        r[oi] = tuple(opclass.get(o, str(o)) for o in r[oi] or ())
        if r[di] is None:
            r[di] = spell(quote, schema=r[0], table=r[1], name=r[2], method=r[mi], attnums=attnums or (),
                          key_count=r[ki], options=options or (), is_unique=r[ui],
                          partitioned=partitioned, nulls_not_distinct=nnd, predicate=r[pi],
                          column_names=by_rel.get((r[0], r[1]), empty))
        ix = model.Index(*r)
        if ix.definition is None:
            if unspelt is None:
                raise HealError(f"internal: index {ix.schema}.{ix.name} has no definition")
            unspelt.append((oid, ix))
        idx.append(ix)
    built["indexes"] = idx
    # table-level index scan counters, as pg_stat_all_tables would sum them
    scans: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], str] = {}
    for i in idx:
        k = (i.schema, i.table)
        scans[k] = scans.get(k, 0) + (i.idx_scan or 0)
        if i.last_idx_scan and (k not in last or i.last_idx_scan > last[k]):
            last[k] = i.last_idx_scan
    for t in built["tables"]:
        k = (t.schema, t.name)
        if k in scans:
            t.idx_scan = scans[k]
            t.last_idx_scan = last.get(k)
    return built


def take_snapshot(dsn: str, *, target_db: str | None = None,
                  exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                  statement_timeout_ms: int = 120_000, parallel: bool | None = None) -> model.Snapshot:
    """Connect to ``dsn`` and read the whole catalog. Raises :class:`HealError` on failure."""
    conn = connect(dsn, purpose="target database", autocommit=False)
    try:
        return snapshot_from_connection(conn, target_db=target_db or database_name(dsn),
                                        exclude_schemas=exclude_schemas,
                                        statement_timeout_ms=statement_timeout_ms,
                                        second_dsn=dsn, parallel=parallel)
    finally:
        conn.close()


def snapshot_from_connection(conn: psycopg.Connection, *, target_db: str,
                             exclude_schemas: tuple[str, ...] = HEAL_SCHEMAS,
                             statement_timeout_ms: int = 120_000, second_dsn: str | None = None,
                             parallel: bool | None = None) -> model.Snapshot:
    params = {"exclude": list(exclude_schemas)}
    queries = 0
    helper: psycopg.Connection | None = None
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
        raw: dict[str, tuple[list, list]] = {}
        if use_parallel and second_dsn is not None:
            snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            helper = connect(second_dsn, purpose="target database", autocommit=False)
            _begin(helper, statement_timeout_ms, snapshot_id)
            errors: list[BaseException] = []
            result_b: dict = {}

            def work_b() -> None:
                try:
                    result_b.update(_run_parts(helper, PART_B, params, holes))
                except BaseException as exc:  # noqa: BLE001  (re-raised in the caller)
                    errors.append(exc)

            t = threading.Thread(target=work_b, name="heal-snapshot-b")
            t.start()
            try:
                raw.update(_run_parts(conn, PART_A, params, holes))
                queries += read_maintenance(conn, snap, exclude_schemas)
            finally:
                t.join()
            if errors:
                raise errors[0]
            raw.update(result_b)
            queries += 4
        else:
            raw.update(_run_parts(conn, PART_A + PART_B, params, holes))
            queries += read_maintenance(conn, snap, exclude_schemas)
        queries += len(PART_A) + len(PART_B)
        unspelt: list[tuple[int, model.Index]] = []
        unspelt_cons: list[model.Constraint] = []
        for attr, objs in _build(raw, Quoter(reserved_words, quote_all), unspelt, unspelt_cons).items():
            setattr(snap, attr, objs)
        if unspelt_cons:  # a column the columns query did not see: the server spells it (same snapshot)
            defs = dict(conn.execute(
                "SELECT n.nspname || '.' || c.relname || '.' || con.conname, pg_get_constraintdef(con.oid)"
                "  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid"
                "  JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE (n.nspname, c.relname, con.conname) IN"
                "       (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                ([c.schema for c in unspelt_cons], [c.table for c in unspelt_cons],
                 [c.name for c in unspelt_cons])).fetchall())
            for c in unspelt_cons:
                c.definition = defs.get(f"{c.schema}.{c.table}.{c.name}") or ""
        if unspelt:  # a name the columns query did not see: the server spells it (same snapshot)
            defs = dict(conn.execute("SELECT x, pg_get_indexdef(x) FROM unnest(%s::oid[]) AS x",
                                     ([o for o, _ in unspelt],)).fetchall())
            for oid, ix in unspelt:
                ix.definition = defs.get(oid) or ""

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
        if helper is not None:
            _safe_rollback(helper)
            helper.close()
    snap.query_count = queries
    return snap


def _safe_rollback(conn: psycopg.Connection) -> None:
    try:
        conn.rollback()
    except psycopg.Error:
        pass


__all__ = ["take_snapshot", "snapshot_from_connection", "Any"]
