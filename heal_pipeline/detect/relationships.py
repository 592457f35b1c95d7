"""Implicit relationships: column pairs that relate without a declared FK (PRODUCT.md).

Evidence kinds: **code** (a join/equality predicate between the two columns in code SQL, also through
casts), **naming** (``<name>_id`` → table ``<name>``/plural whose primary key is ``id``), **types**
(the two columns' types: the same, the same family, or only comparable as text) and **data**
(containment: the share of a sample of the child's non-null values that exist in the parent,
compared as text).

Strength (issue 12.2): code → strong. Otherwise naming + the parent key + data, over a bar that
depends on the types: the same type or family (``int4``/``int8``, ``text``/``varchar``) → at least
:data:`CONTAINMENT_BAR` (50 %) of the sample found, with at least :data:`MIN_FOUND` values found (or
all of a smaller sample); types of different families (``text`` child, ``integer`` parent) →
:data:`CONTAINMENT_BAR_CROSS_TYPE` (90 %), because only near-total containment shows that the text
forms are the same ids. A column with 15 % orphans (85 % containment) is a strong relationship,
and ``orphaned_rows`` reports it with a severity from its orphan share. Naming alone → weak (never
reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..errors import first_line
from ..model import Snapshot
from .base import DetectContext, examined_schema
from .coderefs import resolver

Col = tuple[str, str, str]  # schema, table, column

CONTAINMENT_BAR = 0.5  # same type / same family: half of the sampled child values found in the parent
CONTAINMENT_BAR_CROSS_TYPE = 0.9  # different type families, compared as text
MIN_FOUND = 10  # values found in the parent before a partial containment counts (or the whole sample)

_FAMILIES = {"int2": "integer", "int4": "integer", "int8": "integer", "text": "character",
             "varchar": "character", "bpchar": "character", "uuid": "uuid", "numeric": "numeric"}


def type_compatibility(snap: Snapshot, child: Col, parent: Col) -> str:
    """``same`` (identical type and typmod), ``family`` (compare without a cast: int4/int8, text/varchar)
    or ``text`` (only comparable as text: a type_mismatch if related)."""
    a, b = snap.column(*child), snap.column(*parent)
    if a is None or b is None:
        return "text"
    if a.data_type == b.data_type:
        return "same"
    fa, fb = _FAMILIES.get(a.type_name), _FAMILIES.get(b.type_name)
    return "family" if fa is not None and fa == fb else "text"


@dataclass
class Relationship:
    child: Col
    parent: Col
    sources: list[dict] = field(default_factory=list)
    containment: float | None = None  # share of sampled child values found in the parent
    found: int = 0  # sampled child values found in the parent
    sampled: int = 0  # non-null child values sampled
    types: str = "text"  # same | family | text (type_compatibility)
    parent_key: bool = False  # the parent column is its table's primary key / a unique key

    @property
    def has_code(self) -> bool:
        return any(s["kind"] == "code" for s in self.sources)

    @property
    def has_naming(self) -> bool:
        return any(s["kind"] == "naming" for s in self.sources)

    @property
    def bar(self) -> float:
        return CONTAINMENT_BAR if self.types in ("same", "family") else CONTAINMENT_BAR_CROSS_TYPE

    @property
    def data_strong(self) -> bool:
        """naming + parent key + containment over the bar for these types (with enough values found)."""
        c = self.containment
        return (self.has_naming and self.parent_key and c is not None and c >= self.bar
                and (self.found >= MIN_FOUND or self.found == self.sampled))

    @property
    def strong(self) -> bool:
        return self.has_code or self.data_strong

    def strength(self) -> dict:
        """The components, as stated on every issue that relies on the relationship."""
        return {"code": self.has_code, "naming": self.has_naming, "parent_key": self.parent_key,
                "types": self.types,
                "containment": None if self.containment is None else round(self.containment, 4),
                "found": self.found, "sampled": self.sampled, "bar": self.bar,
                "strong": self.strong, "by": "code" if self.has_code else "naming+data" if self.data_strong else None}


def _key_column(snap: Snapshot, schema: str, table: str) -> str | None:
    """The single-column primary key (or unique NOT NULL key) of a table."""
    for c in snap.constraints_of(schema, table):
        if c.kind == "primary_key" and len(c.columns) == 1:
            return c.columns[0]
    return None


def _is_key(snap: Snapshot, col: Col) -> bool:
    for c in snap.constraints_of(col[0], col[1]):
        if c.kind in ("primary_key", "unique") and c.columns == (col[2],):
            return True
    for ix in snap.indexes_of(col[0], col[1]):
        if ix.is_unique and ix.is_valid and ix.predicate is None and tuple(ix.key_columns) == (col[2],):
            return True
    return False


def _plurals(name: str) -> list[str]:
    out = [name, name + "s", name + "es"]
    if name.endswith("y"):
        out.append(name[:-1] + "ies")
    return out


def declared_pairs(snap: Snapshot) -> set[tuple[Col, Col]]:
    out = set()
    for c in snap.constraints:
        if c.kind == "foreign_key" and c.ref_schema and c.ref_table:
            for a, b in zip(c.columns, c.ref_columns):
                out.add(((c.schema, c.table, a), (c.ref_schema, c.ref_table, b)))
    return out


def _orient(snap: Snapshot, a: Col, b: Col) -> tuple[Col, Col] | None:
    """(child, parent) for a predicate a = b: the parent side is a key of its table."""
    ka, kb = _is_key(snap, a), _is_key(snap, b)
    if kb and not ka:
        return a, b
    if ka and not kb:
        return b, a
    if ka and kb:  # 1-1: the *_id side is the child
        if a[2].endswith("_id") and not b[2].endswith("_id"):
            return a, b
        if b[2].endswith("_id") and not a[2].endswith("_id"):
            return b, a
    return None


def infer(ctx: DetectContext) -> list[Relationship]:
    return ctx.memo("relationships", lambda: _infer(ctx))  # type: ignore[return-value]


def _infer(ctx: DetectContext) -> list[Relationship]:
    snap = ctx.snapshot
    r = resolver(ctx)
    declared = declared_pairs(snap)
    rels: dict[tuple[Col, Col], Relationship] = {}

    def col_of(schema, table, column) -> Col | None:
        rel = r.table(schema, table)
        if rel is None or not examined_schema(rel[0]) or not r.has_column(rel, column):
            return None
        return (rel[0], rel[1], column)

    if ctx.code is not None:
        for st in ctx.code.statements:
            for j in st.joins:
                a = col_of(j.left_schema, j.left_table, j.left_column)
                b = col_of(j.right_schema, j.right_table, j.right_column)
                if a is None or b is None or a == b or a[:2] == b[:2]:
                    continue
                oriented = _orient(snap, a, b)
                if oriented is None or oriented in declared:
                    continue
                rel = rels.setdefault(oriented, Relationship(*oriented))
                if len([s for s in rel.sources if s["kind"] == "code"]) < 10:
                    rel.sources.append({"kind": "code", "file": st.file, "line": st.line})

    # naming candidates
    for c in snap.columns:
        if not c.name.endswith("_id") or not examined_schema(c.schema) or snap.table(c.schema, c.table) is None:
            continue
        stem = c.name[:-3]
        if not stem:
            continue
        for schema in dict.fromkeys((c.schema, "public")):
            for cand in _plurals(stem):
                if snap.table(schema, cand) is None or (schema, cand) == (c.schema, c.table):
                    continue
                key = _key_column(snap, schema, cand)
                if key != "id":
                    continue
                pair = ((c.schema, c.table, c.name), (schema, cand, "id"))
                if pair in declared:
                    continue
                rel = rels.setdefault(pair, Relationship(*pair))
                rel.sources.append({"kind": "naming", "rule": f"{c.name} → {schema}.{cand}.id"})
                break
            else:
                continue
            break

    for rel in rels.values():
        rel.types = type_compatibility(snap, rel.child, rel.parent)
        rel.parent_key = _is_key(snap, rel.parent)
    # data evidence for every candidate (needed for naming strength and for reporting)
    with ctx.data() as conn:
        for rel in rels.values():
            if conn is None:
                break
            rel.containment = _containment(conn, rel, ctx.thresholds.sample_size,
                                           ctx.thresholds.orphan_timeout_ms)
            if rel.containment is not None:
                rel.sources.append({"kind": "data", "containment": round(rel.containment, 4),
                                    "found": rel.found, "sampled": rel.sampled})
            elif rel.has_naming and not rel.has_code and any("error" in s for s in rel.sources):
                # the data sample failed (timeout, permission): this relationship is unchecked, not weak
                err = next(s["error"] for s in rel.sources if "error" in s)
                where = f"{'.'.join(rel.child)} → {'.'.join(rel.parent)}"
                ctx.not_checked("type_mismatch", f"data sample of {where} failed: {err}")
                ctx.not_checked("orphaned_rows", f"data sample of {where} failed: {err}")
    return sorted((x for x in rels.values()), key=lambda x: (x.child, x.parent))


def _containment(conn: psycopg.Connection, rel: Relationship, sample: int, timeout_ms: int) -> float | None:
    (cs, ct, cc), (ps, pt, pc) = rel.child, rel.parent
    # a hashed subplan: one scan of the parent, whatever the sample size
    q = sql.SQL(
        "SELECT count(*) FILTER (WHERE s.v IN (SELECT p.{pc}::text FROM {pt} p)),"
        " count(*) FROM (SELECT c.{cc}::text AS v FROM {ct} c WHERE c.{cc} IS NOT NULL LIMIT {n}) s"
    ).format(pt=sql.Identifier(ps, pt), pc=sql.Identifier(pc), cc=sql.Identifier(cc),
             ct=sql.Identifier(cs, ct), n=sql.Literal(sample))
    try:
        conn.execute("SAVEPOINT heal_containment")
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
        found, total = conn.execute(q).fetchone()
        conn.execute("RELEASE SAVEPOINT heal_containment")
    except psycopg.Error as exc:
        conn.execute("ROLLBACK TO SAVEPOINT heal_containment")
        rel.sources.append({"kind": "data", "error": first_line(exc)})
        return None
    if not total:
        return None
    rel.found, rel.sampled = int(found), int(total)
    return found / total
