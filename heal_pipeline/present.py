"""How issues read in the Dagster UI (plain Python: ``heal_pipeline/defs`` renders it as metadata).

* :func:`short` — a detail short enough for the issue table at 1366–1600 px (the full text is in
  the markdown summary);
* :func:`evidence_brief` — one line of an issue's evidence for the table's ``evidence`` column;
* :func:`evidence_markdown` — a section per issue with everything the evidence says: the failed
  statement and the server's verdict, the references as ``file:line``, the migration that defines a
  missing object, the counts (orphans, scans, calls, sizes), the relationship sources.

Nothing here invents evidence: every line comes from a key of ``Issue.evidence`` (docs/issue-types.md,
"Evidence keys"); keys not known here are listed as they are, so nothing is hidden.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
DETAIL_CHARS = 80
BRIEF_CHARS = 70
#: keys rendered by a dedicated line below (or pure bookkeeping), not repeated in "other evidence"
_KNOWN = {"references", "server", "sources", "migration", "sql", "message", "sqlstate", "hint", "kind",
          "parent", "child_type", "declared_fk", "constraint", "strength", "orphans", "sample", "timed_out",
          "columns", "parent_columns", "suggested_index", "definition", "covered_by", "covered_by_definition",
          "size_bytes", "idx_scan", "seq_scan", "stats_since", "estimated_rows", "calls", "mean_ms",
          "total_ms", "queryid", "source", "call", "reason", "parser_error", "mismatch", "cast", "bound_to",
          "function", "candidate_key", "inferred_type", "loop_line", "values", "log", "log_count",
          "error_line", "error_col", "position", "col", "scanner", "statement_id", "param_types", "detail",
          "composition", "value_lines", "dynamic", "placeholders", "language"}


def short(text: str | None, n: int = DETAIL_CHARS) -> str:
    """``text`` on one line, at most ``n`` characters (an ellipsis says it was cut)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1].rstrip() + "…"


def _loc(ref: dict[str, Any]) -> str | None:
    if ref.get("file"):
        return f"{ref['file']}:{ref['line']}" if ref.get("line") is not None else str(ref["file"])
    return None


def _counted(locs: Iterable[str]) -> list[str]:
    """``a.py:3``, ``a.py:7 ×3`` — each location once, in first-seen order, with its count."""
    counts = Counter(locs)
    return [f"{loc} ×{n}" if n > 1 else loc for loc, n in counts.items()]


def references(ev: dict[str, Any]) -> list[str]:
    """Code references as ``file:line`` (deduplicated, counted) and failed-query references."""
    refs = ev.get("references") or []
    out = _counted(loc for r in refs if isinstance(r, dict) and (loc := _loc(r)))
    for r in refs:
        if isinstance(r, dict) and r.get("sqlstate"):
            out.append(f"failed queries: SQLSTATE {r['sqlstate']} ×{r.get('count', '?')}")
    return out


def _sources(ev: dict[str, Any]) -> list[str]:
    out = []
    for s in ev.get("sources") or []:
        if not isinstance(s, dict):
            continue
        kind = s.get("kind")
        if kind == "code":
            out.append(f"code {_loc(s) or '?'}")
        elif kind == "data":
            out.append(f"data: {float(s.get('containment') or 0):.0%} of sampled values exist in the parent")
        elif kind == "declared_fk":
            out.append(f"declared FK {s.get('constraint') or '?'}")
        elif kind == "naming":
            out.append(f"naming: {s.get('rule') or 'name matches'}")
        else:
            out.append(json.dumps(s, default=str))
    return out


def _server(ev: dict[str, Any]) -> list[str]:
    server = ev.get("server") or {}
    stmts = server.get("statements") or []
    lines = [f"{st.get('status', '?')} {st.get('sqlstate') or ''} at {_loc(st) or '?'}: {short(st.get('message'), 120)}"
             .replace("  ", " ") for st in stmts if isinstance(st, dict)]
    return _counted(lines)


