"""Runtime failures as evidence (issue 12 item 8): failed queries with 42883, 22P02 or 23503 (and
42804, ``column "x" is of type boolean but expression is of type integer``: the same class).

The log's failed queries with these SQLSTATEs (``operator/function does not exist``, ``invalid input
syntax for type …``, ``violates foreign key constraint``) are diagnosed (:func:`heal_pipeline.logs.diagnose`:
table, column, operand types, constraint, bound value) and each one becomes

1. **evidence on the matching issue** — ``evidence.runtime`` (a list, ≤ 10 entries:
   {``sqlstate``, ``message``, ``count``, ``first_seen``, ``last_seen``, ``statement``, ``diagnosis``})
   and ``evidence.runtime_count``, on the first of:

   * a ``broken_statement`` issue whose log already lists it (same SQLSTATE, same pglast fingerprint);
   * a ``cast_workaround`` issue at a call site whose statement has the failure's fingerprint
     (42883, 22P02: the cast is in the statement that fails);
   * a ``type_mismatch`` issue whose child or parent column is one of the failure's columns (42883
     ``text = integer`` operands, the column a 22P02 value was compared with or inserted into);
   * an ``orphaned_rows`` issue on the violated constraint, or on the failure's table and key column
     (23503);
   * a ``missing_table`` / ``missing_column`` issue citing a call site with the failure's fingerprint;

2. otherwise **a ``broken_statement`` issue** of kind ``runtime``: at each call site of the code whose
   statement has the failure's fingerprint (``file``, ``line``; merged into a server-verified
   ``broken_statement`` issue at the same site when there is one), or — when no code statement
   matches — with ``object_name`` = the normalised statement. Severity: ``critical`` for 42883 (the
   statement fails for every value of those types), ``warning`` for 22P02 and 23503 (they depend
   on the values sent).

Failures last seen more than ``Thresholds.runtime_window_s`` (7 days) before the snapshot are
history, not evidence. An unmatched 42883 is asked again (``Parse`` of its statement with the
parameter types its message names, never executed, read-only, as ``heal_verify``): if today's
schema accepts it — the mismatch was fixed — it is stale and not reported; ``evidence.reproduced``
says ``true`` (rejected again) or ``null`` (could not be asked; 22P02/23503 depend on values and are
never re-asked).

Columns are compared by table and column name, and by schema when both sides name one. An issue
that receives runtime evidence keeps its identity and severity; its ``detail`` ends with
``; the log has N runtime failure(s) of it (42883 ×1, 22P02 ×1)``.
"""

from __future__ import annotations

from ..model import FailedQuery, Issue
from .base import DetectContext

RUNTIME_STATES = ("42883", "22P02", "23503", "42804")
_SEVERITY = {"42883": "critical", "22P02": "warning", "23503": "warning", "42804": "critical"}
_MAX_ENTRIES = 10
_DIAG_KEYS = ("kind", "schema", "table", "column", "types", "operator", "function", "constraint",
              "key_columns", "referenced_table", "value", "param")


def _fingerprint(sql: str | None) -> str | None:
    from .pg011_broken_statement import _fingerprint as fp  # noqa: PLC0415

    return fp(sql)


def runtime_failures(ctx: DetectContext) -> list[tuple[FailedQuery, dict, str | None]]:
    """(failed query, diagnosis, fingerprint) for the failures this module handles (memoised)."""
    def build():
        from ..logs import diagnose  # noqa: PLC0415

        return [(fq, diagnose(fq), _fingerprint(fq.statement))
                for fq in ctx.failed if fq.sqlstate in RUNTIME_STATES]
    return ctx.memo("runtime_failures", build)  # type: ignore[return-value]


def _sites(ctx: DetectContext) -> dict[str, list[tuple[str, int, str]]]:
    """Code call sites by the pglast fingerprint of the statement they send: [(file, line, sql)]."""
    def build():
        out: dict[str, list[tuple[str, int, str]]] = {}
        if ctx.code is None:
            return out
        from .generic_plans import sent_text  # noqa: PLC0415

        for st in ctx.code.statements:
            text = sent_text(ctx, st)
            fp = _fingerprint(text) if text else None
            if fp:
                out.setdefault(fp, []).append((st.file, st.line, text))
        return out
    return ctx.memo("runtime_sites", build)  # type: ignore[return-value]


