"""Shadow database from migration files: apply failures with file:line, drift, verification against it."""

from __future__ import annotations

import psycopg
import pytest

from heal_pipeline.errors import HealError
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.model import SqlStatement
from heal_pipeline.verify import verify_statements
from heal_pipeline.verify.shadow import schema_drift, shadow_database

MIGRATIONS = {
    "0001_init.sql": """
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id integer REFERENCES users, total numeric(10,2) DEFAULT 0);
CREATE INDEX orders_user_id_idx ON orders (user_id);
""",
    "0002_email.sql": "ALTER TABLE users ADD COLUMN email varchar(100);\n",
    "0003_broken.sql": "CREATE TABLE scratch (a int);\n\nALTER TABLE nope ADD COLUMN b int;\n",
}

LIVE = """
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id integer REFERENCES users, total numeric(10,2) DEFAULT 0);
CREATE TABLE audit (id int);
"""


def _stmt(line, text):
    return SqlStatement(file="app.py", line=line, col=5, call="execute", sql=text, source_kind="literal")


def test_shadow_drift_and_verification(admin_dsn, make_db, tmp_path):
    mig = tmp_path / "migrations"
    mig.mkdir()
    for name, text in MIGRATIONS.items():
        (mig / name).write_text(text)
    live_dsn = make_db()
    with psycopg.connect(live_dsn, autocommit=True) as conn:
        conn.execute(LIVE)
    live = take_snapshot(live_dsn, target_db="live")
    stmts = [_stmt(1, "SELECT email FROM users WHERE id = %s"), _stmt(2, "SELECT a FROM scratch"),
             _stmt(3, "SELECT id FROM audit")]
    with shadow_database(admin_dsn, [mig]) as shadow:
        name = psycopg.conninfo.conninfo_to_dict(shadow.dsn)["dbname"]
        assert shadow.applied == ["0001_init.sql", "0002_email.sql"]
        assert shadow.failures == [{"file": "0003_broken.sql", "line": 3, "sqlstate": "42P01",
                                    "message": 'relation "nope" does not exist'}]
        drift = {(d["kind"], d["object"], d["change"]): d for d in schema_drift(shadow.snapshot, live)}
        with psycopg.connect(shadow.dsn, autocommit=True) as conn:
            checks = verify_statements(conn, stmts)
    assert set(drift) == {("column", "public.users.email", "differs"),
                          ("index", "public.orders.orders_user_id_idx", "only_in_migrations"),
                          ("table", "public.audit", "only_in_live")}
    col = drift[("column", "public.users.email", "differs")]
    assert col["migrations"]["data_type"] == "character varying(100)" and col["live"]["data_type"] == "text"
    assert "CREATE INDEX orders_user_id_idx" in drift[("index", "public.orders.orders_user_id_idx",
                                                        "only_in_migrations")]["migrations"]["definition"]
    assert [c.status for c in checks] == ["ok", "rejected", "rejected"]
    assert checks[0].param_types == ["integer"]
    # the scratch database is gone, the live one untouched
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0
    with psycopg.connect(live_dsn) as conn:
        assert conn.execute("SELECT to_regclass('scratch'), to_regclass('orders_user_id_idx')").fetchone() == (
            None, None)


def test_missing_migrations_folder_is_one_line(admin_dsn, tmp_path):
    with pytest.raises(HealError, match="migrations folder does not exist"):
        with shadow_database(admin_dsn, [tmp_path / "nope"]):
            pass


def test_schema_drift_check_issues(admin_dsn, make_db, tmp_path):
    from heal_pipeline.db import connect
    from heal_pipeline.detect import DetectContext, issues_of
    from heal_pipeline.detect.pg012_schema_drift import seed_shadow_server

    mig = tmp_path / "migrations"
    mig.mkdir()
    for name, text in MIGRATIONS.items():
        (mig / name).write_text(text)
    live_dsn = make_db()
    with psycopg.connect(live_dsn, autocommit=True) as conn:
        conn.execute(LIVE)
    from heal_pipeline.model import CodeScan

    code = CodeScan(roots=[], statements=[_stmt(1, "SELECT id FROM audit")])
    ctx = DetectContext(target_db="t", snapshot=take_snapshot(live_dsn, target_db="t"), code=code,
                        connect=lambda: connect(live_dsn, autocommit=False), migrations_dirs=(mig,))
    assert issues_of(ctx, "schema_drift") == [] and ctx.unchecked[0]["check"] == "schema_drift"
    ctx = DetectContext(target_db="t", snapshot=take_snapshot(live_dsn, target_db="t"), code=code,
                        connect=lambda: connect(live_dsn, autocommit=False), migrations_dirs=(mig,))
    seed_shadow_server(ctx, admin_dsn)
    got = {(i.object_name, i.table_name): i for i in issues_of(ctx, "schema_drift")}
    assert set(got) == {("migration", None), ("column:email", "users"),
                        ("index:orders_user_id_idx", "orders"), ("table:audit", "audit")}
    assert got[("migration", None)].file == "0003_broken.sql" and got[("migration", None)].line == 3
    audit = got[("table:audit", "audit")].evidence
    assert audit["change"] == "only_in_live" and audit["live"] == {"kind": "table", "persistence": "permanent"}
    # the code's statement works on the live database but not on what the migrations build
    assert audit["statements_rejected_on_migrations"][0]["sqlstate"] == "42P01"
    assert ctx.unchecked == []
