"""The code scanner: walk source roots, extract SQL call sites, analyse them, report.

Flow (``scan``):

1. walk every root (exclude globs, symlink loops, size limit), read and hash each ``.py``;
2. per file, a *module record* (``python.extract``), keyed by content hash + scanner version
   + call names in the cache; cache misses are processed in parallel above a threshold. A
   file whose bytes mention none of the call names is not parsed at all (``{"pre": 1}``); it
   is parsed later only if another module imports a constant from it;
3. post-pass: references to other modules' constants are resolved against the module index
   (so a change in ``queries.py`` refreshes every statement built from it without
   re-parsing its importers), the SQL is analysed (cached by SQL text), and the statements
   and findings are assembled in a deterministic order.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import errno
import fnmatch
import hashlib
import json
import gc
import os
import re
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any, Iterable

from heal_pipeline.codescan import javascript as JS
from heal_pipeline.codescan import template as T
from heal_pipeline.codescan.assemble import (analysis_key, analyze_parts, finalize, foreign_dialect,
                                             helper_findings)
from heal_pipeline.codescan.dialect import name_dialect
from heal_pipeline.codescan.pool import pool_context
from heal_pipeline.codescan.python import CallNames, decode_source, extract, generated_header
from heal_pipeline.model import CodeFinding, CodeScan, SqlStatement

SCANNER_VERSION = "codescan-3"
DEFAULT_EXCLUDE: tuple[str, ...] = (".venv", "venv", "site-packages", "node_modules", ".git",
                                    "__pycache__")
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
PARALLEL_THRESHOLD = 200
_BATCH = 64


# --------------------------------------------------------------------------------------
# per-file work (runs in worker processes for large cache-miss sets)
# --------------------------------------------------------------------------------------


def process_source(data: bytes, names: CallNames) -> tuple[dict[str, Any], bool]:
    """Module record for one file's bytes, and whether it was parsed with ``ast``."""
    text, reason = decode_source(data)
    if text is None:
        return {"skip": reason}, False
    header = generated_header(text)
    if header is not None:
        return {"skip": f"generated file (header: {header})"}, False
    if not names.prefilter(data):
        return {"pre": 1}, False
    return parse_record(text, names, with_sites=True), True


def parse_record(text: str, names: CallNames, with_sites: bool) -> dict[str, Any]:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return {"skip": f"syntax error: {exc.msg} (line {exc.lineno})"}
    except (ValueError, RecursionError, MemoryError) as exc:
        return {"skip": f"cannot parse: {type(exc).__name__}: {exc}"}
    try:
        rec = extract(text, names, tree=tree)
    except RecursionError:
        return {"skip": "too deeply nested to analyse"}
    if not with_sites:
        rec["sites"], rec["untraced"] = [], []
    for site in rec["sites"]:
        # a wrapper candidate is analysed only once the post-pass knows the wrapper exists
        if T.is_resolved(site["parts"]) and "wrapper_candidate" not in site:
            site["a"] = analyze_parts(site["parts"], site["hint"])
    return rec


def _work_batch(batch: list[tuple[int, bytes]], names: list[str]) -> list[tuple[int, dict, bool]]:
    cn = CallNames(set(names))
    out = []
    for i, data in batch:
        try:
            rec, parsed = process_source(data, cn)
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the scan
            rec, parsed = {"skip": f"scanner error: {type(exc).__name__}: {exc}"}, True
        out.append((i, rec, parsed))
    return out


# --------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------


