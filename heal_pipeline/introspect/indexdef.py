"""Spell ``CREATE INDEX`` statements exactly as ``pg_get_indexdef(oid)`` does, for plain indexes.

``sql/introspect/04_indexes.sql`` calls ``pg_get_indexdef`` only for indexes with an expression,
reloptions, an access method outside core, or a key column whose opclass or collation is not its
type's default; for every other index it returns ``definition`` NULL plus the few catalog facts
needed here. The text follows ``pg_get_indexdef_worker`` (src/backend/utils/adt/ruleutils.c):

    CREATE [UNIQUE ]INDEX name ON [ONLY ]schema.table USING am (key[ DESC][ NULLS …], …)
        [ INCLUDE (col, …)][ NULLS NOT DISTINCT][ WHERE predicate]

with identifiers quoted by ``quote_identifier`` (ported below: the server's own reserved-word list
and ``quote_all_identifiers`` come from ``00_server.sql``) and the predicate from
``pg_get_expr(indpred, indrelid)``, which deparses with the same flags and context. Equality with
``pg_get_indexdef`` over every index shape is tested in heal_pipeline_tests/introspect.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

ORDERED_METHODS = frozenset({"btree"})  # amcanorder among the core access methods
INDOPTION_DESC = 0x0001
INDOPTION_NULLS_FIRST = 0x0002
_BARE = re.compile(r"[a-z_][a-z0-9_]*\Z")  # quote_identifier's safe set: ASCII only


class Quoter(dict):
    """``quote_identifier`` of PostgreSQL: bare when lower-case ASCII and not a non-unreserved keyword.

    A dict of the identifiers seen so far (a snapshot quotes ~125,000 names, mostly repeats):
    ``quote(ident)`` is a plain dict lookup, computed once per name in ``__missing__``."""

    __slots__ = ("_reserved", "_all")

    def __init__(self, reserved: Collection[str], quote_all: bool = False) -> None:
        super().__init__()
        self._reserved = frozenset(reserved)
        self._all = quote_all

    def __missing__(self, ident: str) -> str:
        safe = not self._all and _BARE.match(ident) is not None and ident not in self._reserved
        q = ident if safe else '"' + ident.replace('"', '""') + '"'
        if len(self) < 200_000:
            self[ident] = q
        return q

    __call__ = dict.__getitem__


def spell(quote: Quoter, *, schema: str, table: str, name: str, method: str, attnums: Sequence[int],
          key_count: int, options: Sequence[int], is_unique: bool, partitioned: bool,
          nulls_not_distinct: bool, predicate: str | None, column_names: Mapping[int, str]) -> str | None:
    """The definition, or None when a column name is unknown (the caller asks the server then)."""
    parts: list[str] = []
    ordered = method in ORDERED_METHODS
    for pos, attnum in enumerate(attnums):
        col = column_names.get(attnum)
        if col is None or attnum <= 0:
            return None
        if pos == key_count:
            parts.append(") INCLUDE (")
        elif pos:
            parts.append(", ")
        parts.append(quote(col))
        if pos < key_count and ordered:
            opt = options[pos] if pos < len(options) else 0
            if opt & INDOPTION_DESC:
                parts.append(" DESC" if opt & INDOPTION_NULLS_FIRST else " DESC NULLS LAST")
            elif opt & INDOPTION_NULLS_FIRST:
                parts.append(" NULLS FIRST")
    head = (f"CREATE {'UNIQUE ' if is_unique else ''}INDEX {quote(name)} ON {'ONLY ' if partitioned else ''}"
            f"{quote(schema)}.{quote(table)} USING {quote(method)} (")
    tail = ")"
    if nulls_not_distinct:
        tail += " NULLS NOT DISTINCT"
    if predicate is not None:
        tail += " WHERE " + predicate
    return head + "".join(parts) + tail


__all__ = ["Quoter", "spell"]
