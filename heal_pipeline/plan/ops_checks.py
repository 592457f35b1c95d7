"""Fix operations, part two: checks (one row, first column compared with ``FixStep.expect``),
measurements, checksums and the no-overwrite restore. Registered in the same :data:`ops.OPS` registry."""

from __future__ import annotations

from psycopg import sql

from .ops import (UnsafeInput, _one_stmt, _orphan_where, canonical_type, ident, idents, op, qualified,  # noqa: F401
                  type_sql)


# --------------------------------------------------------------------------------------
# checks (one row, first column compared with FixStep.expect) and measurements
# --------------------------------------------------------------------------------------


@op("count_rows")
def count_rows(schema: str, table: str) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table))


@op("count_orphans")
def count_orphans(schema: str, table: str, column: str, ref_schema: str, ref_table: str,
                  ref_column: str) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {} AS c WHERE {}").format(
        qualified(schema, table), _orphan_where("c", column, ref_schema, ref_table, ref_column))


@op("sample_orphans")
def sample_orphans(schema: str, table: str, column: str, ref_schema: str, ref_table: str,
                   ref_column: str, limit: int = 5) -> sql.Composable:
    return sql.SQL("SELECT DISTINCT c.{}::text FROM {} AS c WHERE {} LIMIT {}").format(
        ident(column), qualified(schema, table), _orphan_where("c", column, ref_schema, ref_table, ref_column),
        sql.Literal(int(limit)))


# fallback conversion tests for servers without pg_input_is_valid (PostgreSQL < 16)
_FALLBACK_PATTERNS = {
    "smallint": r"^\s*[-+]?[0-9]{1,5}\s*$",
    "integer": r"^\s*[-+]?[0-9]{1,10}\s*$",
    "bigint": r"^\s*[-+]?[0-9]{1,19}\s*$",
    "numeric": r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$",
    "uuid": r"^\s*\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?\s*$",
    "text": r"",
    "boolean": r"^\s*(t|f|true|false|yes|no|on|off|1|0|y|n)\s*$",
}


def fallback_pattern(type: str) -> str | None:  # noqa: A002
    base = canonical_type(type).split("(")[0].strip()
    base = {"int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
            "varchar": "text", "character varying": "text", "bool": "boolean"}.get(base, base)
    return _FALLBACK_PATTERNS.get(base)


def _not_convertible(column: str, type: str, server_version_num: int) -> sql.Composable:  # noqa: A002
    if server_version_num >= 160000:
        return sql.SQL("{c} IS NOT NULL AND NOT pg_input_is_valid({c}::text, {t})").format(
            c=ident(column), t=sql.Literal(canonical_type(type)))
    pattern = fallback_pattern(type)
    if pattern is None:
        raise UnsafeInput(f"cannot precheck conversion to {type} before PostgreSQL 16")
    if pattern == "":
        return sql.SQL("false")
    # bounded-length patterns; out-of-range values within the length are caught by the cast itself
    return sql.SQL("{c} IS NOT NULL AND {c}::text !~ {p}").format(c=ident(column), p=sql.Literal(pattern))


@op("count_not_convertible")
def count_not_convertible(schema: str, table: str, column: str, type: str,  # noqa: A002
                          server_version_num: int = 160000) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        qualified(schema, table), _not_convertible(column, type, server_version_num))


@op("sample_not_convertible")
def sample_not_convertible(schema: str, table: str, column: str, type: str,  # noqa: A002
                           server_version_num: int = 160000, limit: int = 5) -> sql.Composable:
    return sql.SQL("SELECT DISTINCT {}::text FROM {} WHERE {} LIMIT {}").format(
        ident(column), qualified(schema, table), _not_convertible(column, type, server_version_num),
        sql.Literal(int(limit)))


@op("count_noncanonical")
def count_noncanonical(schema: str, table: str, column: str, type: str) -> sql.Composable:  # noqa: A002
    """Rows whose text would not survive the round trip (' 5' -> 5 -> '5')."""
    return sql.SQL("SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND {c}::{ty}::text IS DISTINCT FROM {c}::text").format(
        t=qualified(schema, table), c=ident(column), ty=type_sql(type))


@op("count_not_null")
def count_not_null(schema: str, table: str, column: str) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(qualified(schema, table), ident(column))


@op("count_nulls")
def count_nulls(schema: str, table: str, columns: list[str]) -> sql.Composable:
    cond = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(ident(c)) for c in columns)
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(qualified(schema, table), cond)


@op("count_duplicates")
def count_duplicates(schema: str, table: str, columns: list[str]) -> sql.Composable:
    cols = idents(columns)
    nn = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(ident(c)) for c in columns)
    return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1) d").format(
        qualified(schema, table), nn, cols)


