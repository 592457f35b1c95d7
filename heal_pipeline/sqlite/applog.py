"""Runtime errors of a SQLite app, read from the app's own log (SQLite has no server log).

Any text or JSON-lines log: a line is kept when it carries one of SQLite's messages
(``no such table: x``, ``no such column: y``, ``datatype mismatch``, ``FOREIGN KEY constraint
failed``, ``NOT NULL constraint failed: t.c``), optionally followed or preceded on the same line by
the statement (``sql=...`` / ``statement: ...`` / a JSON ``sql``/``statement`` key). Lines are
grouped by message + normalised statement into :class:`~heal_pipeline.model.FailedQuery` rows with
a PostgreSQL-equivalent SQLSTATE so reports read the same for both engines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import HealError
from ..model import FailedQuery

PATTERNS = [
    (re.compile(r"no such table: (?:main\.)?([\w$]+)"), "42P01", "missing_table"),
    (re.compile(r"no such column: (?:([\w$]+)\.)?([\w$]+)"), "42703", "missing_column"),
    (re.compile(r"datatype mismatch"), "42804", "datatype_mismatch"),
    (re.compile(r"FOREIGN KEY constraint failed"), "23503", "foreign_key"),
    (re.compile(r"cannot store (\w+) value in (\w+) column ([\w$]+)\.([\w$]+)"), "42804", "datatype_mismatch"),
]
_STMT = re.compile(r"(?:sql|statement|query)\s*[=:]\s*(.+)$", re.IGNORECASE)
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
MAX_BYTES = 256 * 1024 * 1024


def classify(message: str) -> tuple[str, str, tuple] | None:
    for rx, state, kind in PATTERNS:
        m = rx.search(message)
        if m:
            return state, kind, m.groups()
    return None


def read_app_log(path: str | Path) -> list[FailedQuery]:
    p = Path(path)
    if not p.is_file():
        raise HealError(f"app log {p}: not a file")
    groups: dict[tuple[str, str], FailedQuery] = {}
    with open(p, "rb") as fh:
        data = fh.read(MAX_BYTES)
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        msg, stmt = line, None
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                msg = str(obj.get("error") or obj.get("message") or obj.get("msg") or line)
                stmt = obj.get("sql") or obj.get("statement") or obj.get("query")
        hit = classify(msg)
        if hit is None:
            continue
        state, _kind, _groups = hit
        if stmt is None:
            m = _STMT.search(line)
            stmt = m.group(1).strip().strip("\"'") if m else None
        norm = _LITERALS.sub("?", stmt or "")
        key = (state, norm + "|" + _message(msg))
        fq = groups.get(key)
        if fq is None:
            groups[key] = FailedQuery(sqlstate=state, message=_message(msg), statement=stmt, normalized=norm,
                                      source=str(p))
        else:
            fq.count += 1
            fq.statement = stmt or fq.statement
    return list(groups.values())


def _message(msg: str) -> str:
    for rx, _state, _kind in PATTERNS:
        m = rx.search(msg)
        if m:
            return m.group(0)
    return msg[:200]
