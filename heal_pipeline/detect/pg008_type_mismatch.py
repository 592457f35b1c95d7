"""type_mismatch: a column's type differs from the key it references or is joined with."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register
from .relationships import infer


def _fmt(col) -> str:
    return ".".join(col)


#: types PostgreSQL compares without any cast (varchar is binary-coercible to text; a length limit is a
#: typmod, not another type): a mismatch inside this family is a length difference, severity info
CAST_FREE_FAMILIES = ({"text", "varchar"},)


def cast_free(a, b) -> bool:
    """True when columns ``a`` and ``b`` compare and join without a cast (text vs varchar(n))."""
    return any(a.type_name in fam and b.type_name in fam for fam in CAST_FREE_FAMILIES)


def _length_note(a, b) -> str:
    return (f"; both are character types that compare without a cast — only the length limit differs "
            f"({a.data_type} vs {b.data_type}), so a value may fit one and not the other")


@register
class TypeMismatch(Check):
    """A column's type differs from the key it references or is compared with.

    Declared foreign keys whose column type or typmod differs from the referenced key (e.g. int4
    → int8), and strong implicit relationships (code join evidence, or naming + data evidence)
    between columns of different types (``sessions.user_id text`` joined with ``users.id integer``).
    Every such join needs a cast, which defeats indexes and hides bad values; the code grows cast
    workarounds. Naming alone never produces a finding (``client_id`` is not always ``clients.id``).
    ``text`` vs ``varchar(n)`` (or two ``varchar`` lengths) compare without a cast: only the length
    limit differs, so that pair is ``info``, never critical, and no code cast "works around" it.

    Anti-pattern::

        CREATE TABLE sessions (user_id text);  -- users.id is integer
        SELECT … FROM sessions s JOIN users u ON s.user_id = u.id::text;

    Best practice::

        ALTER TABLE sessions ALTER COLUMN user_id TYPE integer USING user_id::integer;
    """

    issue_type = "type_mismatch"
    code = "PG008"
    name = "schema.type_mismatch"
    severity = "critical"
    fixable = True
    needs = ("snapshot", "code", "data")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        for con in snap.constraints:
            if con.kind != "foreign_key" or not examined_schema(con.schema) or not con.ref_table:
                continue
            for a, b in zip(con.columns, con.ref_columns):
                ca = snap.column(con.schema, con.table, a)
                cb = snap.column(con.ref_schema or "", con.ref_table, b)
                if ca is None or cb is None or ca.data_type == cb.data_type:
                    continue
                free = cast_free(ca, cb)
                yield ctx.issue(
                    "type_mismatch", "info" if free else "critical",
                    f"{con.schema}.{con.table}.{a} is {ca.data_type} but references "
                    f"{con.ref_schema}.{con.ref_table}.{b} ({cb.data_type}) through FK {con.name}"
                    + (_length_note(ca, cb) if free else ""),
                    schema_name=con.schema, table_name=con.table, column_name=a,
                    evidence={"child_type": ca.data_type,
                              "parent": {"schema": con.ref_schema, "table": con.ref_table,
                                         "column": b, "data_type": cb.data_type},
                              "declared_fk": True, "constraint": con.name, "strength": "declared",
                              "cast_free": free,
                              "sources": [{"kind": "declared_fk", "constraint": con.name}]})
        if ctx.code is None:
            ctx.not_checked("type_mismatch", "code not scanned: implicit relationships use only naming + data")
        if ctx.connect is None:
            ctx.not_checked("type_mismatch", "no data connection: naming + data evidence not sampled")
        for rel in infer(ctx):
            if not rel.strong:
                continue
            ca = snap.column(*rel.child)
            cb = snap.column(*rel.parent)
            if ca is None or cb is None or ca.data_type == cb.data_type:
                continue
            free = cast_free(ca, cb)
            sev = "info" if free else "critical" if rel.has_code else "warning"
            how = "joined in code with" if rel.has_code else "by name and data relates to"
            yield ctx.issue(
                "type_mismatch", sev,
                f"{_fmt(rel.child)} is {ca.data_type} but is {how} {_fmt(rel.parent)} "
                f"({cb.data_type}); no FK declares the relationship" + (_length_note(ca, cb) if free else ""),
                schema_name=rel.child[0], table_name=rel.child[1], column_name=rel.child[2],
                evidence={"child_type": ca.data_type,
                          "parent": {"schema": rel.parent[0], "table": rel.parent[1],
                                     "column": rel.parent[2], "data_type": cb.data_type},
                          "declared_fk": False, "constraint": None, "strength": "strong",
                          "cast_free": free, "sources": rel.sources, "relationship": rel.strength()})
