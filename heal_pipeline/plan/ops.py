"""Every SQL statement the fixer can run, as a named builder over plain JSON arguments.

A :class:`~heal_pipeline.model.FixStep` carries ``op`` (a name below) and ``args`` (strings, lists,
numbers); :func:`compose` turns them into a ``psycopg.sql`` object. Identifiers are always
``sql.Identifier``, values ``sql.Literal`` or bound parameters; nothing is ever formatted into a SQL
string. The rendered text stored in ``FixStep.sql`` is for display and audit only — rollback rebuilds
the statement from ``op``/``args`` again (so a tampered audit row cannot inject SQL).

Three inputs are SQL fragments by nature and are accepted only after a round trip through the real
PostgreSQL parser (pglast), re-rendered by its deparser:

* type names (``type_sql``): parsed as ``SELECT NULL::<type>``; exactly one type cast of NULL;
* a ``CREATE TABLE`` from the project's migrations (``create_table_from_definition``): exactly one
  ``CreateStmt``, schema replaced;
* an index definition saved from ``pg_get_indexdef`` (``create_index_from_definition``): exactly one
  ``IndexStmt``, forced ``CONCURRENTLY``.
"""

from __future__ import annotations

from typing import Any, Callable

from psycopg import sql

from ..errors import HealError

OPS: dict[str, Callable[..., sql.Composable]] = {}


def op(name: str):
    def register(fn):
        OPS[name] = fn
        return fn
    return register


class UnsafeInput(HealError):
    """An argument that cannot be turned into safe SQL (rejected, never executed)."""


def compose(name: str, args: dict[str, Any], **extra: Any) -> sql.Composable:
    try:
        fn = OPS[name]
    except KeyError:
        raise UnsafeInput(f"unknown fix operation {name!r}") from None
    return fn(**args, **extra)


def compose_step(step) -> sql.Composable:
    """The executable statement of a FixStep (built from ``op``/``args`` when not cached)."""
    if step.composed is None:
        if not step.op:
            raise UnsafeInput(f"step {step.description!r} has no operation")
        step.composed = compose(step.op, step.args)
    return step.composed


# --------------------------------------------------------------------------------------
# identifiers and types
# --------------------------------------------------------------------------------------


def ident(*parts: str) -> sql.Identifier:
    for p in parts:
        if not isinstance(p, str) or not p:
            raise UnsafeInput(f"bad identifier {p!r}")
        if "\x00" in p:
            raise UnsafeInput("identifier contains a NUL byte")
        if len(p.encode()) > 63:
            raise UnsafeInput(f"identifier longer than 63 bytes: {p[:20]!r}…")
    return sql.Identifier(*parts)


def idents(names: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(ident(n) for n in names)


def canonical_type(text: str) -> str:
    """A type name re-rendered by PostgreSQL's parser; raises :class:`UnsafeInput` otherwise."""
    from pglast import ast, parse_sql
    from pglast.stream import RawStream

    if not isinstance(text, str) or not text.strip() or len(text) > 200 or "\x00" in text:
        raise UnsafeInput(f"bad type name {text!r}")
    try:
        stmts = parse_sql(f"SELECT NULL::{text}")
    except Exception:  # noqa: BLE001 - any parser error means: not a type name
        raise UnsafeInput(f"not a type name: {text!r}") from None
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.SelectStmt):
        raise UnsafeInput(f"not a type name: {text!r}")
    s = stmts[0].stmt
    tl = s.targetList or ()
    if (len(tl) != 1 or s.fromClause or s.whereClause or not isinstance(tl[0].val, ast.TypeCast)
            or not isinstance(tl[0].val.arg, ast.A_Const) or not tl[0].val.arg.isnull):
        raise UnsafeInput(f"not a type name: {text!r}")
    tn = tl[0].val.typeName
    if tn.setof or tn.pct_type:
        raise UnsafeInput(f"not a plain type name: {text!r}")
    return RawStream()(tn)


def type_sql(text: str) -> sql.Composable:
    # the text comes out of pglast's deparser for a lone TypeName node: identifiers quoted by it
    return sql.SQL(canonical_type(text))  # type: ignore[arg-type]