class _Cache:
    """sqlite: module records by content key, SQL analyses by template key."""

    def __init__(self, cache_dir: Path | None):
        self.db: sqlite3.Connection | None = None
        self.error: str | None = None
        if cache_dir is None:
            return
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.db = self._open(cache_dir / "codescan.sqlite3")
        except (sqlite3.Error, OSError) as exc:
            try:  # a corrupt file: start over
                (cache_dir / "codescan.sqlite3").unlink(missing_ok=True)
                self.db = self._open(cache_dir / "codescan.sqlite3")
            except (sqlite3.Error, OSError):
                self.db = None
                self.error = f"cache disabled: {exc}"

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, record TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        # shortcut: a file whose (size, mtime, inode) is unchanged still has this content key
        db.execute("CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, size INTEGER, "
                   "mtime_ns INTEGER, ino INTEGER, key TEXT NOT NULL)")
        db.execute("SELECT count(*) FROM files").fetchone()
        return db

    def files(self) -> dict[str, str]:
        if self.db is None:
            return {}
        try:
            return dict(self.db.execute("SELECT key, record FROM files"))
        except sqlite3.Error:
            return {}

    def stats(self) -> dict[str, tuple]:
        if self.db is None:
            return {}
        try:
            return {r[0]: r[1:] for r in self.db.execute("SELECT path, size, mtime_ns, ino, key FROM stats")}
        except sqlite3.Error:
            return {}

    def put_stats(self, rows: list[tuple]) -> None:
        if self.db is None or not rows:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO stats (path, size, mtime_ns, ino, key) "
                                "VALUES (?, ?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()

    def put_files(self, rows: list[tuple[str, str]]) -> None:
        if self.db is None or not rows:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO files (key, record) VALUES (?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()

    def analysis(self, key: str) -> dict | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT result FROM analyses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return json.loads(row[0]) if row else None

    def put_analyses(self, rows: list[tuple[str, str]]) -> None:
        if self.db is None or not rows:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO analyses (key, result) VALUES (?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()

    def prune(self, live: set[str], total: int) -> None:
        """Drop records of contents no longer present once they outnumber the live ones."""
        if self.db is None or total <= 2 * len(live) + 500:
            return
        try:
            self.db.execute("BEGIN")
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS live (key TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM live")
            self.db.executemany("INSERT OR IGNORE INTO live VALUES (?)", [(k,) for k in live])
            self.db.execute("DELETE FROM files WHERE key NOT IN (SELECT key FROM live)")
            self.db.execute("DELETE FROM stats WHERE key NOT IN (SELECT key FROM live)")
            self.db.execute("DELETE FROM analyses")
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")  # type: ignore[union-attr]
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass


# --------------------------------------------------------------------------------------
# walking
# --------------------------------------------------------------------------------------


class _File:
    __slots__ = ("root", "rel", "path", "key", "data", "record", "module", "is_pkg", "root_i", "lang")

    def __init__(self, root_i: int, root: Path, rel: str, path: str):
        self.root_i = root_i
        self.root = root
        self.rel = rel
        self.path = path
        self.key: str | None = None
        self.data: bytes | None = None
        self.record: dict | None = None
        self.lang = "python" if rel.endswith(".py") else JS.language_of(rel)  # JS/TS: see javascript/
        parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
        self.is_pkg = parts[-1] == "__init__"
        if self.is_pkg:
            parts = parts[:-1]
        self.module = ".".join(parts) if self.lang == "python" else ""


class _Exclude:
    """Exclude globs: a pattern without ``/`` matches any path component, one with ``/``
    matches the path relative to the root (``fnmatch`` rules)."""

    def __init__(self, patterns: tuple[str, ...]):
        plain = [p for p in patterns if "/" not in p]
        self.names = {p for p in plain if not any(c in p for c in "*?[")}
        globs = [fnmatch.translate(p) for p in plain if p not in self.names]
        self.name_re = re.compile("|".join(globs)) if globs else None
        paths = [fnmatch.translate(p.strip("/")) for p in patterns if "/" in p]
        self.path_re = re.compile("|".join(paths)) if paths else None

    def __call__(self, name: str, rel: str) -> bool:
        if name in self.names:
            return True
        if self.name_re is not None and self.name_re.match(name):
            return True
        return self.path_re is not None and bool(self.path_re.match(rel))


def _walk(root_i: int, root: Path, exclude: _Exclude, skipped: list[CodeFinding]
          ) -> list[_File]:
    files: list[_File] = []
    js_build: dict[str, int] = {}  # JS/TS files under node_modules/dist/build/.next: not source
    if root.is_file():
        return [_File(root_i, root.parent, root.name, str(root))]
    try:
        top = root.stat()
    except OSError as exc:
        skipped.append(CodeFinding(kind="skipped_file", file=".", line=1,
                                   detail=f"source root {root} unreadable: {exc.strerror or exc}"))
        return files
    visited = {(top.st_dev, top.st_ino)}
    # (dir path, rel prefix, ancestors' inode keys)
    stack: list[tuple[str, str, frozenset]] = [(str(root), "", frozenset(visited))]
    while stack:
        d, prefix, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(CodeFinding(kind="skipped_file", file=prefix.rstrip("/") or ".", line=1,
                                       detail=f"directory unreadable: {exc.strerror or exc}"))
            continue
        subdirs = []
        for e in entries:
            name = e.name
            rel = prefix + name
            if exclude(name, rel):
                continue
            try:
                is_link = e.is_symlink()
                if is_link:
                    try:
                        st = os.stat(e.path)
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            reason = "symlink loop"
                        else:
                            reason = f"broken symlink ({exc.strerror or exc})"
                        if name.endswith(".py") or exc.errno == errno.ELOOP:
                            skipped.append(CodeFinding(kind="skipped_file", file=rel, line=1,
                                                       detail=f"{reason}: {os.readlink(e.path)}"))
                        continue
                    is_dir = stat.S_ISDIR(st.st_mode)
                    is_file = stat.S_ISREG(st.st_mode)
                else:
                    is_dir = e.is_dir(follow_symlinks=False)
                    is_file = not is_dir and e.is_file(follow_symlinks=False)
                    st = None
            except OSError as exc:
                skipped.append(CodeFinding(kind="skipped_file", file=rel, line=1,
                                           detail=f"unreadable: {exc.strerror or exc}"))
                continue
            if is_dir:
                st = st or e.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    skipped.append(CodeFinding(
                        kind="skipped_file", file=rel, line=1,
                        detail=f"symlink loop: {rel} -> {os.readlink(e.path) if is_link else '?'} "
                               "points to one of its parent directories"))
                    continue
                if key in visited:
                    if is_link:
                        skipped.append(CodeFinding(
                            kind="skipped_file", file=rel, line=1,
                            detail=f"symlink to a directory already scanned: {os.readlink(e.path)}"))
                    continue
                visited.add(key)
                subdirs.append((e.path, rel + "/", ancestors | {key}))
            elif is_file and name.endswith(".py"):
                files.append(_File(root_i, root, rel, e.path))
            elif is_file and JS.is_source(name):
                build = next((i for i, c in enumerate(rel.split("/")[:-1]) if c in JS.BUILD_DIRS), None)
                if build is None:
                    files.append(_File(root_i, root, rel, e.path))
                else:
                    d = "/".join(rel.split("/")[:build + 1])
                    js_build[d] = js_build.get(d, 0) + 1
        stack.extend(reversed(subdirs))
    for d, n in sorted(js_build.items()):
        skipped.append(CodeFinding(kind="skipped_file", file=d, line=1, detail=(
            f"{n} JavaScript/TypeScript file(s) in a build output or dependency directory "
            f"({d.rsplit('/', 1)[-1]}/) not scanned")))
    return files


# --------------------------------------------------------------------------------------
# the scan
# --------------------------------------------------------------------------------------


def scan(roots: list[Path] | Iterable[Path | str], *, cache_dir: Path | None = None,
         exclude: Iterable[str] = DEFAULT_EXCLUDE, call_names: set[str] | None = None,
         workers: int | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
         parallel_threshold: int = PARALLEL_THRESHOLD, dialect: str = "postgresql") -> CodeScan:
    """Scan Python source roots for the SQL they run. Never raises on bad input.

    ``roots``: directories (or single files); result paths are relative to the root they
    were found under, posix style. ``cache_dir``: where the sqlite cache lives (None = no
    cache). ``exclude``: globs (a bare name matches any path component). ``call_names``:
    execute-like method names (``copy_*`` style prefixes allowed; default
    :data:`DEFAULT_CALL_NAMES`). ``workers``: processes for cache misses above
    ``parallel_threshold`` files (default: all cores). Files above ``max_file_bytes`` are
    skipped. ``dialect``: the target's engine; statements the code attributes to another one
    (``if db.is_sqlite:`` branches) go to ``other_dialects``, with no engine-specific findings.
    """
    t0 = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the scan allocates many small, long-lived objects: GC passes cost ~40 %
    try:
        return _scan(t0, [Path(r) for r in roots], cache_dir, tuple(exclude), call_names,
                     workers, max_file_bytes, parallel_threshold, dialect)
    finally:
        if gc_was_enabled:
            gc.enable()


def _scan(t0: float, roots: list[Path], cache_dir, exclude: tuple[str, ...], call_names,
          workers, max_file_bytes: int, parallel_threshold: int, dialect: str = "postgresql") -> CodeScan:
    names = CallNames(set(call_names) if call_names is not None else None)
    js_names = JS.JsNames(set(call_names) if call_names is not None else None)
    result = CodeScan(roots=[r.as_posix() for r in roots])
    skipped: list[CodeFinding] = []
    statements: list[SqlStatement] = []
    findings: list[CodeFinding] = []
    cache = _Cache(Path(cache_dir) if cache_dir is not None else None)
    try:
        files: list[_File] = []
        matcher = _Exclude(exclude)
        for i, root in enumerate(roots):
            files.extend(_walk(i, root, matcher, skipped))
        salt = f"{SCANNER_VERSION}|{names.signature}|".encode()
        js_salt = f"{SCANNER_VERSION}|{JS.VERSION}|{js_names.signature}|".encode()
        cached = cache.files()
        stats = cache.stats()
        new_stats: list[tuple] = []
        now_ns = time.time_ns()
        misses: list[_File] = []
        hits = 0
        for f in files:
            try:
                st = os.stat(f.path)
                if st.st_size > max_file_bytes:
                    skipped.append(CodeFinding(
                        kind="skipped_file", file=f.rel, line=1,
                        detail=f"too large: {st.st_size} bytes (limit {max_file_bytes})"))
                    f.record = {"skip": None}
                    continue
                sig = (st.st_size, st.st_mtime_ns, st.st_ino)
                known = stats.get(f.path)
                data = None
                if known is not None and tuple(known[:3]) == sig and known[3] in cached:
                    f.key = known[3]
                else:
                    with open(f.path, "rb") as fh:
                        data = fh.read()
                    f.key = hashlib.blake2b((salt if f.lang == "python" else js_salt + f.rel[-4:].encode())
                                            + data, digest_size=16).hexdigest()
                    # trust (size, mtime) next time only when the file was not written in the
                    # last second (a same-size rewrite within one mtime tick is then caught)
                    if st.st_mtime_ns < now_ns - 1_000_000_000:
                        new_stats.append((f.path, st.st_size, st.st_mtime_ns, st.st_ino, f.key))
            except OSError as exc:
                skipped.append(CodeFinding(kind="skipped_file", file=f.rel, line=1,
                                           detail=f"unreadable: {exc.strerror or exc}"))
                f.record = {"skip": None}
                continue
            hit = cached.get(f.key)
            if hit is not None:
                try:
                    f.record = _PRE if hit == _PRE_JSON else json.loads(hit)
                    hits += 1
                    continue
                except ValueError:
                    pass
            if data is None:
                try:
                    with open(f.path, "rb") as fh:
                        data = fh.read()
                except OSError as exc:
                    skipped.append(CodeFinding(kind="skipped_file", file=f.rel, line=1,
                                               detail=f"unreadable: {exc.strerror or exc}"))
                    f.record = {"skip": None}
                    continue
            f.data = data
            misses.append(f)
        result.files_scanned = len(files)
        result.files_cached = hits
        _process([f for f in misses if f.lang == "python"], names, workers, parallel_threshold)
        JS.process_files([f for f in misses if f.lang != "python"], js_names, workers, parallel_threshold)
        result.files_parsed = len(misses)
        new_rows = [(f.key, json.dumps(f.record, separators=(",", ":"), ensure_ascii=False))
                    for f in misses if f.key]
        post = _PostPass(files, names, cache, js_names, dialect)
        statements, findings = post.run()
        result.files_parsed += len(post.lazy_parsed - {id(f) for f in misses})
        new_rows.extend(post.updated_rows)
        cache.put_files(new_rows)
        cache.put_stats(new_stats)
        cache.put_analyses(post.new_analyses)
        cache.prune({f.key for f in files if f.key}, len(cached) + len(new_rows))
        for f in files:
            if f.record and f.record.get("skip"):
                skipped.append(CodeFinding(kind="skipped_file", file=f.rel, line=1,
                                           detail=f.record["skip"]))
        findings.extend(skipped)
        if cache.error:
            findings.append(CodeFinding(kind="skipped_file", file=".", line=1, detail=cache.error))
    finally:
        cache.close()
    result.files_skipped = sum(1 for x in findings if x.kind == "skipped_file")
    statements.sort(key=lambda s: (s.file, s.line, s.col, s.call, s.sql))
    result.other_dialects = [s for s in statements if foreign_dialect(s.dialect, dialect)]
    if result.other_dialects:
        statements = [s for s in statements if not foreign_dialect(s.dialect, dialect)]
    findings = _dedupe(findings)
    findings.sort(key=lambda x: (x.file, x.line, x.col, x.kind, x.detail))
    result.statements = statements
    result.findings = findings
    result.seconds = round(time.perf_counter() - t0, 4)
    return result


_PRE = {"pre": 1}
_PRE_JSON = '{"pre":1}'


def _dedupe(findings: list[CodeFinding]) -> list[CodeFinding]:
    seen: dict[tuple, CodeFinding] = {}
    for x in findings:
        key = (x.kind, x.file, x.line, x.col, x.detail, x.schema, x.table, x.column)
        if key in seen:
            ev = seen[key].evidence
            ev["uses"] = ev.get("uses", 1) + 1
            continue
        seen[key] = x
    return list(seen.values())


def _process(misses: list[_File], names: CallNames, workers: int | None, threshold: int) -> None:
    if not misses:
        return
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    ctx = pool_context(explicit_workers=workers is not None) if len(misses) > threshold and n_workers > 1 else None
    if ctx is not None:
        try:
            _process_parallel(misses, names, n_workers, ctx)
            return
        except (OSError, cf.process.BrokenProcessPool, RuntimeError):
            pass  # fall back to sequential (no fork available, pool died)
    for f in misses:
        if f.record is not None:
            continue
        try:
            f.record, _ = process_source(f.data or b"", names)
        except Exception as exc:  # noqa: BLE001
            f.record = {"skip": f"scanner error: {type(exc).__name__}: {exc}"}
        f.data = None


def _process_parallel(misses: list[_File], names: CallNames, n_workers: int, ctx) -> None:
    # files that pass the cheap prefilter carry the cost: spread them evenly
    flags = [names.prefilter(f.data or b"") for f in misses]
    order = [i for i, h in enumerate(flags) if h] + [i for i, h in enumerate(flags) if not h]
    heavy = sum(flags)
    batches = []
    size = max(8, min(_BATCH, heavy // (n_workers * 4) or _BATCH))
    for k in range(0, len(order), size):
        batches.append([(i, misses[i].data or b"") for i in order[k:k + size]])
    sig = sorted(names.exact) + [p + "*" for p in names.prefixes]
    with cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        for out in pool.map(_work_batch, batches, [sig] * len(batches)):
            for i, rec, _ in out:
                misses[i].record = rec
                misses[i].data = None


# --------------------------------------------------------------------------------------
# post-pass: cross-module constants, analysis, assembly
# --------------------------------------------------------------------------------------


class _PostPass:
    def __init__(self, files: list[_File], names: CallNames, cache: _Cache, js_names=None,
                 dialect: str = "postgresql"):
        self.js_names = js_names
        self.dialect = dialect
        self.files = files
        self.names = names
        self.cache = cache
        self.by_module: list[dict[str, _File]] = []
        for f in files:
            while len(self.by_module) <= f.root_i:
                self.by_module.append({})
            if f.module and f.record is not None and "skip" not in f.record:
                self.by_module[f.root_i].setdefault(f.module, f)
        self._suffix: list[dict[str, list[_File]] | None] = [None] * len(self.by_module)
        self.lazy_parsed: set[int] = set()
        self.updated_rows: list[tuple[str, str]] = []
        self.new_analyses: list[tuple[str, str]] = []
        self._analyses: dict[str, dict] = {}
        self._exports: dict[tuple, list | None] = {}

    # ---- assembly --------------------------------------------------------------------
    def run(self) -> tuple[list[SqlStatement], list[CodeFinding]]:
        statements: list[SqlStatement] = []
        findings: list[CodeFinding] = []
        uses: list[dict] = []
        wrapped = self.wrapper_callers()
        for f in self.files:
            rec = f.record
            if not rec or "sites" not in rec or f.lang != "python":
                continue
            for t in rec.get("tables") or ():
                findings.append(CodeFinding(
                    kind="table_declaration", file=f.rel, line=t["line"], col=t["col"], schema=t["schema"],
                    table=t["name"], detail=(f"ORM declares table {t['schema'] + '.' if t['schema'] else ''}"
                                             f"{t['name']} ({t['via']}{' in class ' + t['class'] if t['class'] else ''})"),
                    evidence={"via": t["via"], "class": t["class"]}))
            for u in rec.get("untraced") or ():
                if u.get("wrapper") in wrapped:
                    continue  # a wrapper's own call: its callers are the statements
                findings.append(CodeFinding(
                    kind="untraced_sql", file=f.rel, line=u["line"], col=u["col"],
                    function=u.get("function"), detail=u["detail"],
                    evidence={"call": u["call"], "reason": u.get("reason")}))
            module_dialect = name_dialect(f.rel.rsplit("/", 1)[-1][:-3])  # backends/sqlite.py
            for site in rec["sites"]:
                k = site.get("wrapper_candidate")
                if k is not None and k not in self.wrappers.get(site["call"], ()):
                    continue  # SQL-looking text given to a function that is no wrapper
                if module_dialect and "dialect" not in site:
                    site = dict(site, dialect=module_dialect)
                analysis = site.get("a")
                if analysis is None:
                    parts = self.resolve(site["parts"], f, set())
                    if parts is None:
                        findings.append(CodeFinding(
                            kind="untraced_sql", file=f.rel, line=site["line"], col=site["col"],
                            function=site.get("function"),
                            detail=f"SQL argument of {site['call']}() refers to a constant that "
                                   "could not be found in the scanned roots",
                            evidence={"call": site["call"], "reason": "unresolved import",
                                      "refs": [p[2] + ":" + ".".join(p[3]) for p in site["parts"]
                                               if p[0] == "r"]}))
                        continue
                    site = dict(site, parts=parts)
                    analysis = self.analysis(parts, site["hint"])
                try:
                    done = finalize(site, f.rel, analysis, "python",
                                    helper_of=lambda item, f=f: self.helper(item, f),
                                    target_dialect=self.dialect)
                    if done is None:
                        continue
                    stmt, fnd, use = done
                except Exception as exc:  # noqa: BLE001 - report, never abort the scan
                    findings.append(CodeFinding(
                        kind="untraced_sql", file=f.rel, line=site["line"], col=site["col"],
                        detail=f"scanner error on this call: {type(exc).__name__}: {exc}",
                        evidence={"call": site["call"], "reason": "scanner error"}))
                    continue
                statements.append(stmt)
                findings.extend(fnd)
                uses.extend(use)
        js_files = [f for f in self.files if f.lang != "python"]
        if js_files:  # the JavaScript/TypeScript language package, same finalize
            js = JS.JsPostPass(js_files, self.js_names or JS.JsNames(), self.analysis).run()
            statements.extend(js[0])
            findings.extend(js[1])
            uses.extend(js[2])
        findings.extend(helper_findings(uses))
        return statements, findings

    def wrapper_callers(self) -> set[str]:
        """Wrappers (functions that pass their SQL parameter to an execute-like call) that have callers.

        ``self.wrappers``: name -> the argument positions their SQL parameter takes. A candidate site
        (SQL-looking text passed to a call of that name at that position) is then a statement;
        the wrapper's own untraced call is not reported once at least one caller is found."""
        self.wrappers: dict[str, set[int]] = {}
        for f in self.files:
            rec = f.record
            if rec and f.lang == "python":
                for w in rec.get("wrappers") or ():
                    self.wrappers.setdefault(w["name"], set()).update((w["sql_index"], "kw:" + w["sql_kw"]))
        if not self.wrappers:
            return set()
        # files never parsed (no execute-like call in their bytes) may still call a wrapper
        pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(self.wrappers))
                             + rb")\s*\(")
        for f in self.files:
            if f.lang != "python" or not (f.record or {}).get("pre"):
                continue
            try:
                with open(f.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if not pattern.search(data):
                continue
            text, _ = decode_source(data)
            if text is None:
                continue
            rec = parse_record(text, self.names, with_sites=True)
            if "skip" in rec:
                continue
            f.record = rec
            self.lazy_parsed.add(id(f))
            if f.key:
                self.updated_rows.append((f.key, json.dumps(rec, separators=(",", ":"), ensure_ascii=False)))
        called = set()
        for f in self.files:
            rec = f.record
            if rec and f.lang == "python":
                for site in rec.get("sites") or ():
                    name = site["call"]
                    k = site.get("wrapper_candidate")  # None: a regular site (the name is execute-like)
                    if name in self.wrappers and (k is None or k in self.wrappers[name]):
                        called.add(name)
        return called

    def analysis(self, parts: list, hint: str | None) -> dict:
        key = analysis_key(parts, hint, SCANNER_VERSION)
        got = self._analyses.get(key)
        if got is None:
            got = self.cache.analysis(key)
            if got is None:
                got = analyze_parts(parts, hint)
                self.new_analyses.append((key, json.dumps(got, separators=(",", ":"), ensure_ascii=False)))
            self._analyses[key] = got
        return got

    # ---- module lookup ---------------------------------------------------------------
    def find_module(self, importer: _File, level: int, module: str) -> _File | None:
        got = self._find_module(importer, importer.root_i, level, module)
        if got is None and not level:
            # several source roots: an absolute import may name a module of another root
            for i in range(len(self.by_module)):
                if i != importer.root_i:
                    got = self._find_module(importer, i, level, module)
                    if got is not None:
                        break
        return got

    def _find_module(self, importer: _File, root_i: int, level: int, module: str) -> _File | None:
        idx = self.by_module[root_i] if root_i < len(self.by_module) else {}
        if level:
            pkg = importer.module.split(".") if importer.module else []
            if not importer.is_pkg:
                pkg = pkg[:-1]
            if level > 1:
                pkg = pkg[: len(pkg) - (level - 1)] if level - 1 <= len(pkg) else []
            full = ".".join([*pkg, module] if module else pkg)
            return idx.get(full)
        got = idx.get(module)
        if got is not None:
            return got
        # not rooted at the scan root (src layouts, scripts importing siblings): by suffix
        suffix = self._suffix[root_i]
        if suffix is None:
            suffix = {}
            for name, f in idx.items():
                ps = name.split(".")
                for k in range(1, len(ps)):
                    suffix.setdefault(".".join(ps[k:]), []).append(f)
            self._suffix[root_i] = suffix
        cands = suffix.get(module) or []
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        here = importer.module.split(".")

        def closeness(c: _File) -> tuple:
            cp = c.module.split(".")
            common = 0
            for a, b in zip(here, cp):
                if a != b:
                    break
                common += 1
            return (-common, len(cp), c.module)

        return sorted(cands, key=closeness)[0]

    def record_of(self, f: _File) -> dict | None:
        rec = f.record
        if rec is None or "skip" in rec:
            return None
        if rec.get("pre"):
            # never parsed (no SQL call in it): parse now, it is a constants source
            try:
                with open(f.path, "rb") as fh:
                    text, _ = decode_source(fh.read())
            except OSError:
                text = None
            if text is None:
                f.record = {"exports": {}, "imports": {}, "star": [], "helpers": {}}
                return f.record
            rec = parse_record(text, self.names, with_sites=False)
            if "skip" in rec:
                rec = {"exports": {}, "imports": {}, "star": [], "helpers": {}}
            rec.pop("sites", None)
            rec.pop("untraced", None)
            f.record = rec
            self.lazy_parsed.add(id(f))
            if f.key:
                self.updated_rows.append((f.key, json.dumps(rec, separators=(",", ":"),
                                                            ensure_ascii=False)))
        return rec

    def lookup(self, importer: _File, level: int, module: str, names: list[str], seen: set
               ) -> tuple[list | None, _File | None]:
        """(template of the constant, its module) for ``from <module> import <names>``."""
        base = module
        for k in range(len(names) - 1, -1, -1):
            modname = ".".join(x for x in [base, *names[:k]] if x)
            target = self.find_module(importer, level, modname) if (modname or level) else None
            if target is None:
                continue
            rest = names[k:]
            if len(rest) != 1:
                return None, None
            return self.export(target, rest[0], seen), target
        return None, None

    def export(self, target: _File, name: str, seen: set) -> list | None:
        key = (target.root_i, target.module, name)
        if key in self._exports:
            return self._exports[key]
        if key in seen:
            return None
        rec = self.record_of(target)
        if rec is None:
            return None
        seen = seen | {key}
        out = None
        if name in rec.get("exports", {}):
            parts = T.with_file(rec["exports"][name], target.rel)
            out = self.resolve(parts, target, seen)
        elif name in rec.get("imports", {}):
            level, mod, nm = rec["imports"][name]
            if nm is not None:
                out, _ = self.lookup(target, level, mod, [nm], seen)
        elif rec.get("star"):
            for level, mod in rec["star"]:
                out, _ = self.lookup(target, level, mod, [name], seen)
                if out is not None:
                    break
        self._exports[key] = out
        return out

    def resolve(self, parts: list, f: _File, seen: set) -> list | None:
        """Template with references replaced; None when it was one unresolvable reference."""
        if T.is_resolved(parts):
            return parts
        out: list = []
        for p in parts:
            if p[0] == "r":
                got, _ = self.lookup(f, p[1], p[2], p[3], seen)
                if got is None:
                    if len(parts) == 1:
                        return None
                    out.append(T.hole("external", ".".join(x for x in [p[2], *p[3]] if x), p[4]))
                else:
                    out.extend(got)
            elif p[0] == "op":
                recv = self.resolve(p[2], f, seen)
                if recv is None:
                    if len(parts) == 1:
                        return None
                    out.append(T.hole("external", "?", p[5]))
                    continue
                args = None if p[3] is None else [None if a is None else self.resolve(a, f, seen)
                                                  for a in p[3]]
                kwargs = {k: (None if v is None else self.resolve(v, f, seen)) for k, v in p[4].items()}
                out.extend(T.apply_op(["op", p[1], recv, args, kwargs, p[5]]))
            else:
                out.append(p)
        return out

    def helper(self, item: dict, f: _File) -> dict | None:
        level, mod, names = item["ref"]
        for k in range(len(names) - 1, -1, -1):
            modname = ".".join(x for x in [mod, *names[:k]] if x)
            target = self.find_module(f, level, modname) if (modname or level) else None
            if target is None:
                continue
            rest = names[k:]
            if len(rest) != 1:
                return None
            rec = self.record_of(target)
            if rec is None:
                return None
            h = rec.get("helpers", {}).get(rest[0])
            if h is None:
                imp = rec.get("imports", {}).get(rest[0])
                if imp is not None and imp[2] is not None and not item.get("_hop"):
                    return self.helper({"ref": [imp[0], imp[1], [imp[2]]], "_hop": 1}, target)
                return None
            return {"name": h["qualname"], "file": target.rel, "line": h["line"], "col": h["col"],
                    "cast": h["cast"]}
        return None
