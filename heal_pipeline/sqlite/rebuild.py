"""SQLite's documented 12-step table rebuild (lang_altertable.html#otheralter), for column type changes.

1. ``PRAGMA foreign_keys=OFF`` *outside* the transaction (inside one it is ignored, and the DROP
   would cascade);  2. ``BEGIN IMMEDIATE`` (other writers wait on their busy_timeout; readers go on);
3. remember the table's indexes, triggers and the views that read it;  4. precheck that every value
converts losslessly (refuse with samples);  5. ``CREATE TABLE heal_new_X`` from X's own SQL with the
new types;  6. copy with conversion (rowid kept);  7. ``DROP TABLE X``;  8. rename;  9. recreate
indexes, triggers, views;  10. ``PRAGMA foreign_key_check``: no violation that was not there before;
11. row count equal and every row, joined on its key, equal to its converted original; the post-fix
per-row image (key → hash) taken for rollback;
12. ``COMMIT``, then restore ``foreign_keys``. Any failure before COMMIT rolls everything back, and a
killed process leaves the journal, which SQLite replays on the next open: the file is before or after.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Callable

from .target import SqliteError

NEW_PREFIX = "heal_new_"
_STOP = {"PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE", "REFERENCES", "GENERATED",
         "AS", "CONSTRAINT"}
SAMPLE = 5


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Refused(SqliteError):
    """The rebuild was refused before changing anything (values that do not convert, new FK violations)."""

    def __init__(self, message: str, samples: list | None = None):
        super().__init__(message)
        self.samples = samples or []


@dataclass
class RebuildResult:
    table: str
    rows: int
    lock_s: float  # BEGIN IMMEDIATE → COMMIT: how long other writers waited at most
    copy_s: float
    attempts: int
    checksum: str
    post_image: dict = field(default_factory=dict, repr=False)  # key → row hash after the fix


def _split_top(body: str) -> list[str]:
    out, depth, cur, quote = [], 0, [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"', "`", "["):
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def _ident(tok: str) -> str:
    if tok[:1] in ('"', "`", "[") and len(tok) > 1:
        return tok[1:-1].replace('""', '"')
    return tok


_TOKEN = re.compile(r'\s*("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(]+(?:\([^)]*\))?)')


def retyped_create_sql(create_sql: str, new_name: str, types: dict[str, str],
                       add_constraints: tuple[str, ...] = ()) -> str:
    """X's own CREATE TABLE text, renamed, with the declared type of some columns replaced and table
    constraints (``PRIMARY KEY (a)``, ``UNIQUE (b)``…) appended."""
    start = create_sql.index("(")
    end = create_sql.rindex(")")
    items = _split_top(create_sql[start + 1:end])
    done = set()
    for i, item in enumerate(items):
        m = _TOKEN.match(item)
        if not m:
            continue
        name = _ident(m.group(1))
        if name not in types:
            continue
        pos = m.end()
        rest = item[pos:]
        # the old type: tokens up to the first constraint keyword
        tpos = 0
        while True:
            t = _TOKEN.match(rest, tpos)
            if not t or t.group(1).split("(")[0].upper() in _STOP:
                break
            tpos = t.end()
        items[i] = item[:pos] + " " + types[name] + rest[tpos:]
        done.add(name)
    missing = set(types) - done
    if missing:
        raise SqliteError(f"cannot find column(s) {', '.join(sorted(missing))} in the CREATE TABLE text")
    items += [f"\n    {c}" for c in add_constraints]
    return f"CREATE TABLE {q(new_name)} (" + ",".join(items) + create_sql[end:]


def row_hash(row: tuple) -> str:
    # repr tells SQLite's storage classes apart (5, 5.0, '5', b'5', None): a value change or a type change
    return hashlib.blake2b(repr(row).encode(), digest_size=10).hexdigest()


def key_columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], bool]:
    """(key columns, has_rowid): the primary key (or the rowid when there is none), and whether the
    table has a rowid to preserve (not WITHOUT ROWID)."""
    info = conn.execute("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)).fetchall()
    pk = [n for n, _p in info]
    sql = conn.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)).fetchone()
    has_rowid = not (sql and re.search(r"\bWITHOUT\s+ROWID\b", sql[0], re.IGNORECASE))
    return (pk or ["rowid"]), has_rowid


def table_image(conn: sqlite3.Connection, table: str, select: str | None = None,
                types: dict[str, str] | None = None, keep: bool = True) -> tuple[int, str, dict]:
    """(rows, checksum, {key: row hash}) — select defaults to every stored column of the table; with
    ``types`` the key columns are converted too (the image in the post-fix representation)."""
    keys, _ = key_columns(conn, table)
    types = types or {}
    cols = [r[0] for r in conn.execute(
        "SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", (table,))]
    sel = select or ", ".join(q(c) for c in cols)
    keysel = ", ".join("rowid" if k == "rowid" else (f"CAST({q(k)} AS {types[k]})" if k in types else q(k))
                       for k in keys)
    image: dict = {}
    h = hashlib.blake2b(digest_size=16)
    n = 0
    nk = len(keys)
    for row in conn.execute(f"SELECT {keysel}, {sel} FROM {q(table)} ORDER BY {keysel}"):
        k = row[:nk] if nk > 1 else row[0]
        rh = hashlib.blake2b(repr(row[nk:]).encode(), digest_size=10).hexdigest()
        if keep:
            image[k] = rh
        h.update(f"{k!r}{rh}".encode())
        n += 1
    return n, h.hexdigest(), image


def _converts(col: str, typ: str) -> str:
    """A SQL predicate: the column's value converts to the type without loss."""
    t = typ.upper()
    if "INT" in t:
        return (f"({q(col)} IS NULL OR (CAST({q(col)} AS INTEGER) = {q(col)} AND "
                f"CAST(CAST({q(col)} AS INTEGER) AS TEXT) = CAST({q(col)} AS TEXT)))")
    if any(x in t for x in ("REAL", "FLOA", "DOUB")):
        return f"({q(col)} IS NULL OR CAST({q(col)} AS REAL) = {q(col)})"
    return "1"


