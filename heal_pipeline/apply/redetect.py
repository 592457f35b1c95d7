"""Default re-detection: is the issue a plan was made for still present in a fresh snapshot?

Callers (the ``applied_fixes`` asset) should pass the real detector as ``redetect``; these
structural checks are the fallback so the executor never depends on the detectors' module.
Each returns True when the issue is **still there**.
"""

from __future__ import annotations

from typing import Callable

from ..model import FixPlan, Snapshot


def _covered(snap: Snapshot, schema: str, table: str, columns: list[str]) -> bool:
    for i in snap.indexes_of(schema, table):
        if (i.is_valid and not i.predicate and not i.expressions
                and list(i.key_columns[: len(columns)]) == columns):
            return True
    return False


def default_redetect(plan: FixPlan) -> Callable[[Snapshot], bool] | None:
    iss = plan.issue or {}
    t = plan.issue_type
    s, tb, c, o = iss.get("schema_name"), iss.get("table_name"), iss.get("column_name"), iss.get("object_name")
    ev = iss.get("evidence") or {}

    if t == "fk_without_index":
        def fk(snap: Snapshot) -> bool:
            con = next((x for x in snap.constraints_of(s, tb) if x.name == o and x.kind == "foreign_key"), None)
            cols = list(con.columns) if con else list(ev.get("columns") or [])
            return con is not None and not _covered(snap, s, tb, cols)
        return fk
    if t == "type_mismatch":
        p = ev.get("parent") or {}

        def tm(snap: Snapshot) -> bool:
            child = snap.column(s, tb, c)
            parent = snap.column(p.get("schema") or s, p.get("table") or "", p.get("column") or "id")
            if child is None:
                return False
            want = parent.data_type if parent else p.get("data_type")
            return child.data_type != want
        return tm
    if t == "missing_table":
        return lambda snap: snap.table(s or "public", tb) is None
    if t == "missing_column":
        return lambda snap: snap.table(s or "public", tb) is not None and snap.column(s or "public", tb, c) is None
    if t == "orphaned_rows":
        p = ev.get("parent") or {}

        def orph(snap: Snapshot) -> bool:
            return not any(x.kind == "foreign_key" and x.validated and list(x.columns) == [c]
                           and x.ref_table == p.get("table") and x.ref_schema == (p.get("schema") or s)
                           for x in snap.constraints_of(s, tb))
        return orph
    if t == "unused_table":
        return lambda snap: snap.table(s, tb) is not None
    if t in ("duplicate_index", "unused_index"):
        return lambda snap: any(i.name == o for i in snap.indexes_of(s, tb))
    if t == "invalid_index":
        return lambda snap: any(i.name == o and not i.is_valid for i in snap.indexes_of(s, tb))
    if t == "no_primary_key":
        return lambda snap: not any(x.kind == "primary_key" for x in snap.constraints_of(s, tb))
    return None
