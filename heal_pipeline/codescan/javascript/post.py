"""Per-file processing and the cross-module post-pass for JavaScript/TypeScript records.

The scanner (``heal_pipeline/codescan/scanner.py``) walks, hashes and caches; for a JS/TS file it
calls :func:`process_source` (bytes -> module record) and, after all files are known,
:class:`JsPostPass` resolves imported constants and helpers and hands every site to the shared
``assemble.finalize`` — the same statements and findings as for Python, ``language`` set.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import posixpath
import re
from typing import Any, Callable

from heal_pipeline.codescan import template as T
from heal_pipeline.codescan.pool import pool_context
from heal_pipeline.codescan.assemble import analysis_key, analyze_parts, finalize, helper_findings
from heal_pipeline.codescan.javascript import grammar as G
from heal_pipeline.codescan.javascript.extract import JsNames, extract
from heal_pipeline.codescan.python import decode_source, generated_header
from heal_pipeline.model import CodeFinding, SqlStatement

_EXT_ORDER = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_DOLLAR = re.compile(r"\$(\d+)")
_MEMO: dict[str, dict] = {}  # per process: the same SQL text in several modules is analysed once
_EMPTY = {"lang": None, "imports": {}, "exports": {}, "helpers": {}, "sites": [], "untraced": []}


def process_source(data: bytes, rel: str, names: JsNames, with_sites: bool = True) -> dict[str, Any]:
    """Module record of one JS/TS file (``{"skip": reason}`` / ``{"pre": 1}`` as for Python)."""
    text, reason = decode_source(data)
    if text is None:
        return {"skip": reason}
    head = data[:4096].lower()
    maybe = b"generated" in head or b"do not edit" in head
    header = generated_header(text) if maybe else None
    if header is not None:
        return {"skip": f"generated file (header: {header})"}
    why = G.skip_reason(rel, text)
    if why is not None:
        return {"skip": why}
    if with_sites and not names.prefilter(data):
        return {"pre": 1}
    try:
        rec = extract(data, rel, names, with_sites=with_sites)
    except RecursionError:
        return {"skip": "too deeply nested to analyse"}
    for site in rec["sites"]:
        if T.is_resolved(site["parts"]):
            key = analysis_key(site["parts"], site["hint"])
            got = _MEMO.get(key)
            if got is None:
                if len(_MEMO) > 20000:
                    _MEMO.clear()
                got = _MEMO[key] = analyze_parts(site["parts"], site["hint"])
            site["a"] = dict(got)  # finalize() memoises parsed facts on its copy
    return rec


class JsPostPass:
    """Resolve ``["r", 0, spec, [name], line]`` parts against the scanned JS/TS modules."""

    def __init__(self, files: list, names: JsNames, analysis: Callable[[list, str | None], dict]):
        self.files = files
        self.names = names
        self.analysis = analysis
        self.by_rel: dict[tuple[int, str], Any] = {(f.root_i, f.rel): f for f in files}
        self._exports: dict[tuple, list | None] = {}

    def run(self) -> tuple[list[SqlStatement], list[CodeFinding], list[dict]]:
        statements: list[SqlStatement] = []
        findings: list[CodeFinding] = []
        uses: list[dict] = []
        for f in self.files:
            rec = f.record
            if not rec or "sites" not in rec:
                continue
            lang = rec.get("lang") or G.language_of(f.rel) or "javascript"
            for u in rec.get("untraced") or ():
                findings.append(CodeFinding(
                    kind="untraced_sql", file=f.rel, line=u["line"], col=u["col"], function=u.get("function"),
                    detail=u["detail"], evidence={"call": u["call"], "reason": u.get("reason"), "language": lang}))
            for site in rec["sites"]:
                try:
                    done = self.site(f, site, lang)
                except Exception as exc:  # noqa: BLE001 - report, never abort the scan
                    findings.append(CodeFinding(
                        kind="untraced_sql", file=f.rel, line=site["line"], col=site["col"],
                        detail=f"scanner error on this call: {type(exc).__name__}: {exc}",
                        evidence={"call": site["call"], "reason": "scanner error", "language": lang}))
                    continue
                if done is None:
                    continue
                if isinstance(done, CodeFinding):
                    findings.append(done)
                    continue
                stmt, fnd, use = done
                statements.append(stmt)
                findings.extend(fnd)
                uses.extend(use)
        # cast-only helpers: JS/TS uses only name JS/TS helpers, so they are summarised here
        for h in helper_findings(uses):
            findings.append(_flavour(h, G.language_of(h.file) or "javascript"))
        return statements, findings, []

    def site(self, f, site: dict, lang: str):
        analysis = site.get("a")
        parts = site["parts"]
        if analysis is None:
            parts = self.resolve(parts, f, set())
            if parts is None:
                return CodeFinding(
                    kind="untraced_sql", file=f.rel, line=site["line"], col=site["col"],
                    function=site.get("function"),
                    detail=f"SQL argument of {site['call']}() refers to a constant that could not be "
                           "found in the scanned roots",
                    evidence={"call": site["call"], "reason": "unresolved import", "language": lang,
                              "refs": [f"{p[2]}:{p[3][0]}" for p in site["parts"] if p[0] == "r"]})
            site = dict(site, parts=parts)
            analysis = self.analysis(parts, site["hint"])
        helper_of = lambda item, f=f: self.helper(item, f)  # noqa: E731
        done = finalize(site, f.rel, analysis, lang, helper_of=helper_of)
        if done is None:
            return None
        stmt, fnd, use = done
        if site.get("hole_args"):
            extra, more = self.hole_casts(f, site, parts, lang, helper_of)
            fnd = fnd + extra
            use = use + more
        return stmt, [_flavour(x, lang) for x in fnd], use

    def hole_casts(self, f, site: dict, parts: list, lang: str, helper_of) -> tuple[list, list]:
        """Casts interpolated into an untagged template (``user_id = ${parseInt(id)}``): bind each
        such hole as a ``$n`` parameter in a second analysis to learn its column."""
        top = max([int(m) for p in parts if p[0] == "t" for m in _DOLLAR.findall(p[1])] or [0])
        by_label = {}
        for item in site["hole_args"]:
            by_label.setdefault(item["key"], item)
        alt, args, n = [], [], top
        for p in parts:
            if p[0] == "h" and p[1] == "runtime" and p[2] in by_label:
                n += 1
                alt.append(T.text(f"${n}", None))
                args.append(dict(by_label[p[2]], key=n - 1))
            else:
                alt.append(p)
        if not args:
            return [], []
        analysis = self.analysis(alt, site["hint"])
        done = finalize(dict(site, parts=alt, args=args, loop=None), f.rel, analysis, lang, helper_of=helper_of)
        if done is None:
            return [], []
        _, fnd, use = done
        keep = [x for x in fnd if x.kind == "cast_workaround" and x.evidence.get("kind") in ("python_cast", "helper_call")]
        for x in keep:
            x.evidence["interpolated"] = True
        return keep, use

    # ---- modules ---------------------------------------------------------------------
    def target(self, f, spec: str):
        if spec.startswith("."):
            base = posixpath.normpath(posixpath.join(posixpath.dirname(f.rel), spec))
        elif spec.startswith(("@/", "~/")):
            base = "src/" + spec[2:]
        else:
            return None
        stem = base
        for ext in (".js", ".mjs", ".cjs", ".jsx"):
            if base.endswith(ext):
                stem = base[: -len(ext)]
                break
        cands = [base] + [stem + e for e in _EXT_ORDER] + [stem + "/index" + e for e in _EXT_ORDER]
        for c in cands:
            got = self.by_rel.get((f.root_i, c))
            if got is not None:
                return got
        return None

    def record_of(self, t) -> dict | None:
        rec = t.record
        if rec is None or "skip" in rec:
            return None
        if rec.get("pre"):
            try:
                with open(t.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = b""
            rec = process_source(data, t.rel, self.names, with_sites=False)
            if "skip" in rec or "pre" in rec:
                rec = dict(_EMPTY)
            t.record = rec  # this run only: the cache keeps the cheap {"pre": 1}
        return rec

    def export(self, t, name: str, seen: set) -> list | None:
        key = (t.root_i, t.rel, name)
        if key in self._exports:
            return self._exports[key]
        if key in seen:
            return None
        rec = self.record_of(t)
        if rec is None:
            return None
        seen = seen | {key}
        out = None
        if name in rec.get("exports", {}):
            out = self.resolve(T.with_file(rec["exports"][name], t.rel), t, seen)
        elif name in rec.get("imports", {}):
            spec, nm = rec["imports"][name]
            nxt = self.target(t, spec)
            if nxt is not None and nm not in ("*", "default"):
                out = self.export(nxt, nm, seen)
        self._exports[key] = out
        return out

    def resolve(self, parts: list, f, seen: set) -> list | None:
        if T.is_resolved(parts):
            return parts
        out: list = []
        for p in parts:
            if p[0] != "r":
                out.append(p)
                continue
            t = self.target(f, p[2])
            got = self.export(t, p[3][0], seen) if t is not None else None
            if got is None:
                if len(parts) == 1:
                    return None
                out.append(T.hole("external", f"{p[2]}:{p[3][0]}", p[4]))
            else:
                out.extend(got)
        return out

    def helper(self, item: dict, f) -> dict | None:
        spec, name = item["ref"]
        t = self.target(f, spec)
        if t is None:
            return None
        rec = self.record_of(t)
        if rec is None:
            return None
        h = rec.get("helpers", {}).get(name)
        if h is None:
            imp = rec.get("imports", {}).get(name)
            if imp is not None and not item.get("_hop"):
                return self.helper({"ref": imp, "_hop": 1}, t)
            return None
        return {"name": h["qualname"], "file": t.rel, "line": h["line"], "col": h["col"], "cast": h["cast"]}


def _flavour(x: CodeFinding, lang: str) -> CodeFinding:
    """Say the language in evidence; JS casts are not "Python casts" in the detail."""
    x.evidence["language"] = lang
    if x.kind == "unsafe_sql" and x.detail.endswith("(or compose with psycopg.sql)"):
        return dataclasses.replace(x, detail=x.detail[: -len("(or compose with psycopg.sql)")]
                                   + "(a sql`...` tagged template or $1 placeholders)")
    if x.kind == "cast_workaround" and x.detail.startswith("Python cast "):
        what = "JavaScript" if lang == "javascript" else "TypeScript"
        cast = x.evidence.get("cast")
        if cast == "+":
            shown = "unary +"
        elif cast == "toString":
            shown = ".toString()"
        elif cast == "`${}`":
            shown = "`${…}` coercion"
        else:
            shown = None
        detail = f"{what} cast " + x.detail[len("Python cast "):]
        if shown and x.evidence.get("kind") == "python_cast":
            detail = f"{what} cast {shown} " + detail.split("() ", 1)[1]
        return dataclasses.replace(x, detail=detail)
    return x


def process_files(misses: list, names: JsNames, workers: int | None = None, threshold: int = 200) -> None:
    """Fill ``record`` of each cache-miss JS/TS file (the scanner's ``_File`` objects); in worker
    processes above ``threshold`` files, as the Python files are."""
    _MEMO.clear()  # one scan's memo only (forked workers inherit it)
    todo = [f for f in misses if f.record is None]
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    ctx = pool_context(explicit_workers=workers is not None) if len(todo) > threshold and n_workers > 1 else None
    if ctx is not None:
        try:
            _parallel(todo, names, n_workers, ctx)
            return
        except (OSError, cf.process.BrokenProcessPool, RuntimeError):
            pass  # sequential fallback (no fork available, the pool died)
    for f in todo:
        if f.record is None:
            f.record = _one(f.data or b"", f.rel, names)
        f.data = None


def _one(data: bytes, rel: str, names: JsNames) -> dict:
    try:
        return process_source(data, rel, names)
    except Exception as exc:  # noqa: BLE001 - one bad file never aborts the scan
        return {"skip": f"scanner error: {type(exc).__name__}: {exc}"}


def _batch(batch: list[tuple[int, str, bytes]], sig: list[str] | None) -> list[tuple[int, dict]]:
    names = JsNames(None if sig is None else set(sig))
    return [(i, _one(data, rel, names)) for i, rel, data in batch]


def _parallel(todo: list, names: JsNames, n_workers: int, ctx) -> None:
    # the files that pass the prefilter carry the cost: spread them evenly
    flags = [names.prefilter(f.data or b"") for f in todo]
    order = [i for i, h in enumerate(flags) if h] + [i for i, h in enumerate(flags) if not h]
    heavy = sum(flags)
    size = max(8, min(64, heavy // (n_workers * 4) or 64))
    batches = [[(i, todo[i].rel, todo[i].data or b"") for i in order[k:k + size]]
               for k in range(0, len(order), size)]
    sig = None if names.configured is None else sorted(names.configured)
    with cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        for out in pool.map(_batch, batches, [sig] * len(batches)):
            for i, rec in out:
                todo[i].record = rec
                todo[i].data = None
