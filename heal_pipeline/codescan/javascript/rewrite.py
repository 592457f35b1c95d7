"""Code fixes for JavaScript/TypeScript: byte-range edits on the tree-sitter tree.

Only the bytes of the cast (or helper) change; everything else — formatting, comments, quotes —
is kept. Every result is re-parsed (no ERROR/MISSING node may appear) and, for JavaScript, checked
with ``node --check`` when a ``node`` binary is on PATH (the detail says whether it ran).

* ``python_cast`` (the scanner's kind for a language cast) — ``parseInt(x)``, ``parseInt(x, 10)``,
  ``Number(x)``, ``String(x)``, ``BigInt(x)``, ``+x``, ``x.toString()``, ```${x}``` → ``x``;
* ``helper_call`` — ``sessionUserKey(x)`` → ``x``;
* ``sql_cast`` — ``u.id::text`` / ``CAST(u.id AS text)`` inside the string → ``u.id``;
* ``helper`` — the cast-only helper's declaration is removed, only when nothing in the file
  refers to it any more (callers in other files: the caller's own fixes come first).

:func:`plan_js_cast_fix` never writes; :func:`apply_js_fix` writes atomically, checks, and
restores the original bytes when the check fails.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from heal_pipeline.codescan.javascript import grammar as G
from heal_pipeline.codescan.javascript.nodes import cast_of, char_col
from heal_pipeline.errors import HealError

_JS_NODE_EXT = (".js", ".mjs", ".cjs")


#: expressions that need parentheses when they replace a call or unary operand in an operand position
_LOW = frozenset({"binary_expression", "ternary_expression", "assignment_expression", "sequence_expression",
                  "augmented_assignment_expression", "arrow_function", "yield_expression", "as_expression",
                  "satisfies_expression"})
#: positions where any expression fits as is
_SAFE = frozenset({"arguments", "array", "template_substitution", "pair", "variable_declarator",
                   "parenthesized_expression", "return_statement", "expression_statement", "spread_element"})


class JsFixError(HealError):
    """The fix cannot be planned (code changed, ambiguous, or the result would not parse)."""


def _get(finding: Any, key: str, default=None):
    if isinstance(finding, dict):
        return finding.get(key, default)
    return getattr(finding, key, default)


def _facts(finding: Any) -> dict:
    """line/col/kind/cast/function/column/param from a CodeFinding, an Issue or a dict."""
    ev = dict(_get(finding, "evidence") or {})
    scanner = ev.pop("scanner", None) or {}
    merged = {**scanner, **ev}
    kind = merged.get("kind") or merged.get("form") or "python_cast"
    kind = {"python": "python_cast", "sql": "sql_cast"}.get(kind, kind)
    col = ev.get("col") or _get(finding, "col")  # an Issue keeps the scanner's column in evidence
    return {"line": _get(finding, "line"), "col": col, "kind": kind,
            "cast": merged.get("cast"), "function": merged.get("helper") or merged.get("function"),
            "column": scanner.get("column") or merged.get("column"), "param": merged.get("param"),
            "target_type": scanner.get("target_type") or merged.get("target_type")}


def plan_js_cast_fix(file_path: str | os.PathLike, finding: Any, *,
                     source_dirs: list | tuple | None = None, rel: str | None = None) -> tuple[str, str]:
    """(new text, unified diff) of the fix for one cast_workaround finding/issue in a JS/TS file.

    ``source_dirs``: for a ``helper`` fix, the roots searched for other modules still using an
    exported helper (without them an exported helper is not removed). ``rel``: the path shown in
    the diff headers (default: the file name).
    Raises :class:`JsFixError` (a HealError) with a one-line reason when the fix does not apply."""
    path = Path(file_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JsFixError(f"{path}: cannot read: {exc.strerror or exc}") from None
    f = _facts(finding)
    if not f["line"]:
        raise JsFixError("the finding has no line")
    tree = G.parse(data, path.name)
    if f["kind"] in ("python_cast", "helper_call"):
        start, end, repl = _cast_edit(tree, data, f)
    elif f["kind"] == "sql_cast":
        start, end, repl = _sql_cast_edit(tree, data, f)
    elif f["kind"] == "helper":
        start, end, repl = _helper_edit(tree, data, f, path, source_dirs)
    else:
        raise JsFixError(f"unknown cast_workaround kind {f['kind']!r}")
    new = data[:start] + repl + data[end:]
    before, after = data.decode("utf-8"), new.decode("utf-8")
    err = G.first_error(G.parse(new, path.name))
    if err is not None and G.first_error(tree) is None:
        raise JsFixError(f"the edited {path.name} would not parse ({err[2]} at line {err[0]}): not changed")
    rel = rel or path.name
    diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))
    return after, diff


def _at_line(tree, line: int, pred) -> list:
    """Nodes starting on ``line`` (1-based) for which ``pred`` holds, outermost first."""
    out, stack = [], [tree.root_node]
    row = line - 1
    while stack:
        n = stack.pop()
        if n.start_point[0] > row or n.end_point[0] < row:
            continue
        if n.start_point[0] == row and pred(n):
            out.append(n)
        stack.extend(reversed(n.children))
    return out


def _cast_edit(tree, data: bytes, f: dict) -> tuple[int, int, bytes]:
    def pred(n):
        if f["kind"] == "helper_call":
            fn = n.child_by_field_name("function") if n.type == "call_expression" else None
            name = (f["function"] or "").split(".")[-1]
            return fn is not None and fn.type == "identifier" and fn.text.decode() == name
        got = cast_of(n, data)
        return got is not None and (not f["cast"] or got[0] == f["cast"]) and n.type not in (
            "parenthesized_expression", "as_expression", "non_null_expression", "satisfies_expression")

    cands = _at_line(tree, f["line"], pred)
    if f["col"]:
        exact = [n for n in cands if char_col(data, n) == f["col"]]
        cands = exact or cands
    if not cands:
        what = f"{f['function']}()" if f["kind"] == "helper_call" else f"{f['cast']} cast"
        raise JsFixError(f"no {what} at line {f['line']} (code changed?)")
    if len(cands) > 1 and not f["col"]:
        raise JsFixError(f"{len(cands)} candidate casts at line {f['line']}: ambiguous without a column")
    n = cands[0]
    if f["kind"] == "helper_call":
        args = [a for a in n.child_by_field_name("arguments").named_children if a.type != "comment"]
        if len(args) != 1:
            raise JsFixError(f"{f['function']}() at line {f['line']} does not take exactly one argument")
        inner = args[0]
    else:
        inner = cast_of(n, data)[1]
    text = data[inner.start_byte:inner.end_byte]
    parent = n.parent.type if n.parent is not None else "program"
    if inner.type in _LOW and parent not in _SAFE:
        text = b"(" + text + b")"
    return n.start_byte, n.end_byte, text


def _sql_cast_edit(tree, data: bytes, f: dict) -> tuple[int, int, bytes]:
    target = f["target_type"] or (f["cast"] or "").lstrip(":")
    if not target:
        raise JsFixError("the SQL cast's type is unknown")
    subject = (f["column"] or "").split(".")[-1] if f["column"] else (f"${f['param']}" if f["param"] else None)
    t = re.escape(target)
    subj = r"(?:[A-Za-z_][\w$]*\.)*" + re.escape(subject) if subject and not subject.startswith("$") else (
        re.escape(subject) if subject else r"(?:[A-Za-z_][\w$]*\.)*[A-Za-z_][\w$]*|\$\d+")
    pats = [re.compile(rf"(?P<x>{subj})\s*::\s*{t}\b", re.IGNORECASE),
            re.compile(rf"\bCAST\s*\(\s*(?P<x>{subj})\s+AS\s+{t}\s*\)", re.IGNORECASE)]
    row = f["line"] - 1
    hits = []
    for n in _at_line_any(tree, row, lambda n: n.type in ("string_fragment",)):
        s = data[n.start_byte:n.end_byte]
        line_start = n.start_byte
        text = s.decode("utf-8")
        # only the part of the fragment on the finding's line
        first_row = n.start_point[0]
        lines = text.split("\n")
        offset = 0
        for i, ln in enumerate(lines):
            if first_row + i == row:
                for p in pats:
                    for m in p.finditer(ln):
                        b0 = line_start + len(text[:offset + m.start()].encode())
                        b1 = line_start + len(text[:offset + m.end()].encode())
                        hits.append((b0, b1, m.group("x").encode()))
            offset += len(ln) + 1
    if not hits:
        raise JsFixError(f"no SQL cast ::{target} at line {f['line']} (code changed?)")
    if len(hits) > 1:
        raise JsFixError(f"{len(hits)} SQL casts ::{target} at line {f['line']}: ambiguous")
    return hits[0]


def _at_line_any(tree, row: int, pred) -> list:
    out, stack = [], [tree.root_node]
    while stack:
        n = stack.pop()
        if n.start_point[0] > row or n.end_point[0] < row:
            continue
        if pred(n):
            out.append(n)
        stack.extend(reversed(n.children))
    return out


def _helper_edit(tree, data: bytes, f: dict, path: Path, source_dirs) -> tuple[int, int, bytes]:
    name = (f["function"] or "").split(".")[-1]
    if not name:
        raise JsFixError("the helper's name is unknown")
    root = tree.root_node
    decl = None
    for st in root.named_children:
        inner = st.child_by_field_name("declaration") if st.type == "export_statement" else st
        if inner is None or st.start_point[0] + 1 != f["line"]:
            continue
        if inner.type == "function_declaration" and inner.child_by_field_name("name").text.decode() == name:
            decl = st
        elif inner.type in ("lexical_declaration", "variable_declaration"):
            ds = [d for d in inner.named_children if d.type == "variable_declarator"]
            if len(ds) == 1 and ds[0].child_by_field_name("name").text.decode() == name:
                decl = st
    if decl is None:
        raise JsFixError(f"helper {name}() not declared at line {f['line']} (code changed?)")
    refs = _refs(root, name, decl)
    if refs:
        raise JsFixError(f"helper {name}() is still used at line(s) "
                         + ", ".join(str(r.start_point[0] + 1) for r in refs[:10]))
    if decl.type == "export_statement":
        if source_dirs is None:
            raise JsFixError(f"helper {name}() is exported: its importers are unknown without the source roots")
        users = _users_elsewhere(name, path, source_dirs)
        if users:
            raise JsFixError(f"helper {name}() is still imported by " + ", ".join(users[:10]))
    start, end = decl.start_byte, decl.end_byte
    while end < len(data) and data[end:end + 1] in (b" ", b"\t"):
        end += 1
    if data[end:end + 1] == b"\n":
        end += 1
    line_start = data.rfind(b"\n", 0, start) + 1
    if data[line_start:start].strip() == b"":
        start = line_start
        # a comment block right above that describes the helper goes with it
        while start > 0:
            prev = data.rfind(b"\n", 0, start - 1) + 1
            if data[prev:start].lstrip().startswith(b"//"):
                start = prev
            else:
                break
    return start, end, b""


def _users_elsewhere(name: str, path: Path, source_dirs) -> list[str]:
    """``file:line`` of every other JS/TS module that mentions ``name`` as an identifier."""
    out = []
    me = path.resolve()
    nb = name.encode()
    for root in source_dirs:
        root = Path(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in G.BUILD_DIRS and not d.startswith("."))
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                if not G.is_source(fn) or p.resolve() == me:
                    continue
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                if nb not in data:
                    continue
                t = G.parse(data, fn)
                for n in _refs(t.root_node, name, None):
                    out.append(f"{p.relative_to(root).as_posix()}:{n.start_point[0] + 1}")
    return out


def _refs(root, name: str, decl) -> list:
    out, stack = [], [root]
    nb = name.encode()
    while stack:
        n = stack.pop()
        if decl is not None and n.start_byte >= decl.start_byte and n.end_byte <= decl.end_byte:
            continue
        if n.type in ("identifier", "shorthand_property_identifier") and n.text == nb:
            out.append(n)
        stack.extend(n.children)
    return sorted(out, key=lambda n: n.start_byte)


# ---- syntax check and apply -------------------------------------------------------------


def check_js_syntax(path_or_text: str | os.PathLike, name: str | None = None) -> tuple[bool, str]:
    """(ok, detail): tree-sitter re-parse (no ERROR/MISSING node), then ``node --check`` for
    JavaScript when ``node`` is on PATH. ``path_or_text``: a file path, or source text with
    ``name`` giving the file name (its extension picks the grammar)."""
    if isinstance(path_or_text, os.PathLike) or (name is None and Path(str(path_or_text)).is_file()):
        path = Path(path_or_text)
        data = path.read_bytes()
        name = path.name
    else:
        path = None
        data = str(path_or_text).encode("utf-8")
        name = name or "module.js"
    err = G.first_error(G.parse(data, name))
    if err is not None:
        return False, f"tree-sitter: {err[2]} at line {err[0]}, column {err[1]}"
    detail = "tree-sitter: no ERROR/MISSING nodes"
    node = shutil.which("node")
    if not name.lower().endswith(_JS_NODE_EXT):
        return True, detail + "; node --check: not run (TypeScript: node cannot check it without a compiler)"
    if node is None:
        return True, detail + "; node --check: not run (no node binary on PATH)"
    tmp = None
    try:
        target = path
        if target is None:
            fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix, prefix=".heal-check-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            target = Path(tmp)
        proc = subprocess.run([node, "--check", str(target)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return True, detail + f"; node --check: could not run ({exc})"
    finally:
        if tmp:
            os.unlink(tmp)
    if proc.returncode != 0:
        msg = next((ln for ln in proc.stderr.splitlines() if "Error" in ln), proc.stderr.strip()[:200])
        return False, f"node --check ({node}) failed: {msg}"
    return True, detail + f"; node --check ({node}): ok"


def apply_js_fix(path: str | os.PathLike, new_text: str, expected_before: str | None = None) -> tuple[bool, str]:
    """Write ``new_text`` atomically, check the syntax, restore the original on failure.

    Returns (ok, detail); the original content is restored byte for byte when not ok."""
    p = Path(path)
    original = p.read_bytes()
    if expected_before is not None and original.decode("utf-8") != expected_before:
        return False, f"{p.name} changed since the fix was planned: not written"
    _write_atomic(p, new_text.encode("utf-8"))
    ok, detail = check_js_syntax(p)
    if not ok:
        _write_atomic(p, original)
        return False, f"{detail}; original restored"
    return True, detail


def _write_atomic(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.heal-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
