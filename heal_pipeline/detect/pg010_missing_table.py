"""missing_table / missing_column: named by the code's SQL or by failed queries, absent from the DB."""

from __future__ import annotations

from typing import Iterable

from ..codescan.sql import HOLE_PREFIX
from ..model import Issue
from .base import Check, DetectContext, register
from .coderefs import orm_tables, resolver
from .migrations import find_column, find_table, refused_fks, scan_migrations

MAX_REFS = 20


def migration_defs(ctx: DetectContext):
    def build():
        defs, problems = scan_migrations(list(ctx.migrations_dirs))
        for p in problems:
            ctx.not_checked("migrations", f"{p['file']}: {p['reason']}")
        return defs
    return ctx.memo("migrations", build)


def code_definitions(ctx: DetectContext) -> dict:
    """Relations the application's own SQL creates: name -> [(statement, DdlTarget)], first first.

    ``CREATE TABLE``/``VIEW``/``… AS``/``SELECT … INTO`` in code is a *definition* (like a migration),
    never a reference; a temporary one is session-local and can never be in a snapshot."""
    def build():
        out: dict[str, list] = {}
        for st in (ctx.code.statements if ctx.code is not None else ()):
            for d in getattr(st, "ddl", None) or ():
                if d.action == "create":
                    out.setdefault(d.name, []).append((st, d))
        return out
    return ctx.memo("code_definitions", build)


def _code_definition(defs: dict, schema: str, table: str, default_schema: str):
    """The first non-temporary definition in code of ``schema.table``: (statement, target) or None."""
    for st, d in defs.get(table, ()):
        if not d.temporary and (d.schema or default_schema) == schema:
            return st, d
    return None


def _created_temp(defs: dict, ref_schema: str | None, name: str) -> bool:
    return ref_schema in (None, "pg_temp") and any(d.temporary for _st, d in defs.get(name, ()))


def _single_create(sql: str, table: str) -> str | None:
    """The ``CREATE TABLE`` of ``table`` cut out of a (possibly multi-statement) code SQL text."""
    from pglast import ast as pg_ast, parse_sql  # noqa: PLC0415
    from pglast.parser import ParseError  # noqa: PLC0415

    try:
        stmts = parse_sql(sql)
    except ParseError:
        return None
    for raw in stmts:
        if isinstance(raw.stmt, pg_ast.CreateStmt) and raw.stmt.relation.relname == table \
                and raw.stmt.relation.relpersistence != "t":
            start = raw.stmt_location or 0
            return sql[start:start + (raw.stmt_len or len(sql) - start)].strip()
    return None


def _ref_types(ctx: DetectContext):
    """(schema, table, column) -> the column's type in the database; column None -> its PK columns."""
    snap = ctx.snapshot
    types = {(c.schema, c.table, c.name): c.data_type for c in snap.columns}
    pks = {(c.schema, c.table): tuple(c.columns) for c in snap.constraints if c.kind == "primary_key"}

    def get(schema: str, table: str, column: str | None):
        if column is None:
            return pks.get((schema, table))
        return types.get((schema, table, column))
    return get


def _column_type(create_sql: str, column: str) -> str | None:
    """The type of ``column`` in a single ``CREATE TABLE`` text, as written."""
    from pglast import ast as pg_ast, parse_sql  # noqa: PLC0415

    from .migrations import _type_name  # noqa: PLC0415

    try:
        st = parse_sql(create_sql)[0].stmt
    except Exception:  # noqa: BLE001 - a definition heal cannot read is no definition
        return None
    for elt in getattr(st, "tableElts", None) or ():
        if isinstance(elt, pg_ast.ColumnDef) and elt.colname == column:
            return _type_name(elt.typeName)
    return None


def failed_references(ctx: DetectContext) -> list[dict]:
    """Missing objects diagnosed from failed queries (42P01 / 42703), via the log module."""
    def build():
        if not ctx.failed:
            return []
        from ..logs import diagnose  # the log reader's SQLSTATE diagnosis

        out = []
        for fq in ctx.failed:
            d = diagnose(fq)
            if d.get("kind") in ("missing_table", "missing_column"):
                out.append({**d, "sqlstate": fq.sqlstate, "count": fq.count,
                            "statement": (fq.statement or "")[:500]})
        return out
    return ctx.memo("failed_refs", build)


