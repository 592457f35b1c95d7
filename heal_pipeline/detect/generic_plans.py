"""slow_query, *likely slow*: code statements whose generic plan reads a large table sequentially to
keep a few rows (``EXPLAIN (GENERIC_PLAN)``, PostgreSQL 16+). Never executes a statement.

Rule. Every scanned ``SELECT``/``UPDATE``/``DELETE`` that the verifier sent and the server accepted
(:func:`heal_pipeline.verify.prepare_text`: placeholders as ``$n``, nothing dynamic) is explained with
``EXPLAIN (GENERIC_PLAN, FORMAT JSON)`` — planning only, parameters unknown — in a ``READ ONLY``
transaction that is rolled back (``application_name = heal_verify``, so the log reader never takes
heal's own errors for the application's), each statement under ``statement_timeout``, one round trip
each, over the simple query protocol (a failure rolls back and starts a fresh transaction). A plan node ``Seq Scan`` / ``Parallel Seq Scan`` with a ``Filter`` on a table with at least
``Thresholds.likely_slow_min_rows`` (100,000) estimated rows (``pg_class.reltuples`` from the snapshot)
whose estimated output is at most ``Thresholds.likely_slow_selectivity`` (1 %) of the table is
*likely slow*: the whole table is read to return a small part of it — an index on the filter's
columns would avoid it. One ``slow_query`` issue per statement site (``file``, ``line``), severity
``warning``, evidence ``source: generic_plan``, ``verdict: likely slow``, ``table``, ``filter``,
``table_rows``, ``estimated_rows``, ``selectivity``, ``total_cost``, ``sql``.

Not checked (``ctx.not_checked``): servers before 16 (``EXPLAIN (GENERIC_PLAN)`` does not exist), no
connection, and statements whose EXPLAIN timed out or failed for another reason than the statement
itself (a statement the server rejects is ``broken_statement``'s business and is skipped here).
"""

from __future__ import annotations

import json
from typing import Iterable

from ..model import Issue
from .base import DetectContext, examined_schema

_KINDS = ("SELECT", "UPDATE", "DELETE")
_SEQ = ("Seq Scan", "Parallel Seq Scan")
_STATEMENT_ERRORS = ("42", "22", "0A")  # the statement itself is wrong: not a failure of this check


def _walk(plan: dict, out: list[dict]) -> None:
    out.append(plan)
    for child in plan.get("Plans") or ():
        _walk(child, out)


def seq_scans(plan_json) -> list[dict]:
    """Every ``Seq Scan`` node with a ``Filter`` in an ``EXPLAIN (FORMAT JSON)`` result."""
    if isinstance(plan_json, str):
        plan_json = json.loads(plan_json)
    nodes: list[dict] = []
    for top in plan_json or ():
        _walk(top.get("Plan") or {}, nodes)
    return [n for n in nodes if n.get("Node Type") in _SEQ and n.get("Filter")]


def _explain_all(conn, todo, session):
    """(statement, EXPLAIN row, error) per statement, one simple-protocol round trip each (a generic
    plan's ``$n`` cannot go through the extended protocol: Bind would have to supply them); a
    failure rolls the transaction back and starts a fresh one for the rest."""
    from psycopg import sql as _sql  # noqa: PLC0415

    out = []
    for st, text in todo:
        try:  # prepare=False: a server-side prepared EXPLAIN would own the $n itself
            row = conn.execute(_sql.SQL("EXPLAIN (GENERIC_PLAN, FORMAT JSON) ") + _sql.SQL(text),  # type: ignore[arg-type]
                               prepare=False).fetchone()
            out.append((st, row, None))
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            conn.rollback()
            session()
            out.append((st, None, exc))
    return out


def _fingerprint(sql: str | None) -> str | None:
    from .pg011_broken_statement import _fingerprint as fp  # noqa: PLC0415

    return fp(sql)


def sent_text(ctx: DetectContext, st) -> str | None:
    """What the verifier sends for ``st`` (``prepare_text``), computed once per statement and run."""
    texts = ctx.memo("sent_texts", dict)
    if st.statement_id not in texts:  # type: ignore[operator]
        from ..verify import prepare_text  # noqa: PLC0415

        texts[st.statement_id] = prepare_text(st).text  # type: ignore[index]
    return texts[st.statement_id]  # type: ignore[index]


