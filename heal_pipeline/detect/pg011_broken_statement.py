"""broken_statement: a statement of the application that PostgreSQL itself rejects on today's schema."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register

#: what a Python cast sends, and the server types such a value can be bound to without an error
_PY_FAMILIES = {
    "int": {"smallint", "integer", "bigint", "numeric", "real", "double precision", "oid", "money"},
    "float": {"real", "double precision", "numeric"},
    "decimal.Decimal": {"numeric", "real", "double precision", "money"},
    "uuid.UUID": {"uuid"},
    "bool": {"boolean"},
}
# JavaScript / TypeScript casts (the JS scanner reports them with the same evidence shape)
for _js in ("parseInt", "Number", "BigInt", "+"):
    _PY_FAMILIES[_js] = _PY_FAMILIES["int"] | {"real", "double precision"}
_PY_FAMILIES["parseFloat"] = _PY_FAMILIES["float"]
_LOG_REFS = 10


def statement_checks(ctx: DetectContext):
    """The server's verdict on every scanned statement (memoised per context), or None.

    None (recorded in ``ctx.unchecked``) when the code was not scanned or there is no
    connection. A Dagster asset that already verified the statements seeds the memo with
    :func:`seed_statement_checks`, so the server is asked once per run.
    """
    def build():
        if ctx.code is None:
            ctx.not_checked("broken_statement", "code not scanned")
            return None
        if ctx.connect is None:
            ctx.not_checked("broken_statement", "no database connection: statements not verified by the server")
            return None
        from ..verify import verify_statements  # noqa: PLC0415

        try:
            with ctx.data() as conn:
                return verify_statements(conn, ctx.code.statements)
        except Exception as exc:  # noqa: BLE001 - a lost server is "not checked", never "clean"
            ctx.not_checked("broken_statement", f"statement verification failed: {str(exc).splitlines()[0]}")
            return None
    return ctx.memo("statement_checks", build)


def seed_statement_checks(ctx: DetectContext, checks) -> None:
    ctx.memo("statement_checks", lambda: checks)


def _fingerprint(sql: str | None) -> str | None:
    if not sql:
        return None
    from pglast import parser  # noqa: PLC0415

    try:
        return parser.fingerprint(sql)
    except Exception:  # noqa: BLE001 - a log line that does not parse links to nothing
        return None


def param_mismatches(ctx: DetectContext, checks) -> dict[tuple[str, int], list[dict]]:
    """Python casts bound to a parameter whose server-inferred type they cannot be, by statement."""
    if ctx.code is None:
        return {}
    by_site = {(c.file, c.line): c for c in checks if c.status == "ok"}
    out: dict[tuple[str, int], list[dict]] = {}
    for f in ctx.code.findings:
        ev = f.evidence or {}
        if f.kind != "cast_workaround" or (ev.get("form") not in ("python", "helper_call")
                                           and ev.get("kind") not in ("python_cast", "helper_call")):
            continue
        if ev.get("interpolated"):  # formatted into the text, not bound: unsafe_sql's business
            continue
        chk = by_site.get((ev.get("statement_file"), ev.get("statement_line")))
        idx, cast = ev.get("param"), ev.get("cast")
        if chk is None or not isinstance(idx, int) or not 1 <= idx <= len(chk.param_types):
            continue
        server = chk.param_types[idx - 1]
        family = _PY_FAMILIES.get(cast or "")
        if family is None or server in family or server in ("unknown", "anyelement"):
            continue
        out.setdefault((chk.file, chk.line), []).append({
            "param": idx, "python_cast": cast, "server_type": server, "bound_to": ev.get("bound_to"),
            "cast_file": f.file, "cast_line": f.line, "role": ev.get("role")})
    return out


@register
class BrokenStatement(Check):
    """A statement in the code that PostgreSQL rejects when it analyzes it against today's schema.

    Every extracted statement is prepared on the target (``Parse``/``Describe``, never executed)
    inside a read-only transaction that is rolled back; a statement the server rejects —
    relation or column missing (42P01, 42703), an operator or function that does not resolve
    (42883, ``text = integer``), a datatype mismatch (42804), an ambiguous column (42702), a
    parameter whose type cannot be determined (42P18) … — fails every time it runs. Also reported:
    a bound Python value the server cannot accept for the parameter it inferred (``int(user_id)``
    bound to a ``text`` column: ``operator does not exist: text = bigint`` at run time). The
    issue carries the server's SQLSTATE, message and the position mapped to file:line, and the
    failed queries from the log with the same SQLSTATE and statement. A rejection already named
    by a ``missing_table`` / ``missing_column`` issue is not reported twice: the server's verdict
    becomes that issue's ``evidence.server`` instead. Failed queries of the log with 42883, 22P02
    or 23503 become ``evidence.runtime`` on the issue they belong to, or a ``broken_statement`` of
    kind ``runtime`` (``runtime_evidence.py``).

    Anti-pattern::

        cur.execute("SELECT id FROM users WHERE email = %s", (int(user_id),))  # email is text

    Best practice::

        cur.execute("SELECT id FROM users WHERE id = %s", (int(user_id),))
    """

    issue_type = "broken_statement"
    code = "PG013"
    name = "code.broken_statement"
    severity = "critical"
    fixable = False
    needs = ("code", "data", "log")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        from .runtime_evidence import runtime_issues  # noqa: PLC0415 - 42883/22P02/23503 of the log

        verified = list(self._from_server(ctx))
        return verified + runtime_issues(ctx, verified)

    def _from_server(self, ctx: DetectContext) -> Iterable[Issue]:
        checks = statement_checks(ctx)
        if checks is None:
            return
        log: dict[tuple[str, str], list] = {}
        for fq in ctx.failed:
            fp = _fingerprint(fq.statement)
            if fp:
                log.setdefault((fq.sqlstate, fp), []).append(fq)
        from ..verify import UNCHECKED_REASONS  # noqa: PLC0415

        failed_checks: dict[str, int] = {}
        for c in checks:
            if c.status == "not_verifiable" and c.reason in UNCHECKED_REASONS:
                failed_checks[c.reason] = failed_checks.get(c.reason, 0) + 1
        if failed_checks:  # partially checked: issues of this type must not be marked resolved
            ctx.not_checked("broken_statement", f"{sum(failed_checks.values())} statement(s) could not be "
                            "verified: " + ", ".join(f"{k} {v}" for k, v in sorted(failed_checks.items())))
        mismatches = param_mismatches(ctx, checks)
        explained = _explained(ctx)
        for c in checks:
            where = f"{c.file}:{c.error_line or c.line}"
            if c.status == "rejected" and c.sqlstate in ("42P01", "42703") and (c.file, c.line) in explained:
                continue  # a missing_table / missing_column issue names it; the verdict is its evidence
            if c.status == "rejected":
                detail = f"the server rejects the statement at {where}: {c.message} (SQLSTATE {c.sqlstate})"
                ev = {"kind": "rejected", "sqlstate": c.sqlstate, "message": c.message}
            elif (c.file, c.line) in mismatches:
                ms = mismatches[(c.file, c.line)]
                m = ms[0]
                detail = (f"parameter ${m['param']} at {c.file}:{c.line} is sent as a Python "
                          f"{m['python_cast']} but the server expects {m['server_type']}"
                          + (f" ({m['bound_to']})" if m.get("bound_to") else ""))
                ev = {"kind": "parameter_type", "parameters": ms, "sqlstate": None, "message": detail}
            else:
                continue
            fp = _fingerprint(c.sql)
            linked = [fq for state in ([c.sqlstate] if c.sqlstate else ["42883", "42804", "22P02"])
                      for fq in log.get((state, fp), [])] if fp else []
            ev.update({"statement_id": c.statement_id, "sql": c.sql, "position": c.position,
                       "error_line": c.error_line, "error_col": c.error_col, "detail": c.detail,
                       "hint": c.hint, "param_types": c.param_types,
                       "log": [{"sqlstate": fq.sqlstate, "message": fq.message, "count": fq.count,
                                "first_seen": fq.first_seen, "last_seen": fq.last_seen,
                                "statement": (fq.statement or "")[:500]} for fq in linked[:_LOG_REFS]],
                       "log_count": sum(fq.count for fq in linked)})
            if linked:
                detail += f"; the log has {ev['log_count']} failure(s) of it"
            yield ctx.issue("broken_statement", self.severity, detail, file=c.file, line=c.line,
                            evidence=ev)
        _annotate(ctx, checks, mismatches)


def _explained(ctx: DetectContext) -> set[tuple[str, int]]:
    """Statement sites a missing_table / missing_column issue already cites (those run always:
    they read only the snapshot and the code, so the answer does not depend on ``only``)."""
    from . import issues_of  # noqa: PLC0415 - the registry module imports this one

    return {(r["file"], r["line"]) for t in ("missing_table", "missing_column")
            for i in issues_of(ctx, t) for r in i.evidence.get("references", []) if "file" in r}


def _annotate(ctx: DetectContext, checks, mismatches) -> None:
    """The server's verdict as evidence on missing_table / missing_column / type_mismatch issues.

    Those checks stay what they are (the parser's reading of the code); this adds, to the same
    issue objects, what the server said about the statements they cite.
    """
    from . import issues_of  # noqa: PLC0415 - the registry module imports this one

    by_site: dict[tuple[str, int], list] = {}
    for c in checks:
        by_site.setdefault((c.file, c.line), []).append(c)

    def verdict(c) -> dict:
        return {"file": c.file, "line": c.line, "status": c.status, "sqlstate": c.sqlstate,
                "reason": c.reason, "message": c.message}

    for issue_type in ("missing_table", "missing_column"):
        for issue in issues_of(ctx, issue_type):
            seen = [verdict(c) for r in issue.evidence.get("references", []) if "file" in r
                    for c in by_site.get((r["file"], r["line"]), [])]
            if seen:
                issue.evidence["server"] = {
                    "agrees": any(v["status"] == "rejected" for v in seen), "statements": seen[:20]}
    if "issues:type_mismatch" not in ctx._cache:
        return  # type_mismatch samples data: annotated only when this run computed it anyway
    by_id = {c.statement_id: c for c in checks}
    for issue in issues_of(ctx, "type_mismatch"):
        col, tab = issue.column_name, issue.table_name
        seen = []
        for st in ctx.code.statements if ctx.code else ():
            c = by_id.get(st.statement_id)
            if c is None or not any(r.name == tab for r in st.tables):
                continue
            if not any(cr.column == col for cr in st.columns):
                continue
            if c.status == "rejected" and c.sqlstate in ("42883", "42804"):
                seen.append(verdict(c))
            for m in mismatches.get((c.file, c.line), []):
                if (m.get("bound_to") or "").endswith(f"{tab}.{col}"):
                    seen.append({**verdict(c), "parameter": m})
        if seen:
            issue.evidence["server"] = {"agrees": True, "statements": seen[:20]}
