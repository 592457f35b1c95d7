"""CREATE TABLE / ALTER TABLE … ADD COLUMN statements in a SQLite app's migration files.

Parsed with sqlglot in the SQLite dialect (pglast rejects ``AUTOINCREMENT``, ``WITHOUT ROWID``,
``STRICT``…). ``Definition.sql`` is the statement's original text, which the fix runs unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp


@dataclass(frozen=True)
class Definition:
    file: str
    line: int
    sql: str
    kind: str  # create_table | add_column
    table: str
    column: str | None = None
    column_type: str | None = None


def _statements(text: str):
    """(offset, statement text) split on top-level semicolons (quotes and comments respected)."""
    out, start, i, n = [], 0, 0, len(text)
    quote = None
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
        elif ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif ch == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        elif ch == ";":
            out.append((start, text[start:i]))
            start = i + 1
        i += 1
    if text[start:].strip():
        out.append((start, text[start:]))
    return out


def scan_sqlite_migrations(dirs, ctx=None) -> list[Definition]:
    defs: list[Definition] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            if ctx is not None:
                ctx.not_checked("migrations", f"{d}: not a directory")
            continue
        for f in sorted(d.rglob("*.sql")):
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                if ctx is not None:
                    ctx.not_checked("migrations", f"{f}: cannot be read: {exc}")
                continue
            for off, stmt in _statements(text):
                body = stmt.strip()
                if not body:
                    continue
                line = text.count("\n", 0, off + (len(stmt) - len(stmt.lstrip()))) + 1
                try:
                    tree = sqlglot.parse_one(body, read="sqlite")
                except Exception:  # noqa: BLE001  (not every statement matters; unparsable ones are skipped)
                    if ctx is not None and body.upper().startswith(("CREATE TABLE", "ALTER TABLE")):
                        ctx.not_checked("migrations", f"{f}:{line}: not parsed in the SQLite dialect")
                    continue
                rel = str(f)
                if isinstance(tree, exp.Create) and (tree.kind or "").upper() == "TABLE":
                    t = tree.find(exp.Table)
                    if t is not None:
                        defs.append(Definition(rel, line, body, "create_table", t.name))
                elif isinstance(tree, exp.Alter):
                    t = tree.find(exp.Table)
                    for action in tree.args.get("actions") or []:
                        if isinstance(action, exp.ColumnDef) and t is not None:
                            kind = action.args.get("kind")
                            defs.append(Definition(rel, line, body, "add_column", t.name, action.name,
                                                   kind.sql(dialect="sqlite") if kind else ""))
    return defs


def find_table(defs: list[Definition], table: str) -> Definition | None:
    return next((d for d in defs if d.kind == "create_table" and d.table == table), None)


def find_column(defs: list[Definition], table: str, column: str) -> Definition | None:
    return next((d for d in defs if d.kind == "add_column" and d.table == table and d.column == column), None)
