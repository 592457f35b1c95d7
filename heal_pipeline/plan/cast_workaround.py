"""cast_workaround → a LibCST codemod, emitted as a unified diff (tier ``approval``).

* ``python_cast`` / ``helper_call``: the cast (or the helper call) around the bound argument is
  replaced by the argument itself (:class:`RemoveCastCommand`).
* ``sql_cast``: the cast text inside the string literal is removed (pglast finds the cast node; the
  new SQL must parse).
* ``helper``: the cast-only helper ``def`` is removed — only when no caller is left anywhere in the
  source roots (the ``from … import`` names are removed with it); otherwise the plan is blocked and
  depends on the call-site fixes (their fingerprints are computed from the remaining call sites).

``depends_on`` = the ``type_mismatch`` fingerprint: the executor applies a code fix only after that
schema fix verified (the cast is needed until the types agree). Applying keeps the original file
content in the fix record, checks the result parses, and reverts on failure.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path


from ..model import FixPlan, FixStep, Issue, Snapshot
from .base import PlanContext, blocked_plan, locate_source, new_plan, planner


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _diff(rel: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))


def _py_files(ctx: PlanContext) -> list[tuple[Path, Path]]:
    out = []
    for root in ctx.source_dirs:
        root = Path(root)
        for p in sorted(root.rglob("*.py")):
            if any(part.startswith(".") or part in ("__pycache__", "node_modules", "venv", ".venv")
                   for part in p.relative_to(root).parts):
                continue
            out.append((root, p))
    return out


@planner("cast_workaround")
def plan_cast_workaround(issue: Issue, snap: Snapshot, ctx: PlanContext) -> FixPlan:
    # LibCST is imported here, not at module level: it costs ~1 s to import and only code fixes need it
    from libcst.codemod import CodemodContext

    from .codemods import RemoveCastCommand, RemoveHelperCommand, references, run_codemod

    ev = issue.evidence or {}
    scanner = ev.get("scanner") or {}
    kind = ev.get("kind") or "python_cast"
    depends = [ev["mismatch"]] if ev.get("mismatch") else []
    path = locate_source(ctx, issue.file)
    if path is None or not issue.line:
        return blocked_plan(issue, f"source file {issue.file!r} not found under the source roots", tier="approval")
    if not path.name.endswith(".py"):
        return _plan_js(issue, path, ctx, depends)
    before = path.read_text(encoding="utf-8")
    edits: list[dict] = []
    diffs: list[str] = []
    if kind == "helper":
        name = ev.get("function") or scanner.get("helper")
        if not name:
            return blocked_plan(issue, "helper name unknown", tier="approval")
        short = name.split(".")[-1]
        callers: list[tuple[str, int]] = []
        files = _py_files(ctx)
        for root, p in files:
            text = p.read_text(encoding="utf-8", errors="replace")
            if short not in text:
                continue
            for ln in references(text, short):
                callers.append((p.relative_to(root).as_posix(), ln))
        if callers:
            # the call sites' own cast_workaround issues (same bound column as the helper's issue)
            deps = [Issue(issue_type="cast_workaround", severity="info", target_db=issue.target_db, detail="",
                          schema_name=issue.schema_name, table_name=issue.table_name,
                          column_name=issue.column_name, file=f, line=ln).fingerprint for f, ln in callers]
            plan = blocked_plan(issue, f"helper {short}() still has {len(callers)} caller(s): "
                                       + ", ".join(f"{f}:{ln}" for f, ln in callers[:10]), tier="approval",
                                summary=f"remove helper {short}() once its call sites are fixed")
            plan.depends_on = depends + deps
            return plan
        after = run_codemod(RemoveHelperCommand(CodemodContext(), short, line=issue.line), before)
        if after is None:
            return blocked_plan(issue, f"def {short} not found at {issue.file}:{issue.line}", tier="approval")
        edits.append({"path": str(path), "file": issue.file, "sha256_before": _sha(before), "after": after})
        diffs.append(_diff(issue.file, before, after))
        for root, p in files:
            if p.resolve() == path.resolve():
                continue
            text = p.read_text(encoding="utf-8", errors="replace")
            if short not in text:
                continue
            new = run_codemod(RemoveHelperCommand(CodemodContext(), short, imports_only=True), text)
            if new is not None:
                rel = p.relative_to(root).as_posix()
                edits.append({"path": str(p.resolve()), "file": rel, "sha256_before": _sha(text), "after": new})
                diffs.append(_diff(rel, text, new))
        summary = f"remove cast-only helper {short}() (no callers left) from {issue.file}"
    else:
        column = scanner.get("column")
        cmd = RemoveCastCommand(
            CodemodContext(), line=issue.line, kind=kind, cast=ev.get("cast"), function=ev.get("function"),
            col=ev.get("col") if kind != "sql_cast" else None, target_type=scanner.get("target_type"),
            column=column.split(".")[-1] if (kind == "sql_cast" and column) else None,
            param=scanner.get("param") if (kind == "sql_cast" and not column) else None)
        after = run_codemod(cmd, before)
        if after is None:
            return blocked_plan(issue, f"no {kind} found at {issue.file}:{issue.line} (code changed?)",
                                tier="approval")
        edits.append({"path": str(path), "file": issue.file, "sha256_before": _sha(before), "after": after})
        diffs.append(_diff(issue.file, before, after))
        what = {"python_cast": f"Python cast {ev.get('cast')}()", "helper_call": f"call of {ev.get('function')}()",
                "sql_cast": f"SQL cast {ev.get('cast')}"}.get(kind, kind)
        summary = f"remove the {what} at {issue.file}:{issue.line}"
    step = FixStep(description=summary, sql="", lock="none", transactional=False, kind="code")
    return new_plan(
        issue, "approval", summary, steps=[step], diff="".join(diffs), code_edits=edits, depends_on=depends,
        rows_affected=0, rows_rewritten=0,
        backup="the original file content is kept in heal.fix_history (code_backups); rollback writes it back",
        verification="the files parse; the cast is no longer found at that location",
        notes=[f"applies only after {d} verified" for d in depends])


def _plan_js(issue: Issue, path: Path, ctx: PlanContext, depends: list[str]) -> FixPlan:
    """JS/TS: byte-range edits on the tree-sitter tree (heal_pipeline.codescan.javascript.rewrite)."""
    from ..codescan.javascript import JsFixError, plan_js_cast_fix

    before = path.read_text(encoding="utf-8")
    try:
        after, diff = plan_js_cast_fix(path, issue, source_dirs=ctx.source_dirs, rel=issue.file)
    except JsFixError as exc:
        return blocked_plan(issue, str(exc), tier="approval")
    kind = (issue.evidence or {}).get("kind") or "python_cast"
    summary = f"remove the {kind.replace('python_', 'JS ')} at {issue.file}:{issue.line}"
    edits = [{"path": str(path), "file": issue.file, "sha256_before": _sha(before), "after": after}]
    step = FixStep(description=summary, sql="", lock="none", transactional=False, kind="code")
    return new_plan(
        issue, "approval", summary, steps=[step], diff=diff, code_edits=edits, depends_on=depends,
        rows_affected=0, rows_rewritten=0,
        backup="the original file content is kept in heal.fix_history (code_backups); rollback writes it back",
        verification="the edited file re-parses without ERROR/MISSING nodes (and `node --check` for JavaScript "
                     "when node is on PATH)",
        notes=[f"applies only after {d} verified" for d in depends])
