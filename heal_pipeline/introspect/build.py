"""Catalog rows → model objects, for ``snapshot.py``.

Each builder takes one query's column names and rows (tuples, SELECT lists in the dataclass field
order, optional trailing ``_``-columns that are not fields). Column arrays come back as attnums and
are named here from the columns query; plain index and constraint definitions are spelt here
(``indexdef.py``, ``constraintdef.py``). What cannot be spelt is appended to an ``unspelt`` list for
the caller to ask the server in the same transaction.

The builders run while other catalog queries are still executing on other connections (see
``snapshot.py``), so a 10,000-table snapshot's ~100,000 objects cost little wall time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .. import model
from ..errors import HealError
from .constraintdef import spell_constraint
from .indexdef import Quoter, spell

TEXT_OID, VARCHAR_OID = 25, 1043  # fixed built-in oids (pg_type.dat)
_EMPTY: dict = {}


def check_order(typ: type, names: Sequence[str]) -> int:
    """Number of leading columns that are ``typ``'s fields, in order; raises if they do not match."""
    n = next((i for i, name in enumerate(names) if name.startswith("_")), len(names))
    fields = [f.name for f in dataclasses.fields(typ)]
    if list(names[:n]) != fields[:n]:
        raise HealError(f"internal: catalog query columns {list(names[:n])} do not match {typ.__name__} fields")
    return n


@dataclasses.dataclass(slots=True)
class ColumnIndex:
    """Per relation (schema, table): attnum → column name, and attnum → (type oid, collation oid,
    is a domain) for the default-opclass test of index keys."""

    names: dict[tuple[str, str], dict[int, str]]
    types: dict[tuple[str, str], dict[int, tuple]]


def build_columns(names: Sequence[str], rows: list[tuple]) -> tuple[list[model.Column], ColumnIndex]:
    nf = check_order(model.Column, names)
    Column = model.Column
    columns = []
    append = columns.append
    by_rel: dict[tuple[str, str], dict[int, str]] = {}
    types: dict[tuple[str, str], dict[int, tuple]] = {}
    ks = kt = None
    m: dict[int, str] = {}
    t: dict[int, tuple] = {}
    for r in rows:  # ordered by (relation oid, attnum) in SQL: one relation's columns are adjacent
        append(Column(*r[:nf]))
        if r[1] != kt or r[0] != ks:
            ks, kt = r[0], r[1]
            m = by_rel.setdefault((ks, kt), {})
            t = types.setdefault((ks, kt), {})
        m[r[3]] = r[2]
        t[r[3]] = r[nf:]
    return columns, ColumnIndex(by_rel, types)


def build_rows(typ: type, names: Sequence[str], rows: list[tuple]) -> list:
    nf = check_order(typ, names)
    if nf == len(names):
        return [typ(*r) for r in rows]
    return [typ(*r[:nf]) for r in rows]


def _names(m: Mapping[int, str], attnums) -> tuple[tuple, list[str] | None]:
    """(names for the model, with ``#n`` for an attnum the columns query did not see; the names, or
    None when one is unknown — then the server spells the definition)."""
    if not attnums:
        return (), []
    found = [m.get(n) for n in attnums]
    if None in found:
        return tuple([x or f"#{n}" for x, n in zip(found, attnums, strict=True)]), None
    return tuple(found), found


CONSTRAINT_TRAILING = ["_match", "_deferred", "_ref_visible", "_nulls_not_distinct", "_oid", "_xmin"]


def build_constraints(names: Sequence[str], rows: list[tuple], cols: ColumnIndex, quote: Quoter,
                      unspelt: list[tuple[int, model.Constraint]],
                      checks: list[tuple[int, str, model.Constraint]]) -> list[model.Constraint]:
    """``checks`` receives the CHECK constraints whose text comes from ``checkdefs.py`` as (oid, xmin, c);
    ``unspelt`` the others the server must spell, as (oid, c)."""
    nf = check_order(model.Constraint, names)
    if nf != len(dataclasses.fields(model.Constraint)) or list(names[nf:]) != CONSTRAINT_TRAILING:
        raise HealError(f"internal: constraints query columns {list(names)} are not the expected ones")
    by_rel = cols.names
    Constraint = model.Constraint
    out = []
    append = out.append
    for (schema, table, name, kind, attnums, definition, validated, deferrable, ref_schema, ref_table,
         ref_attnums, on_delete, on_update, index_name, match, deferred, ref_visible, nnd, oid, xmin) in rows:
        columns, known = _names(by_rel.get((schema, table), _EMPTY), attnums)
        if ref_attnums:
            ref_columns, ref_known = _names(by_rel.get((ref_schema, ref_table), _EMPTY), ref_attnums)
        else:
            ref_columns, ref_known = (), []
        if definition is None and xmin is None:
            definition = spell_constraint(
                quote, kind=kind, columns=known, ref_columns=ref_known, ref_schema=ref_schema,
                ref_table=ref_table, ref_visible=ref_visible, match=match, on_update=on_update,
                on_delete=on_delete, deferrable=deferrable, deferred=deferred, validated=validated,
                nulls_not_distinct=nnd)
        c = Constraint(schema, table, name, kind, columns, definition, validated, deferrable, ref_schema,
                       ref_table, ref_columns, on_delete, on_update, index_name)
        if definition is None:
            if xmin is not None:
                checks.append((oid, xmin, c))
            else:
                unspelt.append((oid, c))
        append(c)
    return out