def likely_slow(ctx: DetectContext, measured: list[Issue] = ()) -> Iterable[Issue]:
    """The likely-slow issues; a statement already ``measured`` slow (pg_stat_statements or the log,
    same pglast fingerprint) gets its call sites as ``evidence.code_sites`` instead."""
    code = ctx.code
    if code is None:
        return  # code-side checks already say "code not scanned"
    stmts = [s for s in code.statements if (s.statement_kind or "").upper() in _KINDS and not s.parse_error]
    if not stmts:
        return
    snap = ctx.snapshot
    if snap.server_version_num and snap.server_version_num < 160000:
        ctx.not_checked("slow_query", f"EXPLAIN (GENERIC_PLAN) needs PostgreSQL 16+ (the server is "
                        f"{snap.server_version}): code statements not checked for likely-slow plans")
        return
    if ctx.connect is None:
        ctx.not_checked("slow_query", "no database connection: code statements not checked for likely-slow plans")
        return

    from .pg011_broken_statement import statement_checks  # noqa: PLC0415

    checks = statement_checks(ctx)  # memoised: the verifier's verdicts, computed once per run
    if checks is not None:  # explain only what the server accepted (no error lines in its log)
        ok = {c.statement_id for c in checks if c.status == "ok"}
        stmts = [s for s in stmts if s.statement_id in ok]
    by_fp: dict[str, Issue] = {}
    for m in measured:
        fp = _fingerprint(m.evidence.get("statement") or m.object_name)
        if fp:
            by_fp.setdefault(fp, m)
    if by_fp:
        rest = []
        for st in stmts:
            text = sent_text(ctx, st)
            m = by_fp.get(_fingerprint(text) or "") if text else None
            if m is None:
                rest.append(st)
            else:
                m.evidence.setdefault("code_sites", []).append({"file": st.file, "line": st.line})
        stmts = rest
    th = ctx.thresholds
    rows = {(t.schema, t.name): t.estimated_rows for t in snap.tables}
    failures: dict[str, int] = {}
    found: list[tuple] = []
    try:
        with ctx.data() as conn:
            def session() -> None:
                # heal_verify: a failure of heal's own EXPLAIN is never read back as the application's
                conn.execute("SELECT set_config('statement_timeout', %s, true),"
                             " set_config('lock_timeout', %s, true),"
                             " set_config('application_name', %s, true)",
                             (f"{int(th.likely_slow_timeout_ms)}ms",
                              f"{max(50, min(1000, int(th.likely_slow_timeout_ms) // 2))}ms", "heal_verify"))
            session()
            todo = [(st, sent_text(ctx, st)) for st in stmts]
            todo = [(st, text) for st, text in todo if text is not None]
            for st, row, exc in _explain_all(conn, todo, session):
                if exc is not None:
                    state = getattr(exc, "sqlstate", None) or ""
                    if state[:2] in _STATEMENT_ERRORS:
                        continue
                    reason = "timeout" if state == "57014" else (state or type(exc).__name__)
                    failures[reason] = failures.get(reason, 0) + 1
                    continue
                for node in seq_scans(row[0]):
                    schema = node.get("Schema") or "public"
                    table = node.get("Relation Name")
                    if not examined_schema(schema):
                        continue
                    total = rows.get((schema, table), -1)
                    est = float(node.get("Plan Rows") or 0)
                    if total < th.likely_slow_min_rows or est > total * th.likely_slow_selectivity:
                        continue
                    found.append((st, schema, table, total, est, node))
                    break  # one issue per statement: the first offending scan
    except Exception as exc:  # noqa: BLE001 - the server went away: not checked, never clean
        ctx.not_checked("slow_query", f"generic plans could not be read: {str(exc).splitlines()[0] if str(exc) else exc}")
        return
    if failures:
        ctx.not_checked("slow_query", f"{sum(failures.values())} code statement(s) could not be explained: "
                        + ", ".join(f"{k} {v}" for k, v in sorted(failures.items())))
    for st, schema, table, total, est, node in found:
        sel = est / total if total else 0.0
        yield ctx.issue(
            "slow_query", "warning",
            f"likely slow: the statement at {st.file}:{st.line} reads all ~{total:,} rows of {schema}.{table} "
            f"sequentially to keep ~{est:,.0f} ({sel:.2%}) by {node['Filter']} (generic plan, not run)",
            schema_name=schema, table_name=table, file=st.file, line=st.line,
            evidence={"source": "generic_plan", "verdict": "likely slow", "table": f"{schema}.{table}",
                      "filter": node["Filter"], "table_rows": total, "estimated_rows": est,
                      "selectivity": round(sel, 6), "total_cost": node.get("Total Cost"),
                      "node": node.get("Node Type"), "sql": st.sql[:2000]})