def size(n: int) -> str:
    """Bytes for humans: ``40 KiB``, ``3.0 MiB``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            v = n / factor
            return f"{v:.1f} {unit}" if v < 10 else f"{v:.0f} {unit}"
    return f"{n} B"


def _counts(ev: dict[str, Any]) -> list[str]:
    parts = []
    for key, label in (("orphans", "orphan rows"), ("calls", "calls"), ("mean_ms", "mean ms"),
                       ("total_ms", "total ms"), ("seq_scan", "seq scans"), ("idx_scan", "index scans"),
                       ("estimated_rows", "estimated rows"), ("size_bytes", "bytes"), ("log_count", "logged failures")):
        if ev.get(key) is None or (key == "log_count" and not ev[key]):  # "0 logged" says nothing
            continue
        parts.append(f"size {size(int(ev[key]))}" if key == "size_bytes" else f"{label} {ev[key]}")
    if ev.get("timed_out"):
        parts.append("count timed out")
    return parts


def evidence_brief(issue: Any, n: int = BRIEF_CHARS) -> str:
    """The most telling evidence of one issue on one short line (the table's ``evidence`` column)."""
    ev = issue.evidence or {}
    bits: list[str] = []
    refs = references(ev)
    if refs:
        bits.append(f"{len(ev.get('references') or [])} ref(s): {', '.join(refs[:2])}")
    if ev.get("sqlstate"):
        bits.append(f"{ev['sqlstate']} {ev.get('message') or ''}".strip())
    if ev.get("cast") and ev.get("bound_to"):
        bits.append(f"cast {ev['cast']} bound to {ev['bound_to']}")
    if ev.get("columns") and ev.get("suggested_index"):
        parent = ev.get("parent") or {}
        bits.append(f"FK ({', '.join(map(str, ev['columns']))}) → {parent.get('schema')}.{parent.get('table')}; "
                    f"no index leads with it")
    if "candidate_key" in ev:
        ck = ev.get("candidate_key")
        bits.append(f"candidate key ({', '.join(ck)})" if ck else "no NOT NULL unique candidate key")
    server = ev.get("server") or {}
    if server.get("statements"):
        states = sorted({s.get("sqlstate") or s.get("status") for s in server["statements"] if isinstance(s, dict)} - {None})
        bits.append(f"server: {', '.join(states)}")
    src = _sources(ev)
    if src:
        bits.append("; ".join(s.split(":")[0] if s.startswith(("data", "naming")) else s for s in src[:3]))
    bits += _counts(ev)[:2]
    if ev.get("migration"):
        m = ev["migration"]
        bits.append(f"migration {_loc(m) or '?'}")
    if ev.get("covered_by"):
        bits.append(f"covered by {ev['covered_by']}")
    if ev.get("reason") and not bits:
        bits.append(str(ev["reason"]))
    if ev.get("parser_error") and not bits:
        bits.append(str(ev["parser_error"]))
    if ev.get("mismatch"):
        bits.append(f"hides {ev['mismatch']}")
    return short("; ".join(bits), n) if bits else ""


def evidence_lines(issue: Any) -> list[str]:
    """Markdown lines of everything ``issue.evidence`` says (one issue)."""
    ev = issue.evidence or {}
    out: list[str] = []
    if ev.get("sql"):
        label = "statement the server rejects" if ev.get("sqlstate") else "statement"
        out += [f"- {label}" + (f" ({issue.file}:{issue.line})" if issue.file else "") + ":", "",
                "  ```sql", *("  " + ln for ln in str(ev["sql"]).splitlines()), "  ```"]
    if ev.get("message") or ev.get("sqlstate"):
        out.append(f"- error: {ev.get('message') or ''}" + (f" (SQLSTATE {ev['sqlstate']})" if ev.get("sqlstate") else ""))
    if ev.get("hint"):
        out.append(f"- hint: {ev['hint']}")
    refs = references(ev)
    if refs:
        out.append(f"- references ({len(ev.get('references') or [])}): " + ", ".join(refs))
    server = _server(ev)
    if server:
        verdict = (ev.get("server") or {}).get("agrees")
        out.append("- server verdict" + (" (agrees)" if verdict else "") + ":")
        out += [f"  - {s}" for s in server]
    if ev.get("parent"):
        p = ev["parent"]
        col = f".{p['column']}" if p.get("column") else ""
        typ = f" ({p['data_type']})" if p.get("data_type") else ""
        out.append(f"- parent: {p.get('schema')}.{p.get('table')}{col}{typ}"
                   + (f"; child type {ev['child_type']}" if ev.get("child_type") else "")
                   + (f"; FK {ev['constraint']}" if ev.get("constraint") else "")
                   + (f"; strength {ev['strength']}" if ev.get("strength") else ""))
    src = _sources(ev)
    if src:
        out.append("- relationship evidence: " + "; ".join(src))
    counts = _counts(ev)
    if counts:
        out.append("- counts: " + ", ".join(counts))
    if ev.get("sample"):
        out.append("- sample values: " + ", ".join(str(s) for s in ev["sample"]))
    if ev.get("columns") and isinstance(ev["columns"], list):
        cols = [c["name"] + (f" {c['type']}" if c.get("type") else "") if isinstance(c, dict) else str(c)
                for c in ev["columns"]]
        out.append("- columns: " + ", ".join(cols))
    for key, label in (("definition", "definition"), ("covered_by_definition", f"covered by {ev.get('covered_by')}"),
                       ("suggested_index", "suggested index"), ("inferred_type", "inferred type"),
                       ("candidate_key", "candidate key"), ("mismatch", "hides the mismatch"),
                       ("bound_to", "bound to"), ("cast", "cast"), ("function", "in function"),
                       ("call", "call"), ("reason", "reason"), ("parser_error", "parser error"),
                       ("stats_since", "statistics since"), ("source", "source"), ("language", "language")):
        v = ev.get(key)
        if v not in (None, "", []):
            out.append(f"- {label}: `{', '.join(map(str, v)) if isinstance(v, list) else v}`")
    mig = ev.get("migration")
    if isinstance(mig, dict):
        out += [f"- defined in migration {_loc(mig) or '?'}:", "", "  ```sql",
                *("  " + ln for ln in str(mig.get("sql") or "").splitlines()), "  ```"]
    other = {k: v for k, v in ev.items() if k not in _KNOWN and v not in (None, "", [], {})}
    if other:
        out.append("- other evidence: `" + short(json.dumps(other, default=str), 400) + "`")
    return out or ["- (no evidence recorded)"]


def object_of(issue: Any) -> str:
    """What the issue is about, for reading: ``file:line``, ``schema.table.column``, ``schema.table /
    index`` (spaces around the slash let the table column wrap there, so severity, object and
    fingerprint fit side by side at 1600 px), or the start of a query's text."""
    if issue.file:
        return f"{issue.file}:{issue.line}"
    path = ".".join(p for p in (issue.schema_name, issue.table_name, issue.column_name) if p)
    if issue.object_name and issue.issue_type != "slow_query":
        return f"{path} / {issue.object_name}" if path else issue.object_name
    return path or short(issue.object_name, 48)


def evidence_markdown(issues: list[Any], *, limit: int = 40) -> str:
    """A section per issue (the caller picks which: the UI shows every critical one)."""
    parts = []
    for i in issues[:limit]:
        parts.append(f"#### {i.severity} · `{i.issue_type}` · {object_of(i)}\n"
                     f"`{i.fingerprint}` — {i.detail}\n\n" + "\n".join(evidence_lines(i)))
    if len(issues) > limit:
        parts.append(f"… and {len(issues) - limit} more (all of them in heal.issues.evidence)")
    return "\n\n".join(parts) or "No issue of this severity."


def fixes_table(rows: list[dict[str, Any]], width: int = 100) -> list[str]:
    """``heal fixes``: a header, then one line per fix — id, start (UTC), duration, status, type,
    fingerprint and what it did, each said once (a rollback row says "rollback of fix N" and the
    rolled-back fix "rolled back by fix M"; a failed fix shows its error)."""
    from datetime import timezone

    def when(r: dict[str, Any]) -> str:
        t = r.get("started_at")
        return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else "-"

    def took(r: dict[str, Any]) -> str:
        a, b = r.get("started_at"), r.get("finished_at")
        return f"{(b - a).total_seconds():.1f}s" if a and b else "-"

    def what(r: dict[str, Any]) -> str:
        summary = " ".join((r.get("summary") or "").split())
        if r.get("rollback_of"):
            prefix = f"rollback of fix {r['rollback_of']}"
            rest = summary[len(prefix):].lstrip(": ") if summary.startswith(prefix) else summary
            text = f"{prefix}: {rest}" if rest else prefix
        else:
            text = summary
        error = " ".join((r.get("error") or "").split())
        if error and r.get("status") != "verified" and error not in text:
            text = f"{text} — {error}" if text else error
        if r.get("rolled_back_by"):
            text = f"[rolled back by fix {r['rolled_back_by']}] {text}"
        return short(text, width)

    cols = [("fix_id", lambda r: str(r["fix_id"]), ">"), ("started (UTC)", when, "<"), ("took", took, ">"),
            ("status", lambda r: str(r.get("status") or ""), "<"),
            ("issue type", lambda r: str(r.get("issue_type") or ""), "<"),
            ("fingerprint", lambda r: str(r.get("fingerprint") or ""), "<")]
    cells = [[f(r) for _n, f, _a in cols] for r in rows]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, (n, _f, _a) in enumerate(cols)]
    fmt = "  ".join(f"{{:{a}{w}}}" for (_n, _f, a), w in zip(cols, widths))
    out = [fmt.format(*[n for n, _f, _a in cols]) + "  what"]
    out += [fmt.format(*c) + "  " + what(r) for c, r in zip(cells, rows)]
    return out
