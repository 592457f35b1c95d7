"""Spell primary keys, unique constraints and foreign keys exactly as ``pg_get_constraintdef(oid)``.

``sql/introspect/03_constraints.sql`` asks the server only for the other constraints (checks,
exclusions, keys with INCLUDE columns, foreign keys with a ``SET NULL (cols)`` list, PERIOD or
NOT ENFORCED); for the plain ones it returns ``definition`` NULL and the few facts needed here —
pg_get_constraintdef costs a syscache walk per constraint, 30,000 of them on a 10,000-table catalog.
The text follows ``pg_get_constraintdef_worker`` (src/backend/utils/adt/ruleutils.c):

    PRIMARY KEY (col, …) | UNIQUE [NULLS NOT DISTINCT ](col, …)
    FOREIGN KEY (col, …) REFERENCES [schema.]table(col, …)[ MATCH FULL|PARTIAL]
        [ ON UPDATE action][ ON DELETE action]
    …[ DEFERRABLE][ INITIALLY DEFERRED][ NOT VALID]

The referenced table is schema-qualified only when it is not visible in the search path
(``pg_table_is_visible``, as ``generate_relation_name``). Equality with the server over every
shape is tested in heal_pipeline_tests/introspect/test_constraintdef.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from .indexdef import Quoter

ACTIONS = {"a": "", "r": " RESTRICT", "c": " CASCADE", "n": " SET NULL", "d": " SET DEFAULT"}
MATCH = {"s": "", "f": " MATCH FULL", "p": " MATCH PARTIAL"}


def spell_constraint(quote: Quoter, *, kind: str, columns: Sequence[str] | None,
                     ref_columns: Sequence[str] | None, ref_schema: str | None, ref_table: str | None,
                     ref_visible: bool | None, match: str | None, on_update: str | None,
                     on_delete: str | None, deferrable: bool, deferred: bool, validated: bool,
                     nulls_not_distinct: bool) -> str | None:
    """The definition, or None when something is unknown (the caller asks the server then)."""
    if not columns:
        return None
    cols = ", ".join([quote(c) for c in columns])
    if kind == "primary_key":
        text = f"PRIMARY KEY ({cols})"
    elif kind == "unique":
        text = f"UNIQUE {'NULLS NOT DISTINCT ' if nulls_not_distinct else ''}({cols})"
    elif kind == "foreign_key":
        if (not ref_columns or ref_table is None or ref_schema is None or ref_visible is None
                or match not in MATCH or (on_update or "a") not in ACTIONS or (on_delete or "a") not in ACTIONS):
            return None
        rel = quote(ref_table) if ref_visible else f"{quote(ref_schema)}.{quote(ref_table)}"
        text = f"FOREIGN KEY ({cols}) REFERENCES {rel}({', '.join([quote(c) for c in ref_columns])})"
        text += MATCH[match]
        if (on_update or "a") != "a":
            text += " ON UPDATE" + ACTIONS[on_update or "a"]
        if (on_delete or "a") != "a":
            text += " ON DELETE" + ACTIONS[on_delete or "a"]
    else:
        return None
    if deferrable:
        text += " DEFERRABLE"
    if deferred:
        text += " INITIALLY DEFERRED"
    if not validated:
        text += " NOT VALID"
    return text


__all__ = ["spell_constraint"]