def begin_immediate(conn: sqlite3.Connection, *, retries: int = 3) -> int:
    """BEGIN IMMEDIATE, waiting busy_timeout each time, at most ``retries`` attempts."""
    for attempt in range(1, retries + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return attempt
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == retries:
                raise SqliteError(f"the database stayed locked by another writer through {retries} "
                                  f"attempts of busy_timeout: {exc}") from None
            time.sleep(0.2 * attempt)
    return retries


def rebuild_table(conn: sqlite3.Connection, table: str, types: dict[str, str], *,
                  add_constraints: tuple[str, ...] = (), retries: int = 3,
                  pause: Callable[[str], None] | None = None) -> RebuildResult:
    """Change declared column types of ``table`` through the 12-step rebuild (see module docstring)."""
    fk_was = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")  # step 1: outside the transaction
    try:
        attempts = begin_immediate(conn, retries=retries)  # step 2
        t_lock = time.perf_counter()
        try:
            res = _rebuild_locked(conn, table, types, pause, tuple(add_constraints))
            conn.execute("COMMIT")  # step 12
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        res.lock_s = time.perf_counter() - t_lock
        res.attempts = attempts
        return res
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if fk_was else 'OFF'}")


def _rebuild_locked(conn, table, types, pause, add_constraints=()) -> RebuildResult:
    row = conn.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if row is None:
        raise SqliteError(f"table {table} does not exist")
    create_sql = row[0]
    # step 3: what depends on the table
    deps = conn.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type, name", (table,)).fetchall()
    views = [(n, s) for n, s in conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'view'")
             if re.search(r"\b" + re.escape(table) + r"\b", s or "", re.IGNORECASE)]
    cols = conn.execute("SELECT name, type, hidden FROM pragma_table_xinfo(?) ORDER BY cid", (table,)).fetchall()
    stored = [c for c, _t, h in cols if h == 0]
    # step 4: every value converts
    for col, typ in types.items():
        bad = conn.execute(f"SELECT count(*) FROM {q(table)} WHERE NOT {_converts(col, typ)}").fetchone()[0]
        if bad:
            samples = [r[0] for r in conn.execute(
                f"SELECT DISTINCT {q(col)} FROM {q(table)} WHERE NOT {_converts(col, typ)} LIMIT {SAMPLE}")]
            raise Refused(f"{bad} value(s) of {table}.{col} do not convert to {typ} without loss, e.g. "
                          f"{', '.join(repr(s) for s in samples)}; nothing was changed", samples)
    fk_before = set(conn.execute("SELECT \"table\", fkid, parent, rowid FROM pragma_foreign_key_check"))
    conv = ", ".join(f"CAST({q(c)} AS {types[c]})" if c in types else q(c) for c in stored)
    keys, is_rowid = key_columns(conn, table)
    before_n = conn.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
    new = NEW_PREFIX + table
    conn.execute(f"DROP TABLE IF EXISTS {q(new)}")
    conn.execute(retyped_create_sql(create_sql, new, types, add_constraints))  # step 5
    t_copy = time.perf_counter()
    # the new table's rowid alias (INTEGER PRIMARY KEY) if it has one: then the rowid follows the key
    npk = conn.execute("SELECT name, type FROM pragma_table_info(?) WHERE pk > 0", (new,)).fetchall()
    alias = npk[0][0] if is_rowid and len(npk) == 1 and (npk[0][1] or "").upper() == "INTEGER" else None
    rid = "rowid, " if is_rowid and alias is None else ""
    try:
        conn.execute(f"INSERT INTO {q(new)} ({rid}{', '.join(q(c) for c in stored)}) "
                     f"SELECT {rid}{conv} FROM {q(table)}")  # step 6
    except sqlite3.IntegrityError as exc:  # an added constraint the rows do not satisfy
        raise Refused(f"the rows of {table} do not satisfy the new definition ({exc}); nothing was changed") from None
    copy_s = time.perf_counter() - t_copy
    # step 11 (first half): every row, joined on its key, equals the old row converted — in SQL
    def conv_of(c: str) -> str:
        return f"CAST(o.{q(c)} AS {types[c]})" if c in types else f"o.{q(c)}"
    on = (f"n.{q(alias)} IS {conv_of(alias)}" if alias else "n.rowid = o.rowid" if is_rowid
          else " AND ".join(f"n.{q(k)} IS {conv_of(k)}" for k in keys))
    differ = " OR ".join(f"n.{q(c)} IS NOT {conv_of(c)}" for c in stored) or "0"
    new_n, bad = conn.execute(
        f"SELECT (SELECT count(*) FROM {q(new)}), (SELECT count(*) FROM {q(new)} n JOIN {q(table)} o ON {on} "
        f"WHERE {differ})").fetchone()
    if new_n != before_n or bad:
        raise SqliteError(f"verification failed on {table}: {before_n} rows before, {new_n} copied, {bad} "
                          "differing from their converted original; rolled back")
    if pause is not None:
        pause("copied")
    for name, _sql in views:
        conn.execute(f"DROP VIEW {q(name)}")
    conn.execute(f"DROP TABLE {q(table)}")  # step 7
    conn.execute(f"ALTER TABLE {q(new)} RENAME TO {q(table)}")  # step 8
    for _typ, _name, sql in deps:  # step 9
        conn.execute(sql)
    for _name, sql in views:
        conn.execute(sql)
    fk_after = set(conn.execute("SELECT \"table\", fkid, parent, rowid FROM pragma_foreign_key_check"))
    new_violations = fk_after - fk_before  # step 10
    if new_violations:
        raise Refused(f"the rebuild of {table} would add {len(new_violations)} foreign key violation(s), e.g. "
                      f"{sorted(new_violations, key=repr)[:3]}; rolled back", sorted(new_violations, key=repr)[:SAMPLE])
    # step 11 (second half): the post-fix per-row image on the key (rollback keeps rows that differ)
    after_n, after_sum, image = table_image(conn, table)
    if after_n != before_n:
        raise SqliteError(f"verification failed on {table}: {before_n} rows before, {after_n} after; rolled back")
    return RebuildResult(table, after_n, 0.0, copy_s, 0, after_sum, image)