@op("count_unsynced")
def count_unsynced(schema: str, table: str, new_column: str, old_column: str, type: str) -> sql.Composable:  # noqa: A002
    return sql.SQL("SELECT count(*) FROM {t} WHERE {new} IS DISTINCT FROM {old}::{ty}").format(
        t=qualified(schema, table), new=ident(new_column), old=ident(old_column), ty=type_sql(type))


@op("index_state")
def index_state(schema: str, name: str) -> sql.Composable:
    """'absent' | 'valid' | 'invalid' for the index ``schema.name``."""
    return sql.SQL(
        "SELECT coalesce((SELECT CASE WHEN x.indisvalid THEN 'valid' ELSE 'invalid' END "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = {} AND i.relname = {}), 'absent')").format(
        sql.Literal(schema), sql.Literal(name))


@op("relation_exists")
def relation_exists(schema: str, name: str) -> sql.Composable:
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = {} AND c.relname = {})").format(sql.Literal(schema), sql.Literal(name))


@op("column_exists")
def column_exists(schema: str, table: str, column: str) -> sql.Composable:
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relname = {} "
                   "AND a.attname = {} AND a.attnum > 0 AND NOT a.attisdropped)").format(
        sql.Literal(schema), sql.Literal(table), sql.Literal(column))


@op("column_type")
def column_type(schema: str, table: str, column: str) -> sql.Composable:
    return sql.SQL("SELECT (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                   "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = {} AND c.relname = {} AND a.attname = {} AND a.attnum > 0 "
                   "AND NOT a.attisdropped)").format(sql.Literal(schema), sql.Literal(table), sql.Literal(column))


@op("column_has_type")
def column_has_type(schema: str, table: str, column: str, type: str,  # noqa: A002
                    server_version_num: int = 170000) -> sql.Composable:
    """True when the column's type is ``type`` as the server resolves it (typmod too on PG 17+)."""
    t = sql.Literal(canonical_type(type))
    if server_version_num >= 170000:
        same = sql.SQL("format_type(a.atttypid, a.atttypmod) = format_type(to_regtype({t}), to_regtypemod({t}))")
    else:
        same = sql.SQL("a.atttypid = to_regtype({t})")
    return sql.SQL("SELECT coalesce((SELECT {same} FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {s} AND c.relname = {r} "
                   "AND a.attname = {c} AND a.attnum > 0 AND NOT a.attisdropped), false)").format(
        same=same.format(t=t), s=sql.Literal(schema), r=sql.Literal(table), c=sql.Literal(column))


@op("constraint_exists")
def constraint_exists(schema: str, table: str, constraint: str) -> sql.Composable:
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relname = {} "
                   "AND k.conname = {})").format(sql.Literal(schema), sql.Literal(table), sql.Literal(constraint))


@op("max_key")
def max_key(schema: str, table: str, key: str) -> sql.Composable:
    return sql.SQL("SELECT max({})::text FROM {}").format(ident(key), qualified(schema, table))


@op("checksum")
def checksum(sources: list[list[str]], columns: list[str], casts: dict[str, str] | None = None,
             key: str | None = None, bounded: bool = False) -> sql.Composable:
    """``(rows, sum of hashtextextended(row text))`` over the union of ``sources``.

    Order-independent and constant-memory (no ``string_agg`` of a million rows). ``casts`` renders a
    column through the post-fix type so a type change compares equal ("modulo the type change").
    With ``bounded``, only rows with ``key <= %(bound)s`` count (rows inserted during the fix by the
    application are not part of the comparison).
    """
    casts = casts or {}
    if not sources:
        raise UnsafeInput("checksum needs a source table")
    sel = sql.SQL(", ").join(
        (sql.SQL("{}::{} AS {}").format(ident(c), type_sql(casts[c]), ident(c)) if c in casts else ident(c))
        for c in columns)
    where = sql.SQL("")
    if bounded:
        if not key:
            raise UnsafeInput("a bounded checksum needs a key")
        where = sql.SQL(" WHERE {} <= %(bound)s").format(ident(key))
    parts = [sql.SQL("SELECT {} FROM {}{}").format(sel, qualified(s, t), where) for s, t in sources]
    return sql.SQL("SELECT count(*)::bigint, coalesce(sum(hashtextextended(x::text, 0)::numeric), 0)::text "
                   "FROM ({}) AS x").format(sql.SQL(" UNION ALL ").join(parts))


# --------------------------------------------------------------------------------------
# no-overwrite restore: only rows that still hold what heal put there
# --------------------------------------------------------------------------------------


def _untouched(t: sql.Composable, b: sql.Composable, column: str, type: str) -> sql.Composable:  # noqa: A002
    """The row still holds heal's value: its value, rendered in the fix's type, equals the image's."""
    return sql.SQL("{t}.{c}::{ty} IS NOT DISTINCT FROM {b}.{c}::{ty}").format(
        t=t, b=b, c=ident(column), ty=type_sql(type))


