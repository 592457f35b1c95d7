"""Index facts shared by the index checks (no issue types here)."""

from __future__ import annotations

from ..model import Index, Snapshot
from .base import examined_schema


def usable(ix: Index) -> bool:
    """A valid, non-partial index whose leading key columns are plain columns."""
    return ix.is_valid and ix.is_ready and ix.predicate is None


def fk_is_covered(snap: Snapshot, schema: str, table: str, columns: tuple[str, ...]) -> bool:
    """True when the FK columns are the leading key columns, in order, of a usable index."""
    n = len(columns)
    for ix in snap.indexes_of(schema, table):
        if not usable(ix) or ix.method != "btree":
            continue
        if tuple(ix.key_columns[:n]) == tuple(columns):
            return True
    return False


def index_name(table: str, columns: tuple[str, ...]) -> str:
    base = f"{table}_{'_'.join(columns)}_idx"
    return base if len(base.encode()) <= 63 else base.encode()[:63].decode(errors="ignore")


def signature(ix: Index) -> tuple:
    return (ix.method, tuple(ix.key_columns), ix.expressions or "", ix.predicate or "",
            tuple(ix.opclasses[: ix.key_count]))


def droppable(ix: Index) -> bool:
    return not (ix.is_unique or ix.is_primary or ix.constraint_name or ix.is_exclusion)


def _unique_signature(ix: Index) -> tuple:
    """What must also match for two unique indexes to enforce the same rule (and serve the same scans)."""
    return (ix.columns[ix.key_count:], "NULLS NOT DISTINCT" in (ix.definition or "").upper())


def _keep_rank(ix: Index, fk_refs: dict[tuple[str, str], list[str]]) -> tuple:
    """Lower = keep first: the primary key, then a constraint's index, then one FKs reference, then the
    earlier name (a later-named twin is the one reported, as for non-unique indexes)."""
    return (not ix.is_primary, ix.constraint_name is None, not fk_refs.get((ix.schema, ix.name)), ix.name)


def referenced_by_fks(snap: Snapshot) -> dict[tuple[str, str], list[str]]:
    """(schema, index) → FKs whose referenced key is enforced by that unique index (conindid)."""
    out: dict[tuple[str, str], list[str]] = {}
    for c in snap.constraints:
        if c.kind == "foreign_key" and c.index_name and c.ref_schema:
            out.setdefault((c.ref_schema, c.index_name), []).append(c.name)
    return out


def _identical_unique(a: Index, b: Index, deferrable: set[tuple[str, str]]) -> bool:
    if not (a.is_unique and b.is_unique) or a.is_exclusion or b.is_exclusion:
        return False
    if (a.schema, a.constraint_name) in deferrable or (b.schema, b.constraint_name) in deferrable:
        return False  # a deferrable constraint checks at commit: not the same rule as an immediate one
    return signature(a) == signature(b) and _unique_signature(a) == _unique_signature(b)


def duplicate_indexes(snap: Snapshot) -> list[tuple[Index, Index, str]]:
    """(redundant, covering, kind) for every redundant index — shared by unused_index.

    kind ``identical`` (same definition; two identical UNIQUE indexes too: one is kept), or ``prefix``
    (a non-unique index whose plain key columns lead another index of the same method/predicate)."""
    out: list[tuple[Index, Index, str]] = []
    by_table: dict[tuple[str, str], list[Index]] = {}
    for ix in snap.indexes:
        if examined_schema(ix.schema) and ix.is_valid:
            by_table.setdefault((ix.schema, ix.table), []).append(ix)
    fk_refs = referenced_by_fks(snap)
    deferrable = {(c.schema, c.name) for c in snap.constraints if c.deferrable}
    for _key, ixs in sorted(by_table.items()):
        ixs = sorted(ixs, key=lambda i: i.name)
        reported: set[str] = set()
        kept: set[str] = set()
        # identical unique indexes: keep the best-ranked of each group, report the others
        uniques = [i for i in ixs if i.is_unique and not i.is_exclusion]
        for a in uniques:
            if a.name in reported or a.name in kept:
                continue
            twins = [b for b in uniques if b is not a and b.name not in reported and b.name not in kept
                     and _identical_unique(a, b, deferrable)]
            if not twins:
                continue
            group = sorted([a, *twins], key=lambda i: _keep_rank(i, fk_refs))
            keep = group[0]
            for red in group[1:]:
                out.append((red, keep, "identical"))
                reported.add(red.name)
            kept.add(keep.name)
        for a in ixs:
            if not droppable(a) or a.name in reported:
                continue
            sig_a = signature(a)
            for b in ixs:
                if b is a or b.name in reported:
                    continue
                sig_b = signature(b)
                if sig_a == sig_b:
                    # identical: keep the constraint/unique one, else keep the earlier name
                    if droppable(b) and b.name > a.name:
                        continue  # b will be reported as the redundant one
                    out.append((a, b, "identical"))
                    reported.add(a.name)
                    break
                # prefix: a's plain key columns are a leading prefix of b's (same method/predicate)
                if (a.method == b.method and (a.predicate or "") == (b.predicate or "")
                        and a.expressions is None and b.expressions is None
                        and None not in a.key_columns
                        and len(a.key_columns) < len(b.key_columns)
                        and tuple(b.key_columns[: len(a.key_columns)]) == tuple(a.key_columns)
                        and tuple(b.opclasses[: len(a.key_columns)]) == tuple(a.opclasses[: len(a.key_columns)])):
                    out.append((a, b, "prefix"))
                    reported.add(a.name)
                    break
    return out
