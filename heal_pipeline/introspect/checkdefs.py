"""The text of CHECK constraints, remembered between snapshots.

``pg_get_constraintdef`` of a CHECK opens its table: on a fresh backend that is a relcache build per
table (≈ 20 µs; 0.2 s of a 10,000-table snapshot, the largest single cost left). The text depends
only on

* the constraint's catalog row — a new row version (new ``xmin``) on every ALTER of it;
* the names of its table and the table's columns — compared here with the snapshot's own columns;
* names printed from other catalogs (functions, operators, types, enum labels, collations, schemas),
  the search path and the settings that print constants — ``14_check_environment.sql`` folds them
  into one md5, and a changed md5 drops everything remembered.

What is not found here, or no longer matches, is asked from the server in one query on the same
transaction. Constraints holding a ``reg*`` constant (``'t'::regclass`` prints a table's name) are
never remembered: the server spells them on every snapshot.

Entries live in the process, and in a JSON file under heal's cache directory when the caller gives
one (a scheduled run is a new process): one file per target connection string (hashed), written
atomically; an unreadable or foreign file reads as empty — it can cost a refresh, never a wrong text.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

import psycopg

from .. import model
from ..db import load_sql

FORMAT = 1
# below this many checks the server deparses them all in less time than the environment hash takes
# (demo estate: 11 checks ≈ 0.3 ms against ≈ 2 ms)
MIN_CHECKS = 200
# the server's text, and whether it may be remembered: not when the expression holds a reg* constant
# (regclass, regrole, regconfig, …, or an array of one) — it prints the name of an object whose
# renames 14_check_environment.sql does not see
_REG_TYPES = ("24|1008|2202|2207|2203|2208|2204|2209|2205|2210|2206|2211|3734|3735|3769|3770|"
              "4089|4090|4096|4097|4191|4192")
_ASK = ("SELECT con.oid::int8, pg_get_constraintdef(con.oid),"
        f" con.conbin::text !~ ':consttype ({_REG_TYPES}) '"
        "  FROM pg_constraint con WHERE con.oid = ANY (%s::oid[])")
_MEMO: dict[str, tuple[str, dict[str, list]]] = {}  # cache key → (environment, entries)
_LOCK = threading.Lock()


def _signature(schema: str, table: str, columns: Mapping[int, str]) -> str:
    # names and attnums (a rename shuffle can keep the list of names and move an attnum's name)
    text = f"{schema}\x1f{table}\x1e{chr(31).join(columns.values())}\x1e{list(columns)}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class CheckDefs:
    """Remembered CHECK texts of one target: ``"oid:xmin"`` → [table signature, definition]."""

    def __init__(self, dsn: str, cache_dir: Path | None = None) -> None:
        self.key = hashlib.sha256(dsn.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        self.path = Path(cache_dir) / f"checkdefs-{self.key}.json" if cache_dir is not None else None

    def _load(self) -> tuple[str, dict[str, list]]:
        with _LOCK:
            kept = _MEMO.get(self.key)
        if kept is not None:
            return kept
        if self.path is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if (isinstance(data, dict) and data.get("format") == FORMAT
                        and isinstance(data.get("environment"), str) and isinstance(data.get("entries"), dict)):
                    return data["environment"], data["entries"]
            except (OSError, ValueError, UnicodeDecodeError):
                pass  # missing or unreadable: start empty
        return "", {}

    def _keep(self, environment: str, entries: dict[str, list], changed: bool) -> None:
        with _LOCK:
            _MEMO[self.key] = (environment, entries)
        if self.path is None or not changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".checkdefs-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"format": FORMAT, "environment": environment, "entries": entries}, fh,
                          separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache directory: the process memo still holds them

    def resolve(self, conn: psycopg.Connection, pending: list[tuple[int, str, model.Constraint]],
                columns: Mapping[tuple[str, str], Mapping[int, str]]) -> int:
        """Fill the definition of every (oid, xmin, constraint) in ``pending`` (inside the snapshot's
        transaction on ``conn``); returns the queries run."""
        if not pending:
            return 0
        if len(pending) < MIN_CHECKS:
            environment, old, queries = "", {}, 0
        else:
            environment = conn.execute(load_sql("introspect/14_check_environment.sql")).fetchone()[0]
            queries = 1
            old_env, old = self._load()
            if old_env != environment:
                old = {}
        entries: dict[str, list] = {}
        missing: list[tuple[int, str, str, model.Constraint]] = []
        added = 0
        sigs: dict[tuple[str, str], str] = {}
        empty: dict[int, str] = {}
        for oid, xmin, con in pending:
            rel = (con.schema, con.table)
            sig = sigs.get(rel)
            if sig is None:
                sig = sigs[rel] = _signature(con.schema, con.table, columns.get(rel, empty))
            key = f"{oid}:{xmin}"
            hit = old.get(key)
            if isinstance(hit, list) and len(hit) == 2 and hit[0] == sig and isinstance(hit[1], str):
                con.definition = hit[1]
                entries[key] = hit
            else:
                missing.append((oid, key, sig, con))
        if missing:
            defs = {oid: (text, keep) for oid, text, keep in conn.execute(_ASK, ([m[0] for m in missing],))}
            queries += 1
            for oid, key, sig, con in missing:
                text, keep = defs.get(oid, (None, False))
                con.definition = text or ""
                if text and keep:
                    entries[key] = [sig, text]
                    added += 1
        if environment:
            # rewritten only when something was learnt or forgotten (a reg* check is asked every time)
            self._keep(environment, entries, changed=added > 0 or len(entries) != len(old))
        return queries


def forget() -> None:
    """Drop what this process remembers (tests)."""
    with _LOCK:
        _MEMO.clear()


__all__ = ["CheckDefs", "forget"]