def qualified(schema: str, table: str) -> sql.Identifier:
    return ident(schema, table)


# --------------------------------------------------------------------------------------
# schemas, tables, columns
# --------------------------------------------------------------------------------------


@op("create_schema")
def create_schema(schema: str) -> sql.Composable:
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(schema))


@op("add_column")
def add_column(schema: str, table: str, column: str, type: str) -> sql.Composable:  # noqa: A002
    return sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
        qualified(schema, table), ident(column), type_sql(type))


@op("drop_column")
def drop_column(schema: str, table: str, column: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(qualified(schema, table), ident(column))


@op("rename_column")
def rename_column(schema: str, table: str, column: str, to: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
        qualified(schema, table), ident(column), ident(to))


@op("alter_column_type")
def alter_column_type(schema: str, table: str, column: str, type: str) -> sql.Composable:  # noqa: A002
    t = type_sql(type)
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
        qualified(schema, table), ident(column), t, ident(column), t)


@op("set_not_null")
def set_not_null(schema: str, table: str, column: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(qualified(schema, table), ident(column))


@op("set_schema")
def set_schema(schema: str, table: str, to_schema: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(qualified(schema, table), ident(to_schema))


@op("rename_table")
def rename_table(schema: str, table: str, to: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} RENAME TO {}").format(qualified(schema, table), ident(to))


@op("create_table")
def create_table(schema: str, table: str, columns: list[list[str]]) -> sql.Composable:
    if not columns:
        raise UnsafeInput("a table needs at least one column")
    cols = sql.SQL(", ").join(sql.SQL("{} {}").format(ident(n), type_sql(t)) for n, t in columns)
    return sql.SQL("CREATE TABLE {} ({})").format(qualified(schema, table), cols)


def _one_stmt(text: str, kind: str):
    from pglast import parse_sql

    if not isinstance(text, str) or "\x00" in text:
        raise UnsafeInput(f"bad {kind} definition")
    try:
        stmts = parse_sql(text)
    except Exception as exc:  # noqa: BLE001
        raise UnsafeInput(f"{kind} definition does not parse: {str(exc).splitlines()[0]}") from None
    if len(stmts) != 1:
        raise UnsafeInput(f"{kind} definition must be exactly one statement, got {len(stmts)}")
    return stmts[0].stmt


def checked_create_table(definition: str, schema: str) -> str:
    """Parse a CREATE TABLE, put it in ``schema``, re-render it. Anything else is rejected."""
    from pglast import ast
    from pglast.stream import RawStream

    ident(schema)
    stmt = _one_stmt(definition, "CREATE TABLE")
    if not isinstance(stmt, ast.CreateStmt):
        raise UnsafeInput(f"only CREATE TABLE is allowed here, got {type(stmt).__name__}")
    if stmt.relation.relpersistence == "t":
        raise UnsafeInput("refusing to create a temporary table")
    if stmt.partbound is not None or stmt.inhRelations:
        raise UnsafeInput("refusing CREATE TABLE … PARTITION OF / INHERITS (create it by hand)")
    stmt.relation.schemaname = schema
    stmt.if_not_exists = False
    return RawStream()(stmt)


@op("create_table_from_definition")
def create_table_from_definition(definition: str, schema: str) -> sql.Composable:
    return sql.SQL(checked_create_table(definition, schema))  # type: ignore[arg-type]  # deparser output


@op("drop_table")
def drop_table(schema: str, table: str) -> sql.Composable:
    # never CASCADE: a table something depends on is not dropped
    return sql.SQL("DROP TABLE {}").format(qualified(schema, table))


@op("drop_table_if_exists")
def drop_table_if_exists(schema: str, table: str) -> sql.Composable:
    # only heal's own helper tables (rejects of an expand/contract attempt); never CASCADE
    return sql.SQL("DROP TABLE IF EXISTS {}").format(qualified(schema, table))


@op("lock_exclusive")
def lock_exclusive(schema: str, table: str) -> sql.Composable:
    # inside a reverse "drop" group: nobody can write between the emptiness re-check and the drop
    return sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(qualified(schema, table))


@op("refuse_if_rows")
def refuse_if_rows(schema: str, table: str, column: str | None = None) -> sql.Composable:
    """Fails the transaction (invalid integer input naming the count) when rows — or non-NULL values of
    ``column`` — exist; the error branch is not constant, so it is only evaluated when taken."""
    counted = (sql.SQL("count({})").format(sql.Identifier(column)) if column else sql.SQL("count(*)"))
    return sql.SQL("SELECT CASE WHEN {n} = 0 THEN 0 ELSE ({n}::text || {msg})::int END FROM {t}").format(
        n=counted, t=qualified(schema, table),
        msg=sql.Literal(" row(s) were written since the fix: heal refuses to drop anything"))


@op("backup_table")
def backup_table(schema: str, table: str, backup_schema: str, backup_table: str,
                 columns: list[str] | None = None) -> sql.Composable:
    cols = idents(columns) if columns else sql.SQL("*")
    return sql.SQL("CREATE TABLE {} AS SELECT {} FROM {}").format(
        qualified(backup_schema, backup_table), cols, qualified(schema, table))


@op("restore_column_from_backup")
def restore_column_from_backup(schema: str, table: str, key: str, column: str,
                               backup_schema: str, backup_table: str) -> sql.Composable:
    return sql.SQL("UPDATE {t} AS t SET {c} = b.{c} FROM {b} AS b "
                   "WHERE t.{k} = b.{k} AND t.{c} IS DISTINCT FROM b.{c}").format(
        t=qualified(schema, table), b=qualified(backup_schema, backup_table), c=ident(column), k=ident(key))


# --------------------------------------------------------------------------------------
# indexes and constraints
# --------------------------------------------------------------------------------------


@op("create_index")
def create_index(schema: str, table: str, name: str, columns: list[str], unique: bool = False) -> sql.Composable:
    return sql.SQL("CREATE {}INDEX CONCURRENTLY {} ON {} ({})").format(
        sql.SQL("UNIQUE " if unique else ""), ident(name), qualified(schema, table), idents(columns))


def checked_index_definition(definition: str, name: str | None = None,
                             rename_columns: dict[str, str] | None = None) -> str:
    from pglast import ast
    from pglast.stream import RawStream
    from pglast.visitors import Visitor

    stmt = _one_stmt(definition, "index")
    if not isinstance(stmt, ast.IndexStmt):
        raise UnsafeInput(f"only CREATE INDEX is allowed here, got {type(stmt).__name__}")
    stmt.concurrent = True
    if name is not None:
        ident(name)
        stmt.idxname = name
    if rename_columns:
        for p in stmt.indexParams or ():
            if p.name in rename_columns:
                ident(rename_columns[p.name])
                p.name = rename_columns[p.name]
        renames = rename_columns

        class Rename(Visitor):  # column references inside expressions and the predicate
            def visit_ColumnRef(self, _ancestors, node):
                f = node.fields
                if f and isinstance(f[-1], ast.String) and f[-1].sval in renames:
                    node.fields = tuple(f[:-1]) + (ast.String(sval=renames[f[-1].sval]),)

        for p in stmt.indexParams or ():
            if p.expr is not None:
                Rename()(p.expr)
        if stmt.whereClause is not None:
            Rename()(stmt.whereClause)
    return RawStream()(stmt)


@op("create_index_from_definition")
def create_index_from_definition(definition: str, name: str | None = None,
                                 rename_columns: dict[str, str] | None = None) -> sql.Composable:
    return sql.SQL(checked_index_definition(definition, name, rename_columns))  # type: ignore[arg-type]


@op("drop_index")
def drop_index(schema: str, name: str) -> sql.Composable:
    return sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(qualified(schema, name))


@op("reindex_index")
def reindex_index(schema: str, name: str) -> sql.Composable:
    return sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(qualified(schema, name))


@op("rename_index")
def rename_index(schema: str, name: str, to: str) -> sql.Composable:
    return sql.SQL("ALTER INDEX {} RENAME TO {}").format(qualified(schema, name), ident(to))


@op("add_foreign_key")
def add_foreign_key(schema: str, table: str, constraint: str, columns: list[str], ref_schema: str,
                    ref_table: str, ref_columns: list[str]) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) NOT VALID").format(
        qualified(schema, table), ident(constraint), idents(columns), qualified(ref_schema, ref_table),
        idents(ref_columns))


