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
