"""Which SQL dialect a branch of Python code is written for (``if db.is_sqlite:``).

Applications that support several engines keep each engine's SQL in its own branch. A branch whose
condition names an engine is attributed to it: the statements in it are recorded with that
``dialect`` and never produce PostgreSQL findings on a PostgreSQL target (and the other way round).

The condition is read by its words: identifiers, attribute names and string constants. ``sqlite``
in any of them (``db.is_sqlite``, ``engine.name == "sqlite"``, ``isinstance(conn, sqlite3.Connection)``,
``settings.DATABASE_URL.startswith("sqlite")``) makes the branch SQLite; ``mysql``/``mariadb``
MySQL; ``postgres``/``postgresql`` PostgreSQL. Only the branch the condition names is attributed:
its ``else`` is not (``if url.scheme == "postgresql+aiopg": … else: …`` — the else still serves
``postgresql+asyncpg``, seen in encode/databases). ``not …`` and ``!=`` swap the two branches; a
condition naming two engines (``scheme in ["mysql", "postgresql+aiopg"]``) attributes nothing.
Driver names (``asyncpg``, ``psycopg``) do not name an engine: ``if USE_ASYNCPG: … else: …`` are
both PostgreSQL.

Code organised per engine is attributed the same way: the methods of a class whose name names one
engine (peewee's ``SqliteDatabase``, ``MySQLDatabase``), and every statement of a module whose file
name does (encode/databases' ``backends/sqlite.py``, ``backends/mysql.py``) unless a branch inside
says otherwise.
"""

from __future__ import annotations

import ast

#: dialect words, by the dialect they name
_WORDS = (("sqlite", "sqlite"), ("mariadb", "mysql"), ("mysql", "mysql"), ("postgres", "postgresql"))


def _words(node) -> list[str]:
    out = []
    for n in ast.walk(node):
        t = type(n)
        if t is ast.Name:
            out.append(n.id)
        elif t is ast.Attribute:
            out.append(n.attr)
        elif t is ast.Constant and isinstance(n.value, str) and len(n.value) < 80:
            out.append(n.value)
    return out


def branch_dialects(test) -> tuple[str | None, str | None]:
    """(dialect of the body, dialect of the ``else``) for an ``if``/ternary condition; None = unknown."""
    negated = False
    node = test
    while type(node) is ast.UnaryOp and type(node.op) is ast.Not:
        negated = not negated
        node = node.operand
    if type(node) is ast.Compare and len(node.ops) == 1 and type(node.ops[0]) in (ast.NotEq, ast.IsNot, ast.NotIn):
        negated = not negated
    found = set()
    for w in _words(node):
        low = w.lower()
        for word, dialect in _WORDS:
            if word in low:
                found.add(dialect)
                break
    if len(found) != 1:
        return None, None
    (dialect,) = found
    return (None, dialect) if negated else (dialect, None)


def name_dialect(name: str) -> str | None:
    """The one engine a class or module name names (``SqliteDatabase`` -> sqlite), else None."""
    low = name.lower()
    found = {dialect for word, dialect in _WORDS if word in low}
    return found.pop() if len(found) == 1 else None