@op("add_check_not_null")
def add_check_not_null(schema: str, table: str, column: str, constraint: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID").format(
        qualified(schema, table), ident(constraint), ident(column))


@op("validate_constraint")
def validate_constraint(schema: str, table: str, constraint: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(qualified(schema, table), ident(constraint))


@op("drop_constraint")
def drop_constraint(schema: str, table: str, constraint: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
        qualified(schema, table), ident(constraint))


@op("add_primary_key_using_index")
def add_primary_key_using_index(schema: str, table: str, constraint: str, index: str) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
        qualified(schema, table), ident(constraint), ident(index))


# --------------------------------------------------------------------------------------
# expand/contract type change
# --------------------------------------------------------------------------------------


def sync_body(new_column: str, old_column: str, type: str, rejects_schema: str | None = None,  # noqa: A002
              rejects_table: str | None = None, server_version_num: int = 160000) -> str:
    """The PL/pgSQL body of the sync trigger, rendered from composed parts (identifiers quoted).

    It never makes an application write fail that would have succeeded before the fix: a value that does
    not convert leaves the new column NULL and is recorded in the rejects table, which the swap checks
    (under its lock) before it commits — the fix fails, the write succeeds."""
    conv = sql.SQL("NEW.{} := NEW.{}::{};").format(ident(new_column), ident(old_column), type_sql(type))
    if rejects_schema is None or rejects_table is None:
        return sql.SQL("BEGIN {} RETURN NEW; END").format(conv).as_string(None)
    reject = sql.SQL("NEW.{} := NULL; INSERT INTO {} (value) VALUES (NEW.{}::text);").format(
        ident(new_column), qualified(rejects_schema, rejects_table), ident(old_column))
    if server_version_num >= 160000:
        body = sql.SQL("BEGIN IF NEW.{o} IS NULL OR pg_input_is_valid(NEW.{o}::text, {t}) THEN {conv} "
                       "ELSE {reject} END IF; RETURN NEW; END").format(
            o=ident(old_column), t=sql.Literal(canonical_type(type)), conv=conv, reject=reject)
    else:
        body = sql.SQL("BEGIN BEGIN {conv} EXCEPTION WHEN data_exception THEN {reject} END; RETURN NEW; END").format(
            conv=conv, reject=reject)
    return body.as_string(None)


