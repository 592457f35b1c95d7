"""``heal demo build --sqlite PATH``: a SQLite slice of the demo estate, with planted issues.

Writes PATH (refusing to overwrite a file it did not create, unless ``replace``), an ``app/``
directory of Python code next to it that queries the file with ``sqlite3`` and a ``migrations/``
directory, so ``heal check --dsn sqlite:////abs/PATH --source-dir app`` finds every planted issue.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import HealError

APPLICATION_ID = 0x6865616C  # "heal": PRAGMA application_id marks a file heal built

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, price REAL NOT NULL) STRICT;
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    total REAL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    qty INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id)
) WITHOUT ROWID;
CREATE TABLE sessions (token TEXT PRIMARY KEY, user_ref TEXT, seen_at TEXT);
CREATE TABLE audit_log (happened_at TEXT, payload TEXT);
CREATE TABLE legacy_exports (id INTEGER PRIMARY KEY, blob BLOB);
CREATE TABLE line_totals (id INTEGER PRIMARY KEY, qty INTEGER, price REAL,
                          amount REAL GENERATED ALWAYS AS (qty * price) STORED);
CREATE INDEX products_sku_idx ON products (sku);
CREATE INDEX products_sku_price_idx ON products (sku, price);
CREATE VIEW user_orders AS SELECT u.email, o.id, o.total FROM users u JOIN orders o ON o.user_id = u.id;
CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN
    INSERT INTO audit_log (happened_at, payload) VALUES (datetime('now'), NEW.id);
END;
"""

APP = '''"""The demo shop's data access (sqlite3)."""
import sqlite3


def recent_orders(conn: sqlite3.Connection, user_id: int):
    return conn.execute(
        "SELECT o.id, o.total, o.discount FROM orders o WHERE o.user_id = ? ORDER BY o.created_at",
        (user_id,)).fetchall()


def session_user(conn, token):
    return conn.execute(
        "SELECT u.email FROM sessions s JOIN users u ON s.user_ref = u.id WHERE s.token = ?",
        (token,)).fetchone()


def refund(conn, order_id, amount):
    conn.execute("INSERT INTO refunds (order_id, amount) VALUES (?, ?)", (order_id, amount))


def order_lines(conn, order_id):
    return conn.execute(
        "SELECT i.qty, p.sku FROM order_items i JOIN products p ON p.id = i.product_id "
        "WHERE i.order_id = ?", (order_id,)).fetchall()


def audit(conn):
    return conn.execute("SELECT happened_at, payload FROM audit_log").fetchall()


def totals(conn):
    return conn.execute("SELECT id, amount FROM line_totals").fetchall()


def register(conn, email, name):
    conn.execute("INSERT OR IGNORE INTO users (email, name) VALUES (?, ?)", (email, name))
'''

MIGRATION = """-- 0002: refunds
CREATE TABLE refunds (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL REFERENCES orders (id),
                      amount REAL NOT NULL);
ALTER TABLE orders ADD COLUMN discount REAL;
"""

#: (issue_type, table, column) the demo plants
PLANTED = [
    ("fk_without_index", "orders", None),
    ("type_mismatch", "order_items", "product_id"),
    ("type_mismatch", "sessions", "user_ref"),
    ("orphaned_rows", "orders", "user_id"),
    ("missing_table", "refunds", None),
    ("missing_column", "orders", "discount"),
    ("no_primary_key", "audit_log", None),
    ("duplicate_index", "products", None),
    ("unused_table", "legacy_exports", None),
]


def build_sqlite_demo(path: str | Path, *, replace: bool = False, rows: int = 200) -> dict:
    p = Path(path).absolute()
    if p.exists():
        ok = False
        try:
            with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as c:
                ok = c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        except sqlite3.Error:
            ok = False
        if not ok or not replace:
            raise HealError(f"{p} exists{' and is not a heal demo file' if not ok else ''}; "
                            + ("pass --replace to rebuild it" if ok else "choose another path"))
        p.unlink()
    if not p.parent.is_dir():
        raise HealError(f"{p.parent}: not a directory")
    conn = sqlite3.connect(p, isolation_level=None)
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.executescript(SCHEMA)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO users (id, email, name) VALUES (?, ?, ?)",
                         [(i, f"u{i}@example.com", f"User {i}") for i in range(1, rows + 1)])
        conn.executemany("INSERT INTO products (id, sku, price) VALUES (?, ?, ?)",
                         [(i, f"SKU-{i:04d}", i * 1.5) for i in range(1, 51)])
        # orders 1..rows; the last 3 reference users that do not exist (foreign_keys is off)
        conn.executemany("INSERT INTO orders (id, user_id, created_at, total) VALUES (?, ?, ?, ?)",
                         [(i, (i % rows) + 1 if i <= rows - 3 else rows + i, f"2025-01-{(i % 28) + 1:02d}",
                           i * 2.0) for i in range(1, rows + 1)])
        conn.executemany("INSERT INTO order_items VALUES (?, ?, ?)",
                         [(i, str((i % 50) + 1), 1 + i % 3) for i in range(1, rows + 1)])
        conn.executemany("INSERT INTO sessions VALUES (?, ?, ?)",
                         [(f"t{i}", str(i), "2025-01-01") for i in range(1, 21)])
        conn.execute("INSERT INTO audit_log VALUES ('2025-01-01', 'seed')")
        conn.execute("COMMIT")
    finally:
        conn.close()
    app = p.parent / "app"
    mig = p.parent / "migrations"
    app.mkdir(exist_ok=True)
    mig.mkdir(exist_ok=True)
    (app / "shop.py").write_text(APP, encoding="utf-8")
    (mig / "0002_refunds.sql").write_text(MIGRATION, encoding="utf-8")
    (p.parent / "planted.json").write_text(json.dumps(
        [{"issue_type": t, "table": tb, "column": c} for t, tb, c in PLANTED], indent=2) + "\n")
    return {"path": str(p), "dsn": f"sqlite:///{p.as_posix()}", "source_dir": str(app),
            "migrations_dir": str(mig), "planted": len(PLANTED)}
