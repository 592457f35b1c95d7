"""Implicit relationships: column pairs that relate without a declared FK (PRODUCT.md).

Evidence kinds: **code** (a join/equality predicate between the two columns in code SQL, also through
casts), **naming** (``<name>_id`` → table ``<name>``/plural with key ``id``) and **data** (≥ 90 % of a
sample of the child's non-null values exist in the parent, compared as text). Code → strong;
naming + data → strong; naming alone → weak (never reported).
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


@dataclass
class Relationship:
    child: Col
    parent: Col
    sources: list[dict] = field(default_factory=list)
    containment: float | None = None  # share of sampled child values found in the parent

    @property
    def has_code(self) -> bool:
        return any(s["kind"] == "code" for s in self.sources)

    @property
    def has_naming(self) -> bool:
        return any(s["kind"] == "naming" for s in self.sources)

    @property
    def strong(self) -> bool:
        return self.has_code or (self.has_naming and self.containment is not None
                                 and self.containment >= 0.9)


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

    # data evidence for every candidate (needed for naming strength and for reporting)
    with ctx.data() as conn:
        for rel in rels.values():
            if conn is None:
                break
            rel.containment = _containment(conn, rel, ctx.thresholds.sample_size,
                                           ctx.thresholds.orphan_timeout_ms)
            if rel.containment is not None:
                rel.sources.append({"kind": "data", "containment": round(rel.containment, 4)})
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
    return found / total