@register
class MissingTable(Check):
    """A table the application's SQL (or a failed query) uses that does not exist in the database.

    CTE names, aliases, set-returning functions, system catalogs (``pg_*``, ``information_schema``)
    and schemas heal does not examine are never reported; neither are relations the code itself
    creates or drops (its ``CREATE TABLE``/``VIEW``/``DROP … IF EXISTS`` are definitions, see
    ``SqlStatement.ddl``), temporary tables the code creates, names composed at run time, nor SQL
    the code attributes to another engine (``if db.is_sqlite:``). The fix creates the table from
    the project's migration files when a ``CREATE TABLE`` exists there, else from the code's own
    ``CREATE TABLE`` ("defined in code at file:line"), else from a definition inferred from the code
    (flagged as inferred, approval required). A migration whose FK PostgreSQL refuses for its types
    (42804) is named as the reason the table does not exist (``evidence.refused_fks``).

    Anti-pattern::

        await conn.fetch("SELECT * FROM billing.refunds WHERE invoice_id = $1", inv)  # never migrated

    Best practice::

        -- apply the migration that defines it (migrations/0042_add_refunds.sql)
    """

    issue_type = "missing_table"
    code = "PG010"
    name = "schema.missing_table"
    severity = "critical"
    fixable = True
    needs = ("snapshot", "code", "log")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        r = resolver(ctx)
        missing: dict[tuple[str, str], dict] = {}
        in_code = code_definitions(ctx)
        if ctx.code is None:
            ctx.not_checked("missing_table", "code not scanned")
        else:
            for st in ctx.code.statements:
                if st.parse_error:
                    continue
                for t in st.tables:
                    if r.ignorable(t.schema, t.name) or r.table(t.schema, t.name) is not None:
                        continue
                    if HOLE_PREFIX in t.name or HOLE_PREFIX in (t.schema or ""):
                        continue  # a name composed at run time (f"{schema}.users"): unknowable
                    if _created_temp(in_code, t.schema, t.name):
                        continue  # a temporary table the code creates: session-local
                    key = r.expected(t.schema, t.name)
                    m = missing.setdefault(key, {"references": [], "columns": {}})
                    if len(m["references"]) < MAX_REFS:
                        m["references"].append({"file": st.file, "line": st.line})
                    for c in st.columns:
                        if c.table == t.name and c.column != "*":
                            m["columns"].setdefault(c.column, None)
                    for b in st.params:
                        if b.table == t.name and b.column and b.cast:
                            m["columns"][b.column] = b.cast
                    for cast in st.casts:
                        if cast.table == t.name and cast.column:
                            m["columns"][cast.column] = cast.target_type
            for schema, name, f in orm_tables(ctx.code):
                if r.ignorable(schema, name) or r.table(schema, name) is not None:
                    continue
                m = missing.setdefault(r.expected(schema, name), {"references": [], "columns": {}})
                if len(m["references"]) < MAX_REFS:
                    m["references"].append({"file": f.file, "line": f.line, "via": f.evidence.get("via")})
        for ref in failed_references(ctx):
            if ref["kind"] != "missing_table" or r.ignorable(ref.get("schema"), ref["table"]):
                continue
            if r.table(ref.get("schema"), ref["table"]) is not None:
                continue  # created since the failure
            key = r.expected(ref.get("schema"), ref["table"])
            m = missing.setdefault(key, {"references": [], "columns": {}})
            m["references"].append({"sqlstate": ref["sqlstate"], "count": ref["count"],
                                    "statement": ref["statement"]})
        defs = migration_defs(ctx) if missing else []
        default = ctx.thresholds.search_path[0]
        for (schema, table), m in sorted(missing.items()):
            d = find_table(defs, schema, table, default)
            mig = {"file": d.file, "line": d.line, "sql": d.sql} if d else None
            coded = _code_definition(in_code, schema, table, default)
            code_def = None
            if coded is not None:
                cst, target = coded
                code_def = {"file": cst.file, "line": cst.line, "kind": target.kind, "sql": cst.sql[:2000],
                            "conditional": target.conditional}
                one = _single_create(cst.sql, table) if target.kind == "table" and not cst.dynamic else None
                if mig is None and one is not None:
                    # the code's own CREATE TABLE is the definition a fix can use (like a migration's)
                    mig = {"file": cst.file, "line": cst.line, "sql": one, "source": "code"}
            refused = refused_fks(defs, d, _ref_types(ctx), default) if d else []
            if refused:
                mig["refused"] = refused  # running this definition fails again with 42804
            n = len(m["references"])
            where = ", ".join(f"{x['file']}:{x['line']}" for x in m["references"][:3] if "file" in x)
            if refused:
                reason = (f"migration {d.file}:{d.line} defines it, but PostgreSQL refuses that CREATE TABLE "
                          "(42804, foreign key constraint cannot be implemented): "
                          + "; ".join(f"{table}.{x['column']} ({x['type']}) references {x['references']} "
                                      f"({x['referenced_type']})" for x in refused)
                          + " — so the table was never created; fix the column types in the migration")
            elif d:
                reason = f"it is defined in migration {d.file}:{d.line}"
            elif code_def:
                reason = (f"it is defined in code at {code_def['file']}:{code_def['line']} "
                          f"(CREATE {target.kind.upper()}{' IF NOT EXISTS' if target.conditional else ''}"
                          ", not run on this database yet)")
            else:
                reason = "no migration defines it (a definition can be inferred from the code)"
            ev = {"references": m["references"],
                  "columns": [{"name": k, "type": v} for k, v in m["columns"].items()],
                  "migration": mig}
            if code_def:
                ev["defined_in_code"] = code_def
            if refused:
                ev["refused_fks"] = refused
            yield ctx.issue(
                "missing_table", self.severity,
                f"table {schema}.{table} is used by the application ({n} reference(s)"
                f"{': ' + where if where else ''}) but does not exist; " + reason,
                schema_name=schema, table_name=table, evidence=ev)