@dataclasses.dataclass(slots=True)
class Opclasses:
    """pg_opclass: oid → name, and what GetDefaultOpClass needs."""

    names: dict[int, str]
    info: dict[int, tuple[bool, int, int]]  # oid → (opcdefault, opcintype, opcmethod)
    varchar_default: frozenset[int]  # access methods with a default opclass for varchar itself

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> Opclasses:
        return cls({r[0]: r[1] for r in rows}, {r[0]: (r[2], r[3], r[4]) for r in rows},
                   frozenset(r[4] for r in rows if r[2] and r[3] == VARCHAR_OID))

    def default_keys(self, attnums, key_count: int, classes, collations,
                     types: Mapping[int, tuple]) -> bool:
        """Every key column uses its type's default opclass and its own collation — what
        ``pg_get_indexdef`` leaves unprinted (the SQL this replaces is in git history of 04_indexes)."""
        info = self.info
        for pos in range(key_count):
            col = types.get(attnums[pos])
            opc = info.get(classes[pos])
            if col is None or opc is None:
                return False
            type_oid, coll_oid, domain = col
            is_default, intype, method = opc
            coll = collations[pos] if pos < len(collations) else 0
            if not is_default or domain or (coll != 0 and coll != coll_oid):
                return False
            if intype != type_oid and not (type_oid == VARCHAR_OID and intype == TEXT_OID
                                           and method not in self.varchar_default):
                return False
        return True


INDEX_TRAILING = ["_oid", "_options", "_partitioned", "_nulls_not_distinct", "_collations"]


def build_indexes(names: Sequence[str], rows: list[tuple], cols: ColumnIndex, opclasses: Opclasses,
                  quote: Quoter, unspelt: list[tuple[int, model.Index]]) -> list[model.Index]:
    nf = check_order(model.Index, names)
    if nf != len(dataclasses.fields(model.Index)) or list(names[nf:]) != INDEX_TRAILING:
        raise HealError(f"internal: indexes query columns {list(names)} are not the expected ones")
    by_rel, by_type = cols.names, cols.types
    opc_names = opclasses.names
    default_keys = opclasses.default_keys
    Index = model.Index
    out = []
    append = out.append
    for (schema, table, name, definition, method, attnums, key_count, expressions, predicate, is_unique,
         is_primary, is_valid, is_ready, is_exclusion, constraint_name, classes, size_bytes, idx_scan,
         idx_tup_read, last_idx_scan, oid, options, partitioned, nnd, collations) in rows:
        attnums = attnums or ()
        classes = classes or ()
        rel = (schema, table)
        m = by_rel.get(rel, _EMPTY)
        columns = tuple([None if n == 0 else (m.get(n) or f"#{n}") for n in attnums])
        if definition is None and default_keys(attnums, key_count, classes, collations or (),
                                               by_type.get(rel, _EMPTY)):
            definition = spell(quote, schema=schema, table=table, name=name, method=method,
                               attnums=attnums, key_count=key_count, options=options or (),
                               is_unique=is_unique, partitioned=partitioned, nulls_not_distinct=nnd,
                               predicate=predicate, column_names=m)
        ix = Index(schema, table, name, definition, method, columns, key_count, expressions, predicate,
                   is_unique, is_primary, is_valid, is_ready, is_exclusion, constraint_name,
                   tuple([opc_names.get(o) or str(o) for o in classes]), size_bytes, idx_scan,
                   idx_tup_read, last_idx_scan)
        if definition is None:
            unspelt.append((oid, ix))
        append(ix)
    return out


def sum_index_scans(tables: list[model.Table], indexes: list[model.Index]) -> None:
    """Table-level index scan counters, as pg_stat_all_tables would sum them (tables come with 0)."""
    scans: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], str] = {}
    for i in indexes:
        if not i.idx_scan and not i.last_idx_scan:
            continue
        k = (i.schema, i.table)
        scans[k] = scans.get(k, 0) + (i.idx_scan or 0)
        if i.last_idx_scan and (k not in last or i.last_idx_scan > last[k]):
            last[k] = i.last_idx_scan
    if not scans:
        return
    for t in tables:
        k = (t.schema, t.name)
        if k in scans:
            t.idx_scan = scans[k]
            t.last_idx_scan = last.get(k)


__all__ = ["ColumnIndex", "Opclasses", "build_columns", "build_constraints", "build_indexes", "build_rows",
           "check_order", "sum_index_scans"]
