"""Table and column definitions found in the application's migration files (pglast-parsed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError


@dataclass(frozen=True)
class Definition:
    file: str
    line: int
    sql: str
    kind: str  # create_table | add_column
    schema: str | None
    table: str
    column: str | None = None
    column_type: str | None = None
    # create_table only: declared FKs ((columns), ref_schema, ref_table, (ref_columns)) and the PK
    fks: tuple = ()
    primary_key: tuple[str, ...] = ()


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def _type_name(tn) -> str:
    from pglast.stream import RawStream

    return RawStream()(tn)


def scan_migrations(dirs: list[Path] | tuple[Path, ...]) -> tuple[list[Definition], list[dict]]:
    """All CREATE TABLE / ADD COLUMN statements, and the files that could not be read or parsed."""
    defs: list[Definition] = []
    problems: list[dict] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            problems.append({"file": str(d), "reason": "migrations folder does not exist"})
            continue
        for path in sorted(d.rglob("*.sql")):
            rel = path.relative_to(d).as_posix()
            try:
                text = path.read_text(encoding="utf-8")
                stmts = parse_sql(text)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append({"file": rel, "reason": f"unreadable: {exc}"})
                continue
            except ParseError as exc:
                problems.append({"file": rel, "reason": f"does not parse: {exc}"})
                continue
            for raw in stmts:
                st = raw.stmt
                # pglast reports statement locations in characters of the str it was given (not bytes):
                # slicing the UTF-8 bytes cut definitions after any non-ASCII text ("timestampt")
                start = raw.stmt_location or 0
                length = raw.stmt_len or (len(text) - start)
                body = text[start:start + length].strip()
                line = _line_of(text, start)
                # skip leading blank lines/comments of the statement text for an exact line
                lead = text[start:start + length]
                line += lead[: len(lead) - len(lead.lstrip())].count("\n")
                if isinstance(st, ast.CreateStmt):
                    rv = st.relation
                    fks, pk = _keys(st)
                    defs.append(Definition(rel, line, body, "create_table", rv.schemaname, rv.relname,
                                           fks=fks, primary_key=pk))
                elif isinstance(st, ast.AlterTableStmt):
                    rv = st.relation
                    for cmd in st.cmds or ():
                        if isinstance(cmd, ast.AlterTableCmd) and isinstance(cmd.def_, ast.ColumnDef):
                            cd = cmd.def_
                            defs.append(Definition(rel, line, body, "add_column", rv.schemaname,
                                                   rv.relname, cd.colname, _type_name(cd.typeName)))
                if isinstance(st, ast.CreateStmt):
                    for elt in st.tableElts or ():
                        if isinstance(elt, ast.ColumnDef):
                            defs.append(Definition(rel, line, body, "add_column", st.relation.schemaname,
                                                   st.relation.relname, elt.colname, _type_name(elt.typeName)))
    return defs, problems


def _names(nodes) -> tuple[str, ...]:
    return tuple(n.sval for n in nodes or () if isinstance(n, ast.String))


def _keys(st) -> tuple[tuple, tuple[str, ...]]:
    """Declared FKs and primary key of a ``CREATE TABLE`` (column and table constraints)."""
    fks, pk = [], ()
    for elt in st.tableElts or ():
        cons = []
        if isinstance(elt, ast.ColumnDef):
            cons = [(c, (elt.colname,)) for c in elt.constraints or () if isinstance(c, ast.Constraint)]
        elif isinstance(elt, ast.Constraint):
            cons = [(elt, None)]
        for c, own in cons:
            if c.contype == enums.ConstrType.CONSTR_PRIMARY:
                pk = own or _names(c.keys)
            elif c.contype == enums.ConstrType.CONSTR_FOREIGN and c.pktable is not None:
                fks.append((own or _names(c.fk_attrs), c.pktable.schemaname, c.pktable.relname,
                            _names(c.pk_attrs)))
    return tuple(fks), tuple(pk)


# ---- FK type compatibility (item 10: the FK PostgreSQL refuses, so the table never exists) ------------
#: type families; two members of one family always compare (a cross-type btree operator exists)
_FAMILIES = {
    "int": {"smallint", "int2", "integer", "int", "int4", "bigint", "int8", "serial", "serial4",
            "bigserial", "serial8", "smallserial", "serial2"},
    "numeric": {"numeric", "decimal"},
    "float": {"real", "float4", "double precision", "float8", "float"},
    "text": {"text", "varchar", "character varying", "char", "character", "bpchar"},
    "uuid": {"uuid"},
    "bool": {"bool", "boolean"},
    "datetime": {"date", "timestamp", "timestamptz", "timestamp without time zone",
                 "timestamp with time zone"},
    "bytea": {"bytea"},
    "jsonb": {"jsonb"},
}
#: a referencing type whose values PostgreSQL coerces implicitly to the referenced family
_IMPLICIT = {("int", "numeric"), ("int", "float"), ("numeric", "float")}


def type_family(type_name: str | None) -> str | None:
    """The family of a type as written in a migration or shown by ``format_type`` (None = unknown)."""
    if not type_name:
        return None
    t = type_name.strip().lower()
    if t.endswith("]"):
        return None  # arrays: compared element-wise, not judged here
    t = t.split("(", 1)[0].strip()
    if t.startswith("pg_catalog."):
        t = t[len("pg_catalog."):]
    for fam, members in _FAMILIES.items():
        if t in members:
            return fam
    return None


def fk_compatible(fk_type: str | None, ref_type: str | None) -> bool | None:
    """Would PostgreSQL accept an FK from ``fk_type`` to ``ref_type``? None when it cannot be told.

    PostgreSQL needs an equality operator of the referenced key's btree family between the two
    types, or an implicit coercion of the referencing type to the referenced one (42804 otherwise:
    ``foreign key constraint … cannot be implemented``). Checked against a real server in the tests."""
    a, b = type_family(fk_type), type_family(ref_type)
    if a is None or b is None:
        return None
    return a == b or (a, b) in _IMPLICIT


def refused_fks(defs: list[Definition], d: Definition, ref_types, default_schema: str = "public") -> list[dict]:
    """The FKs of ``d`` (a create_table definition) that PostgreSQL refuses for their types.

    ``ref_types(schema, table, column)`` gives a referenced column's type from the database (None
    when it does not exist there); the migrations themselves are the fallback (a table they define)."""
    out = []
    own = {x.column: x.column_type for x in defs
           if x.kind == "add_column" and x.file == d.file and x.line == d.line}
    for cols, rschema, rtable, rcols in d.fks:
        rschema = rschema or default_schema
        if not rcols:  # REFERENCES t: its primary key
            rdef = find_table(defs, rschema, rtable, default_schema)
            rcols = rdef.primary_key if rdef is not None else ref_types(rschema, rtable, None) or ()
        for col, rcol in zip(cols, rcols):
            rtype = ref_types(rschema, rtable, rcol)
            if rtype is None:
                rd = find_column(defs, rschema, rtable, rcol, default_schema)
                rtype = rd.column_type if rd is not None else None
            ctype = own.get(col)
            if fk_compatible(ctype, rtype) is False:
                out.append({"column": col, "type": ctype, "references": f"{rschema}.{rtable}.{rcol}",
                            "referenced_type": rtype, "file": d.file, "line": d.line, "sqlstate": "42804"})
    return out


def find_table(defs: list[Definition], schema: str, table: str, default_schema: str = "public") -> Definition | None:
    for d in defs:
        if d.kind == "create_table" and d.table == table and (d.schema or default_schema) == schema:
            return d
    return None


def find_column(defs: list[Definition], schema: str, table: str, column: str,
                default_schema: str = "public") -> Definition | None:
    for d in defs:
        if (d.kind == "add_column" and d.table == table and d.column == column
                and (d.schema or default_schema) == schema):
            return d
    return None
