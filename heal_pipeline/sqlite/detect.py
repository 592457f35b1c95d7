"""Detection on a SQLite target: the existing checks where they only read the snapshot model, the
SQLite path (an engine hook) where a check needs the data or PostgreSQL's parser.

Reused as is: ``fk_without_index``, ``duplicate_index``, ``no_primary_key`` (snapshot only) and the
code findings ``unsafe_sql`` / ``query_in_loop`` (engine-neutral). SQLite versions here:
``type_mismatch`` (affinity vs the referenced key; code joins), ``orphaned_rows``
(``pragma_foreign_key_check`` — which works with ``foreign_keys`` off — plus implicit
relationships from code joins), ``missing_table`` / ``missing_column`` (the code's SQL parsed in the
SQLite dialect, and the app log), ``unused_table`` (code evidence only). Types that cannot be
checked on SQLite are listed in ``unchecked`` as not applicable — never counted as clean.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

from ..detect import REGISTRY, DetectionResult, SEVERITY_ORDER, object_label
from ..detect.base import DetectContext
from ..model import CodeScan, FailedQuery, Issue, Snapshot
from .applog import classify
from .migrations import find_column, find_table, scan_sqlite_migrations
from .snapshot import SCHEMA
from .sqlparse import analyze

REUSED = ("fk_without_index", "duplicate_index", "no_primary_key", "unsafe_sql", "query_in_loop")
NOT_APPLICABLE = {
    "unused_index": "not applicable on SQLite: it keeps no index scan statistics",
    "invalid_index": "not applicable on SQLite: CREATE INDEX is transactional, an index is never left invalid",
    "slow_query": "not applicable on SQLite: it keeps no statement statistics (no pg_stat_statements)",
    "cast_workaround": "not checked on SQLite: the code-side cast analysis is PostgreSQL-only",
}
MAX_REFS = 20
SAMPLE = 5


def q(name: str) -> str:
    """A SQLite identifier, quoted (sqlite3 has no identifier binding; this is the documented way)."""
    return '"' + name.replace('"', '""') + '"'


def _sqlite_wording(detail: str) -> str:
    """The reused checks' fix hints, in SQLite terms (no CONCURRENTLY; a key change is a rebuild)."""
    detail = detail.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX").replace(
        "DROP INDEX CONCURRENTLY", "DROP INDEX")
    return detail.replace("with ADD PRIMARY KEY USING INDEX", "through a table rebuild (SQLite cannot add a "
                          "primary key in place)")


def _fk_pairs(snap: Snapshot) -> set[tuple[str, str]]:
    out = set()
    for c in snap.constraints:
        if c.kind == "foreign_key":
            for a in c.columns:
                out.add((c.table, a))
    return out