def _columns(d: dict) -> list[tuple[str | None, str, str]]:
    """(schema, table, column) the diagnosis names, operands included."""
    out = []
    if d.get("table") and d.get("column"):
        out.append((d.get("schema"), d["table"], d["column"]))
    for op in d.get("operands") or ():
        if op.get("table") and op.get("column"):
            out.append((op.get("schema"), op["table"], op["column"]))
    if d.get("table"):
        for c in d.get("key_columns") or ():
            out.append((d.get("schema"), d["table"], c))
    return out


def _same(col: tuple, schema: str | None, table: str | None, column: str | None) -> bool:
    s, t, c = col
    return t == table and c == column and (s is None or schema is None or s == schema)


def _entry(fq: FailedQuery, d: dict) -> dict:
    return {"sqlstate": fq.sqlstate, "message": fq.message, "count": fq.count,
            "first_seen": fq.first_seen, "last_seen": fq.last_seen, "statement": (fq.statement or "")[:500],
            "diagnosis": {k: d[k] for k in _DIAG_KEYS if d.get(k) not in (None, [], "")}}


def _attach(issue: Issue, fq: FailedQuery, d: dict) -> None:
    runtime = issue.evidence.setdefault("runtime", [])
    if len(runtime) < _MAX_ENTRIES:
        runtime.append(_entry(fq, d))
    issue.evidence["runtime_count"] = issue.evidence.get("runtime_count", 0) + fq.count


def _match(ctx: DetectContext, fq: FailedQuery, d: dict, fp: str | None,
           logged: dict[tuple[str, str], Issue]) -> Issue | None:
    from . import issues_of  # noqa: PLC0415 - the registry module imports this one

    sites = {(f, ln) for f, ln, _ in _sites(ctx).get(fp or "", [])}
    cols = _columns(d)
    if fp and (fq.sqlstate, fp) in logged:
        return logged[(fq.sqlstate, fp)]
    if fq.sqlstate in ("42883", "22P02", "42804"):
        for i in issues_of(ctx, "cast_workaround"):
            sc = i.evidence.get("scanner") or {}
            if (i.file, i.line) in sites or (sc.get("statement_file"), sc.get("statement_line")) in sites:
                return i  # the failing statement is the cast's own statement
        for i in issues_of(ctx, "type_mismatch"):
            p = i.evidence.get("parent") or {}
            if any(_same(c, i.schema_name, i.table_name, i.column_name)
                   or _same(c, p.get("schema"), p.get("table"), p.get("column")) for c in cols):
                return i
    if fq.sqlstate == "23503":
        for i in issues_of(ctx, "orphaned_rows"):
            if d.get("constraint") and i.evidence.get("constraint") == d["constraint"]:
                return i
            if any(_same(c, i.schema_name, i.table_name, i.column_name) for c in cols):
                return i
    for t in ("missing_table", "missing_column"):
        for i in issues_of(ctx, t):
            if any((r.get("file"), r.get("line")) in sites for r in i.evidence.get("references", [])):
                return i
    return None


