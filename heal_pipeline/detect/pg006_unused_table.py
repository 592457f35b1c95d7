"""unused_table: no code use, no view, and no statistics growth over the observation window."""

from __future__ import annotations

from typing import Iterable

from ..model import CodeScan, Issue, SqlStatement
from .base import Check, DetectContext, examined_schema, register
from .coderefs import resolver
from .usage import COUNTERS, UsageBaseline, counters, epoch_baseline

#: statement types that name a table without using its rows: defining, dropping, altering, indexing,
#: commenting, granting, truncating it. CREATE TABLE … AS / CREATE VIEW … AS read their query's tables.
_DDL_ONLY = {"CreateStmt", "DropStmt", "AlterTableStmt", "IndexStmt", "CommentStmt", "GrantStmt",
             "RenameStmt", "TruncateStmt", "VacuumStmt", "ClusterStmt", "ReindexStmt", "AlterObjectSchemaStmt",
             "AlterOwnerStmt", "CreateTrigStmt", "RuleStmt", "LockStmt", "CreatePolicyStmt", "AlterPolicyStmt",
             "CreateStatsStmt", "AlterTableMoveAllStmt"}
_DEFINES_FROM_QUERY = {"CreateTableAsStmt": "into", "ViewStmt": "view"}


def _rangevar(node) -> tuple[str | None, str] | None:
    rel = getattr(node, "rel", node)
    name = getattr(rel, "relname", None)
    return (getattr(rel, "schemaname", None) or None, name) if name else None


def ddl_targets(st: SqlStatement) -> tuple[set[tuple[str | None, str]], bool] | None:
    """(tables the statement only defines/drops/alters, True when it names nothing else) for DDL,
    None when the statement uses its tables (a query, a write, or text pglast cannot parse)."""
    if st.statement_kind not in ("DDL", "OTHER"):
        return None
    try:
        import pglast  # noqa: PLC0415

        stmts = pglast.parse_sql(st.sql)
    except Exception:  # noqa: BLE001 - unparseable text: count it as use (never a false "unused")
        return None
    targets: set[tuple[str | None, str]] = set()
    only = True
    for raw in stmts:
        node = raw.stmt
        kind = type(node).__name__
        if kind in _DDL_ONLY:
            continue  # every table such a statement names is a DDL-only reference
        if kind in _DEFINES_FROM_QUERY:
            rv = _rangevar(getattr(node, _DEFINES_FROM_QUERY[kind]))
            if rv:
                targets.add(rv)
            only = False  # its query reads other tables: those are uses
            continue
        return None
    return targets, only


def code_uses(ctx: DetectContext, code: CodeScan) -> tuple[set, dict]:
    """(tables the code uses, {table: [DDL-only references]}) — a table named only by DDL is not used."""
    def build():
        r = resolver(ctx)
        used: set[tuple[str, str]] = set()
        ddl: dict[tuple[str, str], list[dict]] = {}
        for st in code.statements:
            judged = ddl_targets(st)
            for t in st.tables:
                rel = r.table(t.schema, t.name)
                if rel is None:
                    continue
                if judged is not None and (judged[1] or (t.schema, t.name) in judged[0]
                                           or (None, t.name) in judged[0]):
                    refs = ddl.setdefault(rel, [])
                    if len(refs) < 5:
                        refs.append({"file": st.file, "line": st.line, "sql": st.sql[:120]})
                    continue
                used.add(rel)
            for d in st.ddl:  # what the statement creates/drops is in ``ddl``, not ``tables`` (d12b)
                rel = r.table(d.schema, d.name)
                refs = ddl.setdefault(rel, []) if rel is not None else None
                if refs is not None and len(refs) < 5:
                    refs.append({"file": st.file, "line": st.line, "sql": st.sql[:120]})
        return used, ddl
    return ctx.memo("unused_table:code_uses", build)  # type: ignore[return-value]