@op("restore_unchanged_from_backup")
def restore_unchanged_from_backup(schema: str, table: str, key: str, column: str, backup_schema: str,
                                  backup_table: str, type: str) -> sql.Composable:  # noqa: A002
    """Put the exact pre-fix value back on rows nobody changed since the fix (their value still renders,
    in the fix's type ``type``, as the image's value); rows the application changed are left alone."""
    return sql.SQL("UPDATE {t} AS t SET {c} = b.{c} FROM {b} AS b WHERE t.{k} = b.{k} "
                   "AND t.{c} IS DISTINCT FROM b.{c} AND {same}").format(
        t=qualified(schema, table), b=qualified(backup_schema, backup_table), c=ident(column), k=ident(key),
        same=_untouched(sql.SQL("t"), sql.SQL("b"), column, type))


@op("conflict_keys")
def conflict_keys(schema: str, table: str, key: str, column: str, backup_schema: str, backup_table: str,
                  type: str, limit: int = 1000) -> sql.Composable:  # noqa: A002
    """Keys (text, sorted, at most ``limit``) of rows the application changed after the fix."""
    return sql.SQL("SELECT coalesce(array_agg(k ORDER BY k), '{{}}') FROM (SELECT t.{k}::text AS k FROM {t} AS t "
                   "JOIN {b} AS b ON t.{k} = b.{k} WHERE NOT ({same}) ORDER BY t.{k} LIMIT {n}) AS x").format(
        t=qualified(schema, table), b=qualified(backup_schema, backup_table), k=ident(key),
        same=_untouched(sql.SQL("t"), sql.SQL("b"), column, type), n=sql.Literal(int(limit)))


@op("count_restore_pending")
def count_restore_pending(schema: str, table: str, key: str, column: str, backup_schema: str,
                          backup_table: str, type: str) -> sql.Composable:  # noqa: A002
    """Untouched rows whose value still differs from the image (0 after a complete restore)."""
    return sql.SQL("SELECT count(*) FROM {t} AS t JOIN {b} AS b ON t.{k} = b.{k} "
                   "WHERE t.{c} IS DISTINCT FROM b.{c} AND {same}").format(
        t=qualified(schema, table), b=qualified(backup_schema, backup_table), c=ident(column), k=ident(key),
        same=_untouched(sql.SQL("t"), sql.SQL("b"), column, type))


@op("count_converted_mismatch")
def count_converted_mismatch(schema: str, table: str, key: str, column: str, image_schema: str,
                             image_table: str, type: str) -> sql.Composable:  # noqa: A002
    """Row by row on the key: every image row is present with value = image value converted, and no row
    is missing or extra (run under the fix's ACCESS EXCLUSIVE lock: nobody writes meanwhile)."""
    return sql.SQL("SELECT (SELECT count(*) FROM {b} AS b LEFT JOIN {t} AS t ON t.{k} = b.{k} "
                   "WHERE t.{k} IS NULL OR t.{c} IS DISTINCT FROM b.{c}::{ty}) "
                   "+ abs((SELECT count(*) FROM {t}) - (SELECT count(*) FROM {b}))").format(
        t=qualified(schema, table), b=qualified(image_schema, image_table), c=ident(column), k=ident(key),
        ty=type_sql(type))


@op("verify_statements")
def verify_statements(tables: list[list[str]]) -> sql.Composable:
    """Placeholder statement of a ``verify`` step (the runner asks the server to PREPARE the application's
    statements instead; this text is never sent)."""
    for t in tables:
        ident(*t)
    return sql.SQL("SELECT 1")


@op("add_constraint_from_definition")
def add_constraint_from_definition(schema: str, table: str, constraint: str, definition: str) -> sql.Composable:
    """``ALTER TABLE … ADD CONSTRAINT name <definition>`` where the definition (from pg_get_constraintdef)
    must parse, with the table, as exactly one ADD CONSTRAINT of a foreign key."""
    from pglast import ast
    from pglast.enums import ConstrType
    from pglast.stream import RawStream

    probe = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(qualified(schema, table), ident(constraint))
    text = probe.as_string(None) + definition
    stmt = _one_stmt(text, "constraint")
    cmds = getattr(stmt, "cmds", None) or ()
    if not isinstance(stmt, ast.AlterTableStmt) or len(cmds) != 1 or not isinstance(cmds[0].def_, ast.Constraint):
        raise UnsafeInput("constraint definition must be exactly one ADD CONSTRAINT")
    if cmds[0].def_.contype != ConstrType.CONSTR_FOREIGN:
        raise UnsafeInput("only a foreign key definition is accepted here")
    return sql.SQL(RawStream()(stmt))  # type: ignore[arg-type]  # re-rendered by the parser's deparser
