"""Applying code fixes (unified-diff plans from the LibCST codemods) with a backup and a revert."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any



def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_unchanged(edits: list[dict[str, Any]]) -> str | None:
    """Why the files no longer match the plan (None: all as planned)."""
    for e in edits:
        p = Path(e["path"])
        if not p.is_file():
            return f"{e.get('file') or p} no longer exists"
        if sha(p.read_text(encoding="utf-8")) != e["sha256_before"]:
            return f"{e.get('file') or p} changed since the plan was made"
    return None


def write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.heal-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parses(path: Path) -> str | None:
    """None when the file parses (LibCST and CPython's compiler), else the error."""
    if path.suffix in (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"):
        from ..codescan.javascript import check_js_syntax

        ok, detail = check_js_syntax(path)
        return None if ok else f"{path.name}: {detail}"
    import libcst as cst  # lazy: heavy import, only code fixes need it

    text = path.read_text(encoding="utf-8")
    try:
        cst.parse_module(text)
        compile(text, str(path), "exec", dont_inherit=True)
    except (cst.ParserSyntaxError, SyntaxError, ValueError) as exc:
        return f"{path.name}: {str(exc).splitlines()[0]}"
    return None


def restore(backups: dict[str, str]) -> list[str]:
    """Write the original contents back; returns the errors (empty on success)."""
    errors = []
    for path, text in backups.items():
        try:
            write_atomic(Path(path), text)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    return errors


def temp_path(path: Path, tag: str) -> Path:
    """The temporary file of one edit of attempt ``tag`` (same directory: the rename is atomic; the
    name is fixed by the tag so crash recovery finds it from the journal)."""
    return path.with_name(f".{path.name}.heal-{tag}.tmp")


def write_set(edits: list[dict[str, Any]], tag: str, journal, fault) -> None:
    """Write every file of a code change set, all or nothing: the journal names the temp files before
    any is written, all temp files are written and synced, then renamed one by one over the originals.
    On any error the renamed ones are restored (the caller holds the originals) and temps removed."""
    paths = [Path(e["path"]) for e in edits]
    temps = [temp_path(p, tag) for p in paths]
    journal({"event": "intent", "list": "code", "files": [str(p) for p in paths], "temps": [str(t) for t in temps]})
    try:
        for p, t, e in zip(paths, temps, edits):
            mode = p.stat().st_mode if p.exists() else 0o644
            with open(t, "w", encoding="utf-8", newline="") as f:
                f.write(e["after"])
                f.flush()
                os.fsync(f.fileno())
            os.chmod(t, mode & 0o7777)
        fault("code:temps_written")
        for i, (p, t) in enumerate(zip(paths, temps)):
            os.replace(t, p)
            fault(f"code:{i}:renamed")
    finally:
        for t in temps:
            try:
                t.unlink()
            except FileNotFoundError:
                pass
    journal({"event": "done", "list": "code", "files": [str(p) for p in paths]})


def recover_set(journal_entries: list[dict[str, Any]], backups: dict[str, str] | None,
                edits: list[dict[str, Any]]) -> list[str]:
    """After a crash mid-set: remove the temp files the journal names, and put back every original whose
    file holds exactly heal's edit (a file someone changed since is left alone and reported)."""
    notes = []
    for e in journal_entries:
        for t in e.get("temps") or []:
            try:
                Path(t).unlink()
                notes.append(f"removed {t}")
            except FileNotFoundError:
                pass
    after = {e["path"]: e["after"] for e in edits}
    for path, original in (backups or {}).items():
        p = Path(path)
        if not p.is_file():
            continue
        current = p.read_text(encoding="utf-8")
        if sha(current) == sha(original):
            continue
        if path in after and sha(current) == sha(after[path]):
            write_atomic(p, original)
            notes.append(f"restored {path}")
        else:
            notes.append(f"{path} changed by someone else since: not overwritten")
    return notes


class MergeConflict(Exception):
    pass


def merge3(base: str, ours: str, theirs: str) -> str:
    """Line-based three-way merge of two edits of ``base`` (the code edits of one change set touch
    different lines of the same file: each was planned against the original). Overlapping changes
    raise :class:`MergeConflict` — never a guess."""
    import difflib

    b = base.splitlines(keepends=True)

    def changes(other: str) -> list[tuple[int, int, list[str]]]:
        o = other.splitlines(keepends=True)
        return [(i1, i2, o[j1:j2]) for tag, i1, i2, j1, j2 in
                difflib.SequenceMatcher(None, b, o, autojunk=False).get_opcodes() if tag != "equal"]

    edits = sorted(changes(ours) + changes(theirs), key=lambda e: (e[0], e[1]))
    out: list[str] = []
    pos = 0
    last: tuple[int, int, list[str]] | None = None
    for i1, i2, new in edits:
        if last is not None and last == (i1, i2, new):
            continue  # the same change on both sides
        if i1 < pos or (last is not None and i1 == last[0] == last[1] == i2):
            raise MergeConflict(f"overlapping edits around line {i1 + 1}")
        out.extend(b[pos:i1])
        out.extend(new)
        pos = i2
        last = (i1, i2, new)
    out.extend(b[pos:])
    return "".join(out)