@register
class MissingColumn(Check):
    """A column the application's SQL (or a failed query) uses on a table that lacks it.

    Columns are resolved through aliases to their table; ambiguous unqualified columns are not
    guessed. The fix adds the column (nullable, no volatile default) with the type from the
    migration files, or inferred from the code.

    Anti-pattern::

        SELECT u.last_login_at FROM users u   -- the migration adding it never ran

    Best practice::

        ALTER TABLE users ADD COLUMN last_login_at timestamptz;  -- from migrations/0043_…sql
    """

    issue_type = "missing_column"
    code = "PG011"
    name = "schema.missing_column"
    severity = "critical"
    fixable = True
    needs = ("snapshot", "code", "log")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        r = resolver(ctx)
        missing: dict[tuple[str, str, str], dict] = {}
        if ctx.code is None:
            ctx.not_checked("missing_column", "code not scanned")
        else:
            for st in ctx.code.statements:
                if st.parse_error:
                    continue
                for c in st.columns:
                    if c.table is None or c.column == "*" or r.ignorable(c.schema, c.table):
                        continue
                    rel = r.table(c.schema, c.table)
                    if rel is None or r.has_column(rel, c.column):
                        continue
                    m = missing.setdefault((rel[0], rel[1], c.column), {"references": [], "type": None})
                    if len(m["references"]) < MAX_REFS:
                        m["references"].append({"file": st.file, "line": st.line})
                    for b in st.params:
                        if b.table == c.table and b.column == c.column and b.cast:
                            m["type"] = b.cast
        for ref in failed_references(ctx):
            if ref["kind"] != "missing_column" or not ref.get("table"):
                continue
            rel = r.table(ref.get("schema"), ref["table"])
            if rel is None or r.has_column(rel, ref["column"]):
                continue
            m = missing.setdefault((rel[0], rel[1], ref["column"]), {"references": [], "type": None})
            m["references"].append({"sqlstate": ref["sqlstate"], "count": ref["count"],
                                    "statement": ref["statement"]})
        defs = migration_defs(ctx) if missing else []
        default = ctx.thresholds.search_path[0]
        in_code = code_definitions(ctx) if missing else {}
        for (schema, table, column), m in sorted(missing.items()):
            d = find_column(defs, schema, table, column, default)
            mig = {"file": d.file, "line": d.line, "sql": d.sql} if d else None
            col_type = d.column_type if d else None
            where = f"; migration {d.file}:{d.line} defines it as {d.column_type}" if d else ""
            ev: dict = {}
            coded = _code_definition(in_code, schema, table, default)
            if coded is not None and not coded[0].dynamic:
                one = _single_create(coded[0].sql, table)
                ctype = _column_type(one, column) if one else None
                if ctype is not None:
                    # the code's own CREATE TABLE IF NOT EXISTS defines it (the table predates it)
                    ev["defined_in_code"] = {"file": coded[0].file, "line": coded[0].line, "sql": one,
                                             "type": ctype}
                    if mig is None:
                        mig = {"file": coded[0].file, "line": coded[0].line, "sql": one, "source": "code"}
                        col_type = ctype
                        where = f"; it is defined in code at {coded[0].file}:{coded[0].line} as {ctype}"
            yield ctx.issue(
                "missing_column", self.severity,
                f"column {schema}.{table}.{column} is used by the application "
                f"({len(m['references'])} reference(s)) but does not exist" + where,
                schema_name=schema, table_name=table, column_name=column,
                evidence={"references": m["references"],
                          "inferred_type": col_type or m["type"], "migration": mig, **ev})
