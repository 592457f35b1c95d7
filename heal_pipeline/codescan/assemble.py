"""Site + SQL facts -> :class:`SqlStatement` and code-side :class:`CodeFinding` rows.

Language-neutral: a *site* (see ``python.py``) is what any language scanner emits for one
execute-like call; this module turns it, plus the facts of its SQL, into the public records.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable

from heal_pipeline.codescan import template as T
from heal_pipeline.codescan.sql import SqlFacts, analyze
from heal_pipeline.model import CodeFinding, ParamBinding, SqlStatement


_HOW = {"fstring": "an f-string", "percent": "%-formatting", "format": ".format()",
        "concat": "+ concatenation", "join": "str.join()"}

_SQLISH = re.compile(
    r"\b(select|insert|update|delete|with|copy|create|alter|drop|truncate|merge|values|explain|"
    r"call|lock|grant|revoke|comment|refresh|begin|commit|rollback|savepoint|release|set|show|"
    r"reset|listen|notify|vacuum|analyze|pragma|declare|prepare|deallocate|discard|checkpoint|"
    r"cluster|reindex|from|where|into|join|returning|table)\b", re.IGNORECASE)


def looks_like_sql(text: str) -> bool:
    """Does a string the parser rejected read like (broken) SQL at all?

    ``arr.copy("C")`` or ``schema.execute("{ hello }")`` (GraphQL) call an execute-like name
    with text that is no SQL: such calls are not statements. ``SELCT a FROM t`` is."""
    return _SQLISH.search(text) is not None


def analysis_key(parts: list, hint: str | None, version: str = "") -> str:
    """Cache key of the rendered SQL and its facts: only what changes the SQL counts."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{version}\x1e{hint}".encode())
    for p in parts:
        h.update(f"\x1e{p[0]}\x1f{p[1]}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def analyze_parts(parts: list, hint: str | None) -> dict[str, Any]:
    """Render a resolved template and analyse it: {"sql", "starts", "facts"} (JSON-able)."""
    sql, starts = T.render(parts)
    facts = analyze(sql, hint)
    if facts.parse_error and hint is None:
        # another driver's placeholders, rewritten before parsing (never unparsed_sql because of
        # them): ":name" (SQLAlchemy text() reached through another module, sqlite3 named style)
        # and "?" (qmark: sqlite3, pyodbc, aiosqlite; jsonb's ?, ?| and ?& are left alone)
        for alt_hint, pattern in (("colon", _COLON_PARAM), ("qmark", _QMARK)):
            if pattern.search(sql):
                alt = analyze(sql, alt_hint)
                if alt.parse_error is None:
                    facts = alt
                    break
    return {"sql": sql, "starts": starts, "facts": facts.to_dict()}


_COLON_PARAM = re.compile(r"(?<![:\w]):[A-Za-z_]\w*")
_QMARK = re.compile(r"\?")


def _col_name(schema: str | None, table: str | None, column: str | None) -> str | None:
    if column is None:
        return None
    return ".".join(x for x in (schema, table, column) if x)


HelperUse = dict  # {"file", "line", "col", "name", "cast", "bound_to", "site_file", "site_line"}


def foreign_dialect(dialect: str | None, target: str = "postgresql") -> bool:
    """Is a statement attributed to ``dialect`` written for another engine than ``target``'s?"""
    return dialect is not None and dialect != target


def finalize(site: dict, file: str, analysis: dict[str, Any], language: str,
             helper_of: Callable[[dict], dict | None] | None = None, target_dialect: str = "postgresql"
             ) -> tuple[SqlStatement, list[CodeFinding], list[HelperUse]] | None:
    """The statement, its findings, and the uses of cast-only helpers it binds.

    None when the call turns out not to run SQL (constant text that is not SQL at all). A site
    attributed to another engine (``site["dialect"]``, see dialect.py) keeps only the findings that
    hold on every engine (``unsafe_sql``, ``query_in_loop``): the parser's verdict and the casts
    are the target engine's business, and this SQL never runs there."""
    parts = site["parts"]
    sql = analysis["sql"]
    dynamic = T.is_dynamic(parts)
    if analysis["facts"]["e"] and not dynamic and not looks_like_sql(sql):
        return None
    facts = analysis.get("_facts")
    if facts is None:  # several sites often share one SQL text (a module constant)
        facts = analysis["_facts"] = SqlFacts.from_dict(analysis["facts"])
    starts = analysis["starts"]
    line, col, fn = site["line"], site["col"], site.get("function")
    stmt = SqlStatement(
        file=file, line=line, col=col, call=site["call"], sql=sql,
        source_kind=site.get("kind") or "literal", function=fn,
        statement_kind=facts.statement_kind, tables=list(facts.tables), columns=list(facts.columns),
        joins=list(facts.joins), casts=list(facts.casts), params=list(facts.params),
        functions_called=list(facts.functions_called), ctes=list(facts.ctes), ddl=list(facts.ddl),
        parse_error=facts.parse_error, dynamic=dynamic, in_loop=site.get("loop") is not None,
        language=language, dialect=site.get("dialect"),
    )
    findings: list[CodeFinding] = []
    uses: list[HelperUse] = []
    foreign = foreign_dialect(stmt.dialect, target_dialect)
    if facts.parse_error and not foreign:
        holes = sum(1 for p in parts if p[0] == "h")
        findings.append(CodeFinding(
            kind="unparsed_sql", file=file, line=line, col=col, function=fn,
            detail=f"PostgreSQL parser rejects the SQL of {site['call']}(): {facts.parse_error}",
            evidence={"call": site["call"], "sql": sql[:2000], "parser_error": facts.parse_error,
                      "position": facts.error_offset, "placeholders": holes, "dynamic": dynamic}))
    if dynamic:
        holes = T.runtime_holes(parts)
        labels = [h[2] for h in holes]
        vias = sorted({h[4] for h in holes if len(h) > 4 and h[4]})
        how = " and ".join(_HOW.get(v, v) for v in vias) or "string composition"
        findings.append(CodeFinding(
            kind="unsafe_sql", file=file, line=line, col=col, function=fn,
            detail=(f"SQL text of {site['call']}() is composed from runtime values by {how}: "
                    + ", ".join(f"`{x}`" for x in labels[:5])
                    + "; pass them as bound parameters (or compose with psycopg.sql)"),
            evidence={"call": site["call"], "sql": sql[:2000],
                      "reason": f"composed from runtime values by {how}",
                      "composition": vias[0] if len(vias) == 1 else (vias or ["unknown"]),
                      "values": labels,
                      "value_lines": [h[3] for h in holes],
                      **({"dialect": stmt.dialect} if stmt.dialect else {})}))
    if site.get("loop") is not None:
        findings.append(CodeFinding(
            kind="query_in_loop", file=file, line=line, col=col, function=fn,
            detail=(f"{site['call']}() runs once per row of the query iterated at line "
                    f"{site['loop']} (N+1); fetch the rows in one query (JOIN or = ANY($1))"),
            evidence={"call": site["call"], "sql": sql[:2000],
                      "reason": f"inside a loop over the rows of the query at line {site['loop']}",
                      "loop_line": site["loop"], **({"dialect": stmt.dialect} if stmt.dialect else {})}))
    if foreign:
        return stmt, findings, uses
    # SQL casts inside predicates / assignments
    for cast, off, ctx in zip(facts.casts, facts.cast_offsets, facts.cast_contexts):
        if ctx is None:
            continue
        cfile, cline = (None, None)
        if off is not None and off >= 0:
            cfile, cline = T.locate(parts, starts, off)
        cfile = cfile or file
        cline = cline or line
        on = _col_name(cast.schema, cast.table, cast.column)
        against = _col_name(cast.compared_schema, cast.compared_table, cast.compared_column)
        subject = on or (f"${cast.param}" if cast.param else "expression")
        if cast.column:
            schema, table, column = cast.schema, cast.table, cast.column
        else:
            schema, table, column = cast.compared_schema, cast.compared_table, cast.compared_column
        findings.append(CodeFinding(
            kind="cast_workaround", file=cfile, line=cline, col=1 if cfile != file or cline != line else col,
            function=fn if cfile == file else None, schema=schema, table=table, column=column,
            detail=(f"SQL cast {subject}::{cast.target_type}"
                    + (f" {'compared with' if ctx == 'compare' else 'written to'} {against}" if against else "")),
            evidence={"kind": "sql_cast", "form": "sql", "cast": f"::{cast.target_type}", "function": None,
                      "bound_to": against, "target_type": cast.target_type, "column": on,
                      "param": cast.param, "compared_with": against, "context": ctx,
                      "call": site["call"], "statement_file": file, "statement_line": line}))
    # Python casts of bound arguments
    by_index: dict[int, list[ParamBinding]] = {}
    for b in facts.params:
        if b.column:
            by_index.setdefault(b.index, []).append(b)
    names = {v: k for k, v in facts.param_names.items()}
    # placeholder numbers computed at run time (f"${idx}"): which argument is which $n is unknown,
    # so no Python cast is bound to a column through them (a wrong column is worse than none)
    args = site.get("args") or ()
    if args and len(parts) > 1 and _computed_numbers(parts):
        args = ()
    for item in args:
        key = item["key"]
        idx = names.get(key) if isinstance(key, str) else key + 1
        if idx is None or idx not in by_index:
            continue
        cast = item.get("cast")
        helper = None
        if item.get("via") == "helper":
            helper = {"name": item.get("helper"), "file": file, "line": item.get("hline"),
                      "col": item.get("hcol"), "cast": cast}
            if item.get("ref") is not None:
                helper = helper_of(item) if helper_of else None
                if helper is None:
                    continue
                cast = helper["cast"]
        if cast is None:
            continue
        binds = by_index[idx]
        b0 = binds[0]
        bound = [_col_name(b.schema, b.table, b.column) for b in binds]
        ev = {"kind": "helper_call" if helper else "python_cast",
              "form": "helper_call" if helper else "python", "cast": cast,
              "function": helper["name"] if helper else None, "bound_to": bound[0], "param": idx,
              "role": b0.role, "call": site["call"], "statement_line": line,
              "statement_file": file}
        if len(set(bound)) > 1:
            ev["bound_to_all"] = sorted(set(bound))
        if helper:
            ev["helper"] = helper["name"]
            ev["helper_file"] = helper["file"]
            ev["helper_line"] = helper["line"]
        if item.get("via") == "name":
            ev["through_name"] = item.get("name")
        what = f"{helper['name']}()" if helper else f"{cast}()"
        findings.append(CodeFinding(
            kind="cast_workaround", file=file, line=item["line"], col=item["col"], function=fn,
            schema=b0.schema, table=b0.table, column=b0.column,
            detail=f"Python cast {what} around parameter {idx} bound to {bound[0]} ({b0.role})",
            evidence=ev))
        if helper and helper.get("line"):
            uses.append({"file": helper["file"], "line": helper["line"], "col": helper.get("col") or 1,
                         "name": helper["name"], "cast": cast, "bound_to": bound,
                         "schema": b0.schema, "table": b0.table, "column": b0.column,
                         "site_file": file, "site_line": item["line"]})
    return stmt, findings, uses


def _computed_numbers(parts: list) -> bool:
    return any(p[0] == "h" and p[1] == "number" and i and parts[i - 1][0] == "t"
               and parts[i - 1][1].endswith("$") for i, p in enumerate(parts))


def helper_findings(uses: list[HelperUse]) -> list[CodeFinding]:
    """One finding per cast-only helper whose result is bound to a column somewhere."""
    by: dict[tuple, list[HelperUse]] = {}
    for u in uses:
        by.setdefault((u["file"], u["line"]), []).append(u)
    out = []
    for (file, line), us in by.items():
        u0 = us[0]
        bound = sorted({b for u in us for b in u["bound_to"] if b})
        sites = sorted({(u["site_file"], u["site_line"]) for u in us})
        out.append(CodeFinding(
            kind="cast_workaround", file=file, line=line, col=u0["col"], function=u0["name"],
            schema=u0["schema"], table=u0["table"], column=u0["column"],
            detail=(f"helper {u0['name']}() only casts its argument with {u0['cast']}(); its result "
                    f"is bound to {', '.join(bound)} at {len(sites)} call site(s)"),
            evidence={"kind": "helper", "form": "helper", "cast": u0["cast"], "function": u0["name"], "helper": u0["name"],
                      "bound_to": bound[0] if bound else None, "bound_to_all": bound,
                      "call_sites": [f"{f}:{ln}" for f, ln in sites]}))
    return out