@op("create_sync_function")
def create_sync_function(schema: str, function: str, new_column: str, old_column: str,
                         type: str, rejects_schema: str | None = None, rejects_table: str | None = None,  # noqa: A002
                         server_version_num: int = 160000) -> sql.Composable:
    # SECURITY DEFINER with a fixed search_path: the application's role needs no privilege on heal's
    # rejects table for its writes to go through
    return sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
                   "SET search_path = pg_catalog, pg_temp AS {}").format(
        qualified(schema, function), sql.Literal(sync_body(new_column, old_column, type, rejects_schema,
                                                           rejects_table, server_version_num)))


@op("create_rejects_table")
def create_rejects_table(schema: str, table: str) -> sql.Composable:
    """Where the sync trigger records values it could not convert (checked by the swap)."""
    return sql.SQL("CREATE TABLE {} (at timestamptz NOT NULL DEFAULT now(), value text)").format(
        qualified(schema, table))


@op("count_difference")
def count_difference(a_schema: str, a_table: str, b_schema: str, b_table: str) -> sql.Composable:
    return sql.SQL("SELECT (SELECT count(*) FROM {}) - (SELECT count(*) FROM {})").format(
        qualified(a_schema, a_table), qualified(b_schema, b_table))


@op("count_all")
def count_all(schema: str, table: str) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table))


@op("create_sync_trigger")
def create_sync_trigger(schema: str, table: str, trigger: str, function_schema: str,
                        function: str) -> sql.Composable:
    return sql.SQL("CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()").format(
        ident(trigger), qualified(schema, table), qualified(function_schema, function))


@op("drop_trigger")
def drop_trigger(schema: str, table: str, trigger: str) -> sql.Composable:
    return sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(ident(trigger), qualified(schema, table))


