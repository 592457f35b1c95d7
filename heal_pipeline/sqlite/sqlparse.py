"""The application's SQL read in the SQLite dialect (sqlglot; pglast knows only PostgreSQL).

:func:`analyze` returns the tables a statement names (CTE names removed), the columns resolved to
their table through aliases (``None`` when ambiguous), the ``a.x = b.y`` join predicates between two
tables, and the casts applied to columns. Parse failures are returned, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp

DIALECT = "sqlite"


@dataclass
class Facts:
    tables: set[str] = field(default_factory=set)
    columns: list[tuple[str | None, str]] = field(default_factory=list)
    joins: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)
    casts: list[tuple[str | None, str, str]] = field(default_factory=list)  # (table, column, type)
    cast_joins: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)  # joins through a CAST
    kind: str = "OTHER"
    error: str | None = None


def _placeholders(text: str) -> str:
    # the code scanner renders holes/params as $1 or %s; SQLite spells them ? or :name
    import re  # noqa: PLC0415

    text = re.sub(r"%\((\w+)\)s", r":\1", text)
    text = re.sub(r"\$\d+|%s", "?", text)
    return text


@lru_cache(maxsize=4096)
def analyze(text: str) -> Facts:
    f = Facts()
    try:
        trees = [t for t in sqlglot.parse(_placeholders(text), read=DIALECT) if t is not None]
    except sqlglot.errors.ParseError as exc:
        f.error = str(exc).splitlines()[0][:200]
        return f
    except Exception as exc:  # noqa: BLE001  (sqlglot raises assorted errors on odd input)
        f.error = f"{exc.__class__.__name__}: {str(exc)[:150]}"
        return f
    for tree in trees:
        _facts(tree, f)
    return f


def _facts(tree: exp.Expression, f: Facts) -> None:
    kinds = {exp.Select: "SELECT", exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE",
             exp.Create: "DDL", exp.Drop: "DDL", exp.Alter: "DDL"}
    f.kind = next((k for t, k in kinds.items() if isinstance(tree, t)), f.kind)
    if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
        tree = tree.expression  # CREATE VIEW … AS SELECT: the SELECT references tables
    elif isinstance(tree, (exp.Create, exp.Drop, exp.Alter)):
        return  # DDL in code defines objects; it does not reference them
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    names: list[str] = []
    for t in tree.find_all(exp.Table):
        if not t.name or t.name in ctes or (t.db and t.db.lower() not in ("main",)):
            continue
        names.append(t.name)
        aliases[t.alias_or_name] = t.name
        aliases[t.name] = t.name
    f.tables.update(names)
    select_aliases = {a.alias for a in tree.find_all(exp.Alias)}
    single = names[0] if len(set(names)) == 1 else None
    ins = tree if isinstance(tree, exp.Insert) else None
    if ins is not None and isinstance(ins.this, exp.Schema):
        target = ins.this.this.name if isinstance(ins.this.this, exp.Table) else None
        for ident in ins.this.expressions:
            if isinstance(ident, exp.Identifier):
                f.columns.append((target, ident.name))
    for c in tree.find_all(exp.Column):
        if not c.name or isinstance(c.this, exp.Star):
            continue
        if c.table:
            tbl = aliases.get(c.table)
            if tbl is None:
                continue  # a subquery alias or a CTE: not a base table column
        else:
            if c.name in select_aliases:
                continue
            tbl = single
        f.columns.append((tbl, c.name))
    for eq in tree.find_all(exp.EQ):
        a, b = eq.left, eq.right
        cast = isinstance(a, exp.Cast) or isinstance(b, exp.Cast)
        a = a.this if isinstance(a, exp.Cast) else a  # `CAST(s.user_ref AS INTEGER) = u.id`: a workaround
        b = b.this if isinstance(b, exp.Cast) else b
        if cast and isinstance(a, exp.Column) and isinstance(b, exp.Column) and a.table and b.table:
            ta, tb = aliases.get(a.table), aliases.get(b.table)
            if ta and tb and ta != tb:
                f.cast_joins.append(((ta, a.name), (tb, b.name)))
        if isinstance(a, exp.Column) and isinstance(b, exp.Column) and a.table and b.table:
            ta, tb = aliases.get(a.table), aliases.get(b.table)
            if ta and tb and ta != tb:
                f.joins.append(((ta, a.name), (tb, b.name)))
    for cast in tree.find_all(exp.Cast):
        col = cast.this
        if isinstance(col, exp.Column):
            tbl = aliases.get(col.table) if col.table else single
            f.casts.append((tbl, col.name, cast.to.sql(dialect=DIALECT)))


def referenced_tables(text: str) -> set[str]:
    return analyze(text).tables
