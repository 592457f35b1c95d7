"""Structural drift between two snapshots: what was added, dropped or changed."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..model import Snapshot


def _diff(old: Iterable[Any], new: Iterable[Any], key: Callable[[Any], tuple],
          shape: Callable[[Any], tuple]) -> dict[str, list[str]]:
    o = {key(x): x for x in old}
    n = {key(x): x for x in new}
    name = lambda k: ".".join(str(p) for p in k)  # noqa: E731
    added = sorted(name(k) for k in n.keys() - o.keys())
    dropped = sorted(name(k) for k in o.keys() - n.keys())
    changed = sorted(name(k) for k in n.keys() & o.keys() if shape(n[k]) != shape(o[k]))
    return {"added": added, "dropped": dropped, "changed": changed}


def compute_drift(old: Snapshot | None, new: Snapshot) -> dict[str, dict[str, list[str]]]:
    """Per object kind, the qualified names added, dropped and changed. ``old=None``: all added."""
    empty = Snapshot(target_db=new.target_db, database=new.database, server_version="",
                     server_version_num=0, taken_at="")
    old = old or empty
    return {
        "tables": _diff(old.tables, new.tables, lambda t: (t.schema, t.name),
                        lambda t: (t.kind, t.persistence)),
        "columns": _diff(old.columns, new.columns, lambda c: (c.schema, c.table, c.name),
                         lambda c: (c.data_type, c.not_null, c.default, c.identity, c.generated)),
        "indexes": _diff(old.indexes, new.indexes, lambda i: (i.schema, i.table, i.name),
                         lambda i: (i.definition, i.is_valid)),
        "constraints": _diff(old.constraints, new.constraints,
                             lambda c: (c.schema, c.table, c.name),
                             lambda c: (c.definition, c.validated)),
        "views": _diff(old.views, new.views, lambda v: (v.schema, v.name),
                       lambda v: (v.materialized, v.definition)),
    }


def drift_total(drift: dict[str, dict[str, list[str]]]) -> int:
    return sum(len(v) for kinds in drift.values() for v in kinds.values())


def drift_rows(drift: dict[str, dict[str, list[str]]]) -> list[dict[str, str]]:
    """Flatten for a table display: one row per (kind, change, object)."""
    rows = []
    for kind, changes in drift.items():
        for change, names in changes.items():
            for n in names:
                rows.append({"kind": kind, "change": change, "object": n})
    return rows
