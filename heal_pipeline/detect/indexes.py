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


def duplicate_indexes(snap: Snapshot) -> list[tuple[Index, Index, str]]:
    """(redundant, covering, kind) for every redundant index — shared by unused_index."""
    out: list[tuple[Index, Index, str]] = []
    by_table: dict[tuple[str, str], list[Index]] = {}
    for ix in snap.indexes:
        if examined_schema(ix.schema) and ix.is_valid:
            by_table.setdefault((ix.schema, ix.table), []).append(ix)
    for _key, ixs in sorted(by_table.items()):
        ixs = sorted(ixs, key=lambda i: i.name)
        reported: set[str] = set()
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
