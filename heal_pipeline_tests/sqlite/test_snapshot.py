"""The SQLite snapshot: the model mapping, a constant number of queries, never a write to the file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from heal_pipeline.model import Snapshot
from heal_pipeline.sqlite.snapshot import affinity, snapshot_from_sqlite, take_sqlite_snapshot
from heal_pipeline.sqlite.target import open_readonly, version_tuple

from .conftest import make_file


def _digest(p: Path) -> tuple:
    return (p.stat().st_mtime_ns, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())


def test_affinity_rules():
    cases = {"INTEGER": "integer", "BIGINT": "integer", "VARCHAR(40)": "text", "CLOB": "text", "": "blob",
             "BLOB": "blob", "DOUBLE PRECISION": "real", "FLOAT": "real", "DECIMAL(10,5)": "numeric",
             "BOOLEAN": "numeric", "DATETIME": "numeric", "CHARINT": "integer", "POINT": "integer"}
    assert {t: affinity(t) for t in cases} == cases


def test_model_mapping(demo):
    snap = take_sqlite_snapshot(demo["path"], target_db="shop")
    assert snap.engine == "sqlite" and snap.schemas == ["main"] and snap.query_count == 5
    col = {(c.table, c.name): c for c in snap.columns}
    assert col[("products", "price")].type_name == "real"  # STRICT: the strict type
    assert col[("line_totals", "amount")].generated == "s"
    assert col[("sessions", "user_ref")].data_type == "TEXT" and col[("sessions", "user_ref")].type_name == "text"
    pk = {c.table: c.columns for c in snap.constraints if c.kind == "primary_key"}
    assert pk["order_items"] == ("order_id", "product_id") and "audit_log" not in pk
    fks = {(c.table, c.columns): (c.ref_table, c.ref_columns) for c in snap.constraints if c.kind == "foreign_key"}
    assert fks[("orders", ("user_id",))] == ("users", ("id",))
    ix = {i.name: i for i in snap.indexes}
    assert ix["orders.rowid"].is_primary and ix["orders.rowid"].key_columns == ("id",)  # rowid alias
    assert ix["sqlite_autoindex_order_items_1"].is_primary  # WITHOUT ROWID: the pk b-tree
    assert ix["sqlite_autoindex_users_1"].is_unique and not ix["sqlite_autoindex_users_1"].is_primary
    assert ix["products_sku_price_idx"].key_columns == ("sku", "price")
    assert [v.name for v in snap.views] == ["user_orders"]
    assert {(d.view_name, d.table_name) for d in snap.view_dependencies} == {("user_orders", "users"),
                                                                               ("user_orders", "orders")}
    assert [(t.table, t.name) for t in snap.triggers] == [("orders", "orders_audit")]
    assert "no scan statistics" in snap.unavailable["statistics"]
    assert Snapshot.from_dict(snap.to_dict()).content_hash() == snap.content_hash()


def test_partial_expression_index_and_no_declared_type(tmp_path):
    db = make_file(tmp_path / "p.db", """
        CREATE TABLE t (id INTEGER PRIMARY KEY, a, b TEXT COLLATE NOCASE, deleted INT);
        CREATE INDEX t_live ON t (a) WHERE deleted IS NULL;
        CREATE INDEX t_lower ON t (lower(b));
        CREATE INDEX t_b ON t (b);
        CREATE INDEX t_b_binary ON t (b COLLATE BINARY);""")
    snap = take_sqlite_snapshot(db)
    ix = {i.name: i for i in snap.indexes}
    assert ix["t_live"].predicate == "deleted IS NULL"
    assert ix["t_lower"].columns == (None,) and ix["t_lower"].expressions
    assert ix["t_b"].opclasses == ("NOCASE",) and ix["t_b_binary"].opclasses == ("BINARY",)
    assert {c.name: c.type_name for c in snap.columns}["a"] == "blob"


def test_constant_queries_and_read_only(tmp_path):
    small = make_file(tmp_path / "s.db", "".join(
        f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, p INTEGER REFERENCES t0 (id)); CREATE INDEX t{i}_p ON t{i} (p);"
        for i in range(5)))
    big = make_file(tmp_path / "b.db", "".join(
        f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, p INTEGER REFERENCES t0 (id)); CREATE INDEX t{i}_p ON t{i} (p);"
        for i in range(300)), wal=True)
    w = sqlite3.connect(big)  # an app connection keeps the WAL open
    w.execute("INSERT INTO t1 VALUES (1, NULL)")
    w.commit()
    counts = []
    for db in (small, big):
        before = _digest(db)
        calls = []
        with open_readonly(db) as conn:
            conn.set_trace_callback(calls.append)
            snap = snapshot_from_sqlite(conn, target_db="x", database=db.name)
            conn.set_trace_callback(None)
            try:
                conn.execute("CREATE TABLE nope (a)")
                raise AssertionError("a write went through the read-only connection")
            except sqlite3.OperationalError as exc:
                assert "readonly" in str(exc) or "query_only" in str(exc) or "read-only" in str(exc)
        assert _digest(db) == before  # mtime and bytes unchanged
        counts.append((sum(1 for c in calls if not c.startswith('--')), snap.query_count, len(snap.tables)))
    assert counts[0][:2] == counts[1][:2] == (5, 5) and counts[1][2] == 300
    w.close()


def test_version_guard_fallback_parses_options(tmp_path):
    db = make_file(tmp_path / "o.db", "CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT) STRICT;"
                                      "CREATE TABLE w (k TEXT PRIMARY KEY) WITHOUT ROWID;")
    with open_readonly(db) as conn:
        assert version_tuple(conn) >= (3, 37, 0)
        import heal_pipeline.sqlite.snapshot as mod

        real = mod.version_tuple
        mod.version_tuple = lambda c, v=None: (3, 31, 1)  # an older SQLite: no pragma_table_list
        try:
            old = snapshot_from_sqlite(conn, target_db="o", database="o.db")
        finally:
            mod.version_tuple = real
        new = snapshot_from_sqlite(conn, target_db="o", database="o.db")
    assert old.content_hash() == new.content_hash()
    assert {c.name: c.type_name for c in old.columns if c.table == "s"}["v"] == "text"
    assert [i.name for i in old.indexes if i.table == "w"] == [i.name for i in new.indexes if i.table == "w"]