@op("drop_function")
def drop_function(schema: str, function: str) -> sql.Composable:
    return sql.SQL("DROP FUNCTION IF EXISTS {}()").format(qualified(schema, function))


@op("backfill_batch")
def backfill_batch(schema: str, table: str, key: str, new_column: str, old_column: str, type: str,  # noqa: A002
                   batch: int = 5000, first: bool = False) -> sql.Composable:
    """One keyset batch up to ``%(upto)s`` (the max key when the backfill started: later rows are
    written by the sync trigger); ``%(after)s`` is the last key of the previous batch.

    The batch is a key *range* (``after < key <= end``, ``end`` an InitPlan over the next ``batch``
    keys), so each batch is an index range scan, never a join over the whole table.
    """
    lower = sql.SQL("") if first else sql.SQL("{k} > %(after)s AND ").format(k=ident(key))
    return sql.SQL(
        "WITH moved AS (UPDATE {t} SET {new} = {old}::{ty} WHERE {lower}{k} <= %(upto)s AND {k} <= "
        "(SELECT max(b.{k}) FROM (SELECT {k} FROM {t} WHERE {lower}{k} <= %(upto)s ORDER BY {k} LIMIT {n}) AS b) "
        "RETURNING {k}) SELECT count(*), max({k}) FROM moved").format(
        k=ident(key), t=qualified(schema, table), lower=lower, n=sql.Literal(int(batch)),
        new=ident(new_column), old=ident(old_column), ty=type_sql(type))


# --------------------------------------------------------------------------------------
# orphans
# --------------------------------------------------------------------------------------


def _orphan_where(alias: str, column: str, ref_schema: str, ref_table: str, ref_column: str) -> sql.Composable:
    return sql.SQL("{a}.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {p} AS p WHERE p.{pc} = {a}.{c})").format(
        a=ident(alias), c=ident(column), p=qualified(ref_schema, ref_table), pc=ident(ref_column))


@op("create_quarantine_table")
def create_quarantine_table(q_schema: str, q_table: str, schema: str, table: str) -> sql.Composable:
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} (LIKE {})").format(
        qualified(q_schema, q_table), qualified(schema, table))


@op("move_orphans")
def move_orphans(schema: str, table: str, column: str, ref_schema: str, ref_table: str, ref_column: str,
                 q_schema: str, q_table: str, columns: list[str]) -> sql.Composable:
    """One statement, so no row can be deleted that was not copied."""
    cols = idents(columns)
    return sql.SQL("WITH moved AS (DELETE FROM {t} AS c WHERE {w} RETURNING {cc}) "
                   "INSERT INTO {q} ({cols}) SELECT {cols} FROM moved").format(
        t=qualified(schema, table), w=_orphan_where("c", column, ref_schema, ref_table, ref_column),
        cc=sql.SQL(", ").join(sql.SQL("c.{}").format(ident(n)) for n in columns),
        q=qualified(q_schema, q_table), cols=cols)


@op("restore_quarantine")
def restore_quarantine(schema: str, table: str, q_schema: str, q_table: str, columns: list[str],
                       overriding: bool = False) -> sql.Composable:
    cols = idents(columns)
    return sql.SQL("WITH back AS (DELETE FROM {q} RETURNING {cols}) INSERT INTO {t} ({cols}) {ov}"
                   "SELECT {cols} FROM back").format(
        q=qualified(q_schema, q_table), t=qualified(schema, table), cols=cols,
        ov=sql.SQL("OVERRIDING SYSTEM VALUE " if overriding else ""))


@op("backup_orphans")
def backup_orphans(schema: str, table: str, column: str, ref_schema: str, ref_table: str, ref_column: str,
                   backup_schema: str, backup_table: str) -> sql.Composable:
    return sql.SQL("CREATE TABLE {} AS SELECT c.* FROM {} AS c WHERE {}").format(
        qualified(backup_schema, backup_table), qualified(schema, table),
        _orphan_where("c", column, ref_schema, ref_table, ref_column))


# checks, measurements and the no-overwrite restore ops live in ops_checks (same registry)
from . import ops_checks  # noqa: E402,F401  (registers its ops)
