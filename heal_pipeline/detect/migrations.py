"""Table and column definitions found in the application's migration files (pglast-parsed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pglast import ast, parse_sql
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
                    defs.append(Definition(rel, line, body, "create_table", rv.schemaname, rv.relname))
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