@register
class UnusedTable(Check):
    """A table nothing used during the observation window: no code use, no view, no counter growth.

    Requires all of: no reference in the application's SQL other than DDL (``CREATE TABLE IF NOT
    EXISTS``, ``DROP``, ``ALTER``, ``TRUNCATE``, ``COMMENT``, ``GRANT`` name a table without using
    its rows), no view depending on it, and no growth of ``seq_scan``, ``idx_scan``, ``n_tup_ins``,
    ``n_tup_upd`` or ``n_tup_del`` **between the baseline and now**, after removing the scans heal
    itself caused (heal.own_reads), and not the target of a foreign key of a *live* table (one the
    code uses or whose counters grew: each write to it consults this one). The baseline is the
    newest stored snapshot at least
    ``HEAL_OBSERVATION_WINDOW`` old in the same statistics epoch, else the epoch start
    (``stats_reset``) when that is old enough (heal_pipeline/detect/usage.py; the same rule for
    ``heal check`` and Dagster). Building the schema before the baseline no longer marks every table
    used. Other foreign keys are evidence (listed), not a veto. The fix archives the table (moves it to the
    ``heal_archive`` schema); heal never drops it.

    Anti-pattern::

        -- legacy_exports: written once in 2019, read by nothing since

    Best practice::

        ALTER TABLE legacy_exports SET SCHEMA heal_archive;  -- reversible; drop later by hand
    """

    issue_type = "unused_table"
    code = "PG006"
    name = "schema.unused_table"
    severity = "info"
    fixable = True
    needs = ("snapshot", "code")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        if ctx.code is None:
            ctx.not_checked("unused_table", "code not scanned: cannot tell which tables the code uses")
            return
        base = self.baseline(ctx)
        if isinstance(base, str):
            ctx.not_checked("unused_table", base)
            return
        snap = ctx.snapshot
        used, ddl = code_uses(ctx, ctx.code)
        in_views = {(d.table_schema, d.table_name) for d in snap.view_dependencies}
        fks: dict[tuple[str, str], list[dict]] = {}
        for c in snap.constraints:
            if c.kind == "foreign_key":
                fks.setdefault((c.schema, c.table), []).append(
                    {"constraint": c.name, "references": f"{c.ref_schema}.{c.ref_table}"})
                fks.setdefault((c.ref_schema, c.ref_table), []).append(
                    {"constraint": c.name, "referenced_by": f"{c.schema}.{c.table}"})
        idle: dict[tuple[str, str], tuple] = {}  # tables without activity: (table, deltas, heal reads)
        live: set[tuple[str, str]] = set(used)  # used by code, or counters grew over the window
        for t in snap.tables:
            key = (t.schema, t.name)
            if t.kind != "table" or not examined_schema(t.schema) or key in used:
                continue
            before = base.before(key)
            if before is None:
                live.add(key)  # created after the baseline: too young to have been watched for a window
                continue
            heal = base.own_reads.get(key, (0, 0))
            grew = [n - b for n, b in zip(counters(t), before)]
            if any(g < 0 for g in grew):
                live.add(key)
                ctx.not_checked("unused_table", f"{t.schema}.{t.name}: counters went backwards since the "
                                f"baseline of {base.at.isoformat()} (statistics reset): not judged")
                continue
            grew[0] -= heal[0]
            grew[1] -= heal[1]
            if any(g > 0 for g in grew):
                live.add(key)
                continue
            idle[key] = (t, dict(zip(COUNTERS, (max(g, 0) for g in grew))), heal)
        # FKs are evidence, not a veto: the parent of a live table is in use as that FK's target (each
        # write to the child consults it); an FK only to or from idle tables does not make a table used
        fk_target_of_live = {(c.ref_schema, c.ref_table): c.name for c in snap.constraints
                             if c.kind == "foreign_key" and (c.schema, c.table) in live}
        for key, (t, deltas, heal) in sorted(idle.items()):
            if key in in_views or key in fk_target_of_live:
                continue
            fk_note = (f"; it takes part in {len(fks[key])} FK(s) ({', '.join(f['constraint'] for f in fks[key][:3])})"
                       " with tables just as idle — evidence, not use" if key in fks else "")
            ddl_note = (f"; the code names it only in DDL ({ddl[key][0]['file']}:{ddl[key][0]['line']})"
                        if key in ddl else "")
            yield ctx.issue(
                "unused_table", self.severity,
                f"table {t.schema}.{t.name} (~{max(t.estimated_rows, 0)} rows) is not used by the code or any "
                f"view and its scans and writes did not grow {base.since()}, heal's own reads excluded"
                f"{fk_note}{ddl_note}. "
                f"Fix: archive it (ALTER TABLE … SET SCHEMA heal_archive)",
                schema_name=t.schema, table_name=t.name,
                evidence={"seq_scan": t.seq_scan, "idx_scan": t.idx_scan, "stats_since": snap.stats_reset,
                          "estimated_rows": t.estimated_rows, "window": base.describe(), "deltas": deltas,
                          "heal_reads": {"seq_scan": heal[0], "idx_scan": heal[1]},
                          "foreign_keys": fks.get(key, []), "ddl_references": ddl.get(key, [])})

    @staticmethod
    def baseline(ctx: DetectContext) -> UsageBaseline | str:
        window = ctx.thresholds.observation_window_s

        def build():
            if ctx.stats_coverage_s == float("inf"):  # re-detection after a fix: the window counts as covered
                return epoch_baseline(ctx.snapshot, window, covered=True)
            if ctx.usage is not None:  # heal check and the Dagster issue_set (heal_pipeline.scan.make_context)
                return ctx.usage()
            # a caller without a heal store that vouches for how long the counters have accumulated
            cov = ctx.stats_coverage_s
            if cov is not None and cov >= window:
                return epoch_baseline(ctx.snapshot, window, covered=True, coverage_s=cov)
            return (f"no statistics baseline at least {window:.0f}s old (no heal store history; the "
                    f"counters cover {cov or 0:.0f}s)")
        return ctx.memo("unused_table:baseline", build)  # type: ignore[return-value]