class SqliteDetector:
    def __init__(self, path: Path, snap: Snapshot, code: CodeScan | None, failed: list[FailedQuery],
                 migrations_dirs: tuple = ()):
        self.path, self.snap, self.code, self.failed = path, snap, code, failed
        self.ctx = DetectContext(target_db=snap.target_db, snapshot=snap, code=code, failed=failed,
                                 connect=None, migrations_dirs=tuple(migrations_dirs))
        self.ctx.thresholds.search_path = (SCHEMA,)
        self.tables = {t.name for t in snap.tables}
        self.views = {v.name for v in snap.views}
        self.facts = []  # (statement, Facts)
        if code is not None:
            for st in code.statements:
                self.facts.append((st, analyze(st.sql)))

    def issue(self, issue_type: str, severity: str, detail: str, **kw) -> Issue:
        return self.ctx.issue(issue_type, severity, detail, schema_name=kw.pop("schema_name", SCHEMA), **kw)

    def not_checked(self, check: str, reason: str) -> None:
        self.ctx.not_checked(check, reason)

    # ---- runner -----------------------------------------------------------------------------
    def run(self, conn: sqlite3.Connection, suppressions=()) -> DetectionResult:
        issues: list[Issue] = []
        seconds: dict[str, float] = {}
        for t in REUSED:
            for i in REGISTRY[t]().detect(self.ctx):
                i.detail = _sqlite_wording(i.detail)
                issues.append(i)
        issues.extend(self.type_mismatch())
        issues.extend(self.orphaned_rows(conn))
        issues.extend(self.missing())
        issues.extend(self.unused_table())
        issues.extend(self.unparsed())
        for t, reason in NOT_APPLICABLE.items():
            self.not_checked(t, reason)
        seen, kept, suppressed = set(), [], []
        for i in issues:
            if i.fingerprint not in seen:
                seen.add(i.fingerprint)
                s = next((s for s in suppressions if s.matches(i)), None)
                if s is not None:
                    suppressed.append((i, s))
                else:
                    kept.append(i)
        kept.sort(key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.issue_type, object_label(i)))
        return DetectionResult(kept, suppressed, list(self.ctx.unchecked), seconds)

    # ---- relationships -----------------------------------------------------------------------
    def code_joins(self) -> dict[tuple[tuple[str, str], tuple[str, str]], list[dict]]:
        """(child, parent) column pairs joined in code; the parent side is a primary/unique key."""
        keys = {(c.table, c.columns[0]) for c in self.snap.constraints
                if c.kind in ("primary_key", "unique") and len(c.columns) == 1}
        out: dict = {}
        for st, f in self.facts:
            for a, b in f.joins:
                for child, parent in ((a, b), (b, a)):
                    if parent in keys and child not in keys and child[0] in self.tables:
                        if self.snap.column(SCHEMA, *child) and self.snap.column(SCHEMA, *parent):
                            kind = "code_cast" if (a, b) in f.cast_joins else "code_join"
                            out.setdefault((child, parent), []).append(
                                {"kind": kind, "file": st.file, "line": st.line})
        return out

    def type_mismatch(self) -> Iterable[Issue]:
        snap = self.snap
        for con in snap.constraints:
            if con.kind != "foreign_key":
                continue
            for a, b in zip(con.columns, con.ref_columns):
                ca, cb = snap.column(SCHEMA, con.table, a), snap.column(SCHEMA, con.ref_table or "", b)
                if ca is None or cb is None or ca.type_name == cb.type_name:
                    continue
                yield self.issue(
                    "type_mismatch", "critical",
                    f"{con.table}.{a} has {ca.type_name} affinity (declared {ca.data_type or 'no type'}) but "
                    f"references {con.ref_table}.{b} ({cb.type_name}, declared {cb.data_type or 'no type'}): "
                    "SQLite compares them with different conversions, so equal-looking keys do not match",
                    table_name=con.table, column_name=a,
                    evidence={"child_type": ca.data_type, "child_affinity": ca.type_name,
                              "parent": {"schema": SCHEMA, "table": con.ref_table, "column": b,
                                         "data_type": cb.data_type, "affinity": cb.type_name},
                              "declared_fk": True, "constraint": con.name, "strength": "declared",
                              "sources": [{"kind": "declared_fk", "constraint": con.name}]})
        if self.code is None:
            self.not_checked("type_mismatch", "code not scanned: implicit relationships not checked")
        declared = _fk_pairs(snap)
        for (child, parent), sources in sorted(self.code_joins().items() if self.code is not None else ()):
            if child in declared:
                continue
            ca, cb = snap.column(SCHEMA, *child), snap.column(SCHEMA, *parent)
            if ca.type_name == cb.type_name:
                continue
            yield self.issue(
                "type_mismatch", "critical",
                f"{'.'.join(child)} has {ca.type_name} affinity but is joined in code with "
                f"{'.'.join(parent)} ({cb.type_name}); no FK declares the relationship",
                table_name=child[0], column_name=child[1],
                evidence={"child_type": ca.data_type, "child_affinity": ca.type_name,
                          "parent": {"schema": SCHEMA, "table": parent[0], "column": parent[1],
                                     "data_type": cb.data_type, "affinity": cb.type_name},
                          "declared_fk": False, "constraint": None, "strength": "strong",
                          "sources": sources[:MAX_REFS]})
        for fq in self.failed:
            hit = classify(fq.message)
            if hit and hit[1] == "datatype_mismatch":
                f = analyze(fq.statement) if fq.statement else None
                table = next(iter(sorted(f.tables)), None) if f else None
                if hit[2] and len(hit[2]) == 4:
                    table = hit[2][2]
                yield self.issue(
                    "type_mismatch", "critical",
                    f"the app's writes fail with '{fq.message}' ({fq.count}x)"
                    + (f" on {table}" if table else ""),
                    table_name=table, column_name=hit[2][3] if len(hit[2]) == 4 else None,
                    object_name=None if table else fq.normalized[:200],
                    evidence={"runtime": {"message": fq.message, "count": fq.count,
                                          "statement": (fq.statement or "")[:500], "source": fq.source}})

    def orphaned_rows(self, conn: sqlite3.Connection) -> Iterable[Issue]:
        snap = self.snap
        fk_by = {(c.table, int(c.name.rsplit("_fk", 1)[1])): c for c in snap.constraints
                 if c.kind == "foreign_key"}
        # one pass over every declared FK: works whatever PRAGMA foreign_keys says
        counts: dict[tuple[str, int], list] = {}
        for table, rowid, _parent, fkid in conn.execute("SELECT * FROM pragma_foreign_key_check"):
            c = counts.setdefault((table, fkid), [0, []])
            c[0] += 1
            if len(c[1]) < SAMPLE:
                c[1].append(rowid)
        for (table, fkid), (n, rowids) in sorted(counts.items()):
            con = fk_by.get((table, fkid))
            if con is None:
                continue
            sample = self._values(conn, table, con.columns, rowids)
            yield self.issue(
                "orphaned_rows", "warning",
                f"{n} row(s) of {table} have {', '.join(con.columns)} with no row in {con.ref_table} "
                f"(FK {con.name}, which SQLite does not enforce while foreign_keys is off); e.g. "
                f"{', '.join(map(str, sample[:3]))}",
                table_name=table, column_name=con.columns[0],
                evidence={"parent": {"schema": SCHEMA, "table": con.ref_table, "column": con.ref_columns[0]},
                          "orphans": n, "timed_out": False, "constraint": con.name, "sample": sample,
                          "columns": list(con.columns), "parent_columns": list(con.ref_columns),
                          "sources": [{"kind": "pragma_foreign_key_check"}]})
        if self.code is None:
            self.not_checked("orphaned_rows", "code not scanned: relationships known only from code not checked")
        else:
            declared = _fk_pairs(snap)
            for (child, parent), sources in sorted(self.code_joins().items()):
                ca, cb = snap.column(SCHEMA, *child), snap.column(SCHEMA, *parent)
                if child in declared or ca.type_name != cb.type_name:
                    continue
                where = (f"c.{q(child[1])} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {q(parent[0])} p "
                         f"WHERE p.{q(parent[1])} = c.{q(child[1])})")
                n = conn.execute(f"SELECT count(*) FROM {q(child[0])} c WHERE {where}").fetchone()[0]
                if not n:
                    continue
                sample = [r[0] for r in conn.execute(
                    f"SELECT DISTINCT c.{q(child[1])} FROM {q(child[0])} c WHERE {where} ORDER BY 1 LIMIT {SAMPLE}")]
                yield self.issue(
                    "orphaned_rows", "warning",
                    f"{n} row(s) of {child[0]} have {child[1]} with no row in {parent[0]} (implicit "
                    f"relationship joined in code); e.g. {', '.join(map(str, sample[:3]))}",
                    table_name=child[0], column_name=child[1],
                    evidence={"parent": {"schema": SCHEMA, "table": parent[0], "column": parent[1]},
                              "orphans": n, "timed_out": False, "constraint": None, "sample": sample,
                              "columns": [child[1]], "parent_columns": [parent[1]], "sources": sources[:MAX_REFS]})
        for fq in self.failed:
            hit = classify(fq.message)
            if hit and hit[1] == "foreign_key" and fq.statement:
                tables = sorted(analyze(fq.statement).tables & self.tables)
                if tables:
                    yield self.issue(
                        "orphaned_rows", "warning",
                        f"the app's writes to {tables[0]} fail with 'FOREIGN KEY constraint failed' "
                        f"({fq.count}x): it writes references to parent rows that do not exist",
                        table_name=tables[0], object_name="runtime",
                        evidence={"runtime": {"message": fq.message, "count": fq.count,
                                              "statement": fq.statement[:500], "source": fq.source}})

    @staticmethod
    def _values(conn, table: str, cols: tuple[str, ...], rowids: list) -> list[str]:
        if not rowids or rowids[0] is None:  # WITHOUT ROWID tables: no rowid in the check
            return []
        sel = " || ',' || ".join(f"CAST({q(c)} AS TEXT)" for c in cols)
        marks = ",".join("?" * len(rowids))
        return [r[0] for r in conn.execute(
            f"SELECT DISTINCT {sel} FROM {q(table)} WHERE rowid IN ({marks}) ORDER BY 1", rowids)]

    # ---- code references ------------------------------------------------------------------------
    def missing(self) -> Iterable[Issue]:
        known = self.tables | self.views
        mt: dict[str, dict] = {}
        mc: dict[tuple[str, str], dict] = {}
        if self.code is None:
            self.not_checked("missing_table", "code not scanned")
            self.not_checked("missing_column", "code not scanned")
        for st, f in self.facts:
            if f.error:
                continue
            for t in f.tables:
                if t not in known and not t.startswith("sqlite_") and not t.startswith("pragma_"):
                    m = mt.setdefault(t, {"references": [], "columns": {}})
                    if len(m["references"]) < MAX_REFS:
                        m["references"].append({"file": st.file, "line": st.line})
                    for tbl, col in f.columns:
                        if tbl == t:
                            m["columns"].setdefault(col, None)
            for tbl, col in f.columns:
                if tbl in self.tables and col.lower() not in ("rowid", "oid", "_rowid_") \
                        and self.snap.column(SCHEMA, tbl, col) is None:
                    m = mc.setdefault((tbl, col), {"references": []})
                    if len(m["references"]) < MAX_REFS:
                        m["references"].append({"file": st.file, "line": st.line})
        for fq in self.failed:
            hit = classify(fq.message)
            ref = {"sqlstate": fq.sqlstate, "count": fq.count, "statement": (fq.statement or "")[:500],
                   "message": fq.message, "source": fq.source}
            if hit and hit[1] == "missing_table" and hit[2][0] not in known:
                mt.setdefault(hit[2][0], {"references": [], "columns": {}})["references"].append(ref)
            elif hit and hit[1] == "missing_column":
                qual, col = hit[2]
                f = analyze(fq.statement) if fq.statement else None
                cands = sorted((f.tables if f else set()) & self.tables)
                table = qual if qual in self.tables else None
                if table is None and f is not None:
                    table = next((a for a, c in f.columns if c == col and a in self.tables), None)
                table = table or (cands[0] if len(cands) == 1 else None)
                if table and self.snap.column(SCHEMA, table, col) is None:
                    mc.setdefault((table, col), {"references": []})["references"].append(ref)
        defs = scan_sqlite_migrations(self.ctx.migrations_dirs, self.ctx) if (mt or mc) else []
        for t, m in sorted(mt.items()):
            d = find_table(defs, t)
            yield self.issue(
                "missing_table", "critical",
                f"table {t} is used by the application ({len(m['references'])} reference(s)) but does not "
                "exist in the SQLite file; " + (f"it is defined in migration {d.file}:{d.line}" if d else
                                                 "no migration defines it"),
                table_name=t,
                evidence={"references": m["references"],
                          "columns": [{"name": k, "type": v} for k, v in m["columns"].items()],
                          "migration": {"file": d.file, "line": d.line, "sql": d.sql} if d else None})
        for (t, c), m in sorted(mc.items()):
            d = find_column(defs, t, c)
            yield self.issue(
                "missing_column", "critical",
                f"column {t}.{c} is used by the application ({len(m['references'])} reference(s)) but does "
                "not exist" + (f"; migration {d.file}:{d.line} defines it as {d.column_type}" if d else ""),
                table_name=t, column_name=c,
                evidence={"references": m["references"], "inferred_type": d.column_type if d else None,
                          "migration": {"file": d.file, "line": d.line, "sql": d.sql} if d else None})

    def unused_table(self) -> Iterable[Issue]:
        if self.code is None:
            self.not_checked("unused_table", "code not scanned: cannot tell which tables the code uses")
            return
        used = set()
        for _st, f in self.facts:
            used |= f.tables
        if any(f.error for _st, f in self.facts):
            self.not_checked("unused_table", "some statements could not be parsed; their tables count as used")
        in_views = {d.table_name for d in self.snap.view_dependencies}
        in_fks = set()
        for c in self.snap.constraints:
            if c.kind == "foreign_key":
                in_fks |= {c.table, c.ref_table}
        in_triggers = {t.table for t in self.snap.triggers}
        trigger_text = " ".join(t.definition.lower() for t in self.snap.triggers)
        for t in self.snap.tables:
            if (t.kind != "table" or t.name in used or t.name in in_views or t.name in in_fks
                    or t.name in in_triggers or t.name.lower() in trigger_text):
                continue
            if any(f.error for _st, f in self.facts):
                break
            yield self.issue(
                "unused_table", "info",
                f"table {t.name} is not referenced by the code, any view, trigger or FK. Evidence is the "
                "code only: SQLite keeps no scan statistics, so reads by other programs cannot be seen",
                table_name=t.name,
                evidence={"basis": "code evidence only", "scan_statistics": "not kept by SQLite",
                          "statements_scanned": len(self.facts)})

    def unparsed(self) -> Iterable[Issue]:
        for st, f in self.facts:
            if f.error:
                yield self.issue("unparsed_sql", "info",
                                 f"SQL at {st.file}:{st.line} does not parse in the SQLite dialect: {f.error}",
                                 schema_name=None, file=st.file, line=st.line,
                                 evidence={"error": f.error, "sql": st.sql[:500]})
