"""A shadow database built from the migration files, and its drift from the live database.

:func:`shadow_database` creates a scratch database ``heal_shadow_<random>`` on the server of
``admin_dsn`` (the heal store server — never the target database), applies every ``*.sql`` file
of the migration folders in order (sorted relative paths, as :mod:`heal_pipeline.detect.migrations`
reads them), each file as one implicit transaction under ``statement_timeout``, snapshots it, and
drops it on exit. A file that fails is reported with file:line (the server's position mapped to
the file) and the server's error; the following files are still applied.

:func:`schema_drift` compares the shadow snapshot (what the migrations say) with the live one:
objects in one and not the other, and columns / indexes / constraints / views whose definition
differs, each with both definitions.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psycopg
from psycopg import sql

from ..config import with_database
from ..db import connect
from ..errors import HealError
from ..introspect import take_snapshot
from ..model import Snapshot

__all__ = ["Shadow", "shadow_database", "schema_drift", "migration_files"]


@dataclass
class Shadow:
    dsn: str
    snapshot: Snapshot | None = None
    applied: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)  # {file, line, sqlstate, message}
    seconds: float = 0.0


def migration_files(dirs) -> list[tuple[str, Path]]:
    out = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise HealError(f"migrations folder does not exist: {d}")
        out += [(p.relative_to(d).as_posix(), p) for p in sorted(d.rglob("*.sql"))]
    return out


@contextlib.contextmanager
def shadow_database(admin_dsn: str, migrations_dirs, *, statement_timeout_ms: int = 30_000,
                    snapshot: bool = True) -> Iterator[Shadow]:
    """Build the shadow database; yields a :class:`Shadow`; always drops the database."""
    name = f"heal_shadow_{uuid.uuid4().hex[:10]}"
    files = migration_files(migrations_dirs)
    t0 = time.perf_counter()
    with connect(admin_dsn, purpose="heal store server") as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise HealError(f"cannot create the shadow database on the heal store server: "
                            f"{str(exc).splitlines()[0]}") from None
    shadow = Shadow(dsn=with_database(admin_dsn, name))
    try:
        with connect(shadow.dsn, purpose="shadow database") as conn:
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{int(statement_timeout_ms)}ms")))
            for rel, path in files:
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    shadow.failures.append({"file": rel, "line": None, "sqlstate": None,
                                            "message": f"unreadable: {exc}"})
                    continue
                failure = _apply_file(conn, text)
                if failure is None:
                    shadow.applied.append(rel)
                else:
                    shadow.failures.append({"file": rel, **failure})
        if snapshot:
            shadow.snapshot = take_snapshot(shadow.dsn, target_db="shadow")
        shadow.seconds = time.perf_counter() - t0
        yield shadow
    finally:
        with connect(admin_dsn, purpose="heal store server") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _statements(text: str) -> list[tuple[int, str, dict]] | None:
    """(char offset, text, node) per statement, or None when the file does not parse."""
    from pglast import parser  # noqa: PLC0415

    try:
        tree = json.loads(parser.parse_sql_json(text))
    except Exception:  # noqa: BLE001 - the server then reports the error itself
        return None
    raw = text.encode()
    out = []
    for st in tree.get("stmts") or []:
        start = st.get("stmt_location", 0)
        end = start + st["stmt_len"] if st.get("stmt_len") else len(raw)
        out.append((len(raw[:start].decode(errors="replace")), raw[start:end].decode(errors="replace"),
                    st.get("stmt") or {}))
    return out


def _error(exc: psycopg.Error, text: str, base: int) -> dict[str, Any]:
    diag = exc.diag
    pos = diag.statement_position
    line = None
    if pos and str(pos).isdigit():
        line = text.count("\n", 0, base + int(pos) - 1) + 1
    elif base >= 0:
        line = text.count("\n", 0, base + len(text[base:]) - len(text[base:].lstrip())) + 1
    return {"line": line, "sqlstate": diag.sqlstate,
            "message": diag.message_primary or str(exc).splitlines()[0]}


def _apply_file(conn: psycopg.Connection, text: str) -> dict[str, Any] | None:
    """Apply one migration file atomically; the failure {line, sqlstate, message} or None.

    Statement by statement inside one transaction (so the failing statement's line is known);
    a file with its own transaction control or CONCURRENTLY runs as one simple query."""
    stmts = _statements(text)
    whole = stmts is None or any(
        "TransactionStmt" in node or (node.get("IndexStmt") or {}).get("concurrent")
        or "VacuumStmt" in node or "CreatedbStmt" in node for _o, _t, node in stmts)
    if whole:
        try:
            conn.execute(text.encode())  # trusted migration text, one simple query
        except psycopg.Error as exc:
            return _error(exc, text, 0 if exc.diag.statement_position else -1)
        return None
    base = 0
    try:
        with conn.transaction():
            for base, body, _node in stmts:
                conn.execute(body.encode())
    except psycopg.Error as exc:
        return _error(exc, text, base)
    return None


_KINDS = {
    "table": (lambda s: s.tables, lambda t: (t.schema, t.name), lambda t: {"kind": t.kind, "persistence": t.persistence}),
    "column": (lambda s: s.columns, lambda c: (c.schema, c.table, c.name),
               lambda c: {"data_type": c.data_type, "not_null": c.not_null, "default": c.default,
                          "identity": c.identity, "generated": c.generated}),
    "index": (lambda s: s.indexes, lambda i: (i.schema, i.table, i.name),
              lambda i: {"definition": i.definition}),
    "constraint": (lambda s: [c for c in s.constraints if c.kind != "not_null"], lambda c: (c.schema, c.table, c.name),
                   lambda c: {"definition": c.definition}),
    "view": (lambda s: s.views, lambda v: (v.schema, v.name),
             lambda v: {"materialized": v.materialized, "definition": v.definition}),
}


def schema_drift(migrations: Snapshot, live: Snapshot) -> list[dict[str, Any]]:
    """One row per drifted object: {kind, object, change, migrations, live} (definitions or None).

    ``change``: ``only_in_migrations`` / ``only_in_live`` / ``differs``. Columns of a table that
    exists on one side only are folded into that table's row."""
    out: list[dict[str, Any]] = []
    only_tables: set[tuple] = set()
    for kind, (items, key, shape) in _KINDS.items():
        a = {key(x): x for x in items(migrations)}
        b = {key(x): x for x in items(live)}
        for k in sorted(a.keys() | b.keys(), key=lambda k: tuple(str(p) for p in k)):
            if kind != "table" and k[:2] in only_tables:
                continue
            da = shape(a[k]) if k in a else None
            db = shape(b[k]) if k in b else None
            if da == db:
                continue
            change = "only_in_live" if da is None else "only_in_migrations" if db is None else "differs"
            if kind == "table" and change != "differs":
                only_tables.add(k)
            out.append({"kind": kind, "object": ".".join(map(str, k)), "schema": k[0],
                        "table": k[1], "name": k[-1], "change": change, "migrations": da, "live": db})
    return out