def runtime_issues(ctx: DetectContext, broken: list[Issue]) -> list[Issue]:
    """Attach every runtime failure to its issue; the ``broken_statement`` issues for the rest
    (``broken`` are the server-verified ones of this run: matched or merged, never duplicated)."""
    failures = runtime_failures(ctx)
    if not failures:
        return []
    from ..logs import sqlstate_name  # noqa: PLC0415

    by_site = {(i.file, i.line): i for i in broken if i.file}
    logged: dict[tuple[str, str], Issue] = {}  # (sqlstate, fingerprint) a broken_statement's log lists
    for i in broken:
        for e in i.evidence.get("log", []):
            efp = _fingerprint(e.get("statement"))
            if efp:
                logged.setdefault((e.get("sqlstate"), efp), i)
    new: dict[tuple, Issue] = {}
    matched: dict[int, tuple[Issue, dict[str, int]]] = {}
    since = _since(ctx)
    unmatched = []
    for fq, d, fp in failures:
        if since is not None and fq.last_seen and (_ts(fq.last_seen) or since) < since:
            continue  # not seen for the whole window: history, not today's evidence
        target = _match(ctx, fq, d, fp, logged)
        if target is not None:
            _attach(target, fq, d)
            states = matched.setdefault(id(target), (target, {}))[1]
            states[fq.sqlstate] = states.get(fq.sqlstate, 0) + fq.count
            continue
        unmatched.append((fq, d, fp))
    verdicts = _reproduce(ctx, [(fq, d) for fq, d, _ in unmatched if fq.sqlstate == "42883"])
    for fq, d, fp in unmatched:
        reproduced = verdicts.get(id(fq))
        if reproduced is False:
            continue  # today's schema accepts it (the mismatch was fixed): stale, not an issue
        what = f"{fq.sqlstate} ({sqlstate_name(fq.sqlstate)}): {fq.message}"
        sites = _sites(ctx).get(fp or "", [])
        for file, line, text in sites or [(None, None, None)]:
            key = (file, line) if file else ("", fq.normalized)
            existing = by_site.get((file, line)) if file else None
            if existing is None:
                existing = new.get(key)
            if existing is not None:
                _attach(existing, fq, d)
                if _SEVERITY[fq.sqlstate] == "critical":
                    existing.severity = "critical"
                continue
            where = f"at {file}:{line}" if file else "(no call site in the scanned code has this statement)"
            issue = ctx.issue(
                "broken_statement", _SEVERITY[fq.sqlstate],
                f"the statement {where} failed {fq.count} time(s) at run time with {what}",
                file=file, line=line, object_name=None if file else fq.normalized,
                evidence={"kind": "runtime", "sqlstate": fq.sqlstate, "message": fq.message,
                          "sql": text or fq.statement, "log": [], "log_count": 0,
                          "reproduced": reproduced})
            _attach(issue, fq, d)
            new[key] = issue
    for issue, states in matched.values():  # said where people read, not only in the evidence
        if issue.issue_type == "broken_statement":
            continue  # its detail already counts the log's failures of it
        issue.detail += (f"; the log has {sum(states.values())} runtime failure(s) of it ("
                         + ", ".join(f"{k} ×{v}" for k, v in sorted(states.items())) + ")")
    return list(new.values())


def _ts(text: str | None) -> float | None:
    from datetime import datetime  # noqa: PLC0415

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return None


def _since(ctx: DetectContext) -> float | None:
    t = _ts(ctx.snapshot.taken_at)
    return None if t is None else t - ctx.thresholds.runtime_window_s


def _reproduce(ctx: DetectContext, items: list[tuple[FailedQuery, dict]]) -> dict[int, bool | None]:
    """Does today's schema still reject each 42883 statement? Parse only (the unnamed statement,
    never executed), with the parameter types the error message names, in a read-only transaction
    as ``heal_verify``. {id(failed query): True (rejected again) / False (accepted now) / None}."""
    out: dict[int, bool | None] = {}
    todo = [(fq, d) for fq, d in items if fq.statement]
    if not todo or ctx.connect is None:
        return out
    from psycopg import pq  # noqa: PLC0415

    try:
        with ctx.data() as conn:
            def session() -> None:
                conn.execute("SELECT set_config('statement_timeout', '2s', true),"
                             " set_config('lock_timeout', '1s', true),"
                             " set_config('application_name', 'heal_verify', true)")
            session()
            for fq, d in todo:
                types: dict[int, int] = {}
                for op in d.get("operands") or ():
                    if isinstance(op.get("param"), int) and op.get("type"):
                        row = conn.execute("SELECT to_regtype(%s)::oid", (op["type"],)).fetchone()
                        if row and row[0]:
                            types[op["param"]] = int(row[0])
                oids = [types.get(n, 0) for n in range(1, max(types, default=0) + 1)]
                res = conn.pgconn.prepare(b"", fq.statement.encode(), oids or None)
                if res.status == pq.ExecStatus.COMMAND_OK:
                    out[id(fq)] = False
                    continue
                state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
                out[id(fq)] = True if state == fq.sqlstate else None
                conn.rollback()
                session()
    except Exception:  # noqa: BLE001 - could not ask: every verdict unknown, the issues stay
        return {}
    return out
