"""schema_snapshot core: every kind of catalog fact, hostile identifiers, drift, bad input."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.config import with_database
from heal_pipeline.errors import ConfigError, ConnectionFailed, HealError
from heal_pipeline.introspect import compute_drift, drift_total, take_snapshot
from heal_pipeline.model import Snapshot
from heal_pipeline.store import open_store, previous_snapshot, save_snapshot

LONG = "t" * 63  # the maximum identifier length
HOSTILE_SCHEMA = 'Weird "Schema"; drop'
HOSTILE_TABLE = 'Ünïcødé tablé'

FIXTURE_SQL = f'''
CREATE SCHEMA app;
CREATE SCHEMA "{HOSTILE_SCHEMA.replace('"', '""')}";
CREATE TABLE app.users (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email varchar(120) NOT NULL UNIQUE,
    score numeric(10,2) DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT score_positive CHECK (score >= 0)
);
CREATE TABLE app.orders (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    note text
);
ALTER TABLE app.orders ADD CONSTRAINT orders_user_fk
    FOREIGN KEY (user_id) REFERENCES app.users (id) NOT VALID;
CREATE TABLE app.order_lines (
    order_id bigint REFERENCES app.orders (id),
    line_no int,
    qty int,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX orders_note_partial ON app.orders (note) WHERE note IS NOT NULL;
CREATE INDEX orders_lower_note ON app.orders (lower(note));
CREATE TABLE "{HOSTILE_SCHEMA.replace('"', '""')}"."{HOSTILE_TABLE}" (
    "select" int PRIMARY KEY,
    "MixedCase" text,
    "semi;colon ""quoted""" text,
    "{LONG}" int
);
CREATE TABLE app."{LONG}" (id int);
CREATE VIEW app.active_users AS SELECT id, email FROM app.users WHERE score > 0;
CREATE MATERIALIZED VIEW app.user_counts AS SELECT count(*) AS n FROM app.users;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
INSERT INTO app.users (email, score) SELECT 'u' || g || '@x.io', g FROM generate_series(1, 50) g;
'''


@pytest.fixture
def catalog_dsn(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(FIXTURE_SQL)
        conn.execute("ANALYZE")
    return fresh_dsn


def test_tables_columns_and_types(catalog_dsn):
    snap = take_snapshot(catalog_dsn, target_db="t")
    names = {(t.schema, t.name) for t in snap.tables}
    assert {("app", "users"), ("app", "orders"), ("app", "order_lines"), ("app", LONG),
            (HOSTILE_SCHEMA, HOSTILE_TABLE)} <= names
    assert "heal" not in snap.schemas and "pg_catalog" not in snap.schemas
    email = snap.column("app", "users", "email")
    assert email is not None and email.data_type == "character varying(120)"
    assert email.type_name == "varchar" and email.typmod == 124 and email.not_null
    score = snap.column("app", "users", "score")
    assert score.data_type == "numeric(10,2)" and score.default == "0" and not score.not_null
    uid = snap.column("app", "users", "id")
    assert uid.identity == "a" and uid.type_name == "int4" and uid.typmod == -1
    created = snap.column("app", "users", "created_at")
    assert created.default == "now()"
    users = snap.table("app", "users")
    assert users.kind == "table" and users.persistence == "permanent"
    assert users.estimated_rows == 50 and users.size_bytes > 0
    # view columns are known too (code may select from a view)
    assert snap.column("app", "active_users", "email") is not None


def test_hostile_identifiers_round_trip(catalog_dsn):
    snap = take_snapshot(catalog_dsn, target_db="t")
    cols = [c.name for c in snap.columns_of(HOSTILE_SCHEMA, HOSTILE_TABLE)]
    assert cols == ["select", "MixedCase", 'semi;colon "quoted"', LONG]
    pk = [c for c in snap.constraints_of(HOSTILE_SCHEMA, HOSTILE_TABLE) if c.kind == "primary_key"]
    assert pk and pk[0].columns == ("select",)
    # the snapshot serialises and comes back identical
    again = Snapshot.from_dict(snap.to_dict())
    assert again.content_hash() == snap.content_hash()
    assert again.columns_of(HOSTILE_SCHEMA, HOSTILE_TABLE) == snap.columns_of(HOSTILE_SCHEMA, HOSTILE_TABLE)


def test_constraints_including_not_valid_and_column_arrays(catalog_dsn):
    snap = take_snapshot(catalog_dsn, target_db="t")
    by_name = {c.name: c for c in snap.constraints}
    fk = by_name["orders_user_fk"]
    assert fk.kind == "foreign_key" and fk.validated is False
    assert fk.columns == ("user_id",) and (fk.ref_schema, fk.ref_table, fk.ref_columns) == (
        "app", "users", ("id",))
    assert "NOT VALID" in fk.definition
    pk = by_name["order_lines_pkey"]
    assert pk.kind == "primary_key" and pk.columns == ("order_id", "line_no")
    assert pk.index_name == "order_lines_pkey"
    assert by_name["users_email_key"].kind == "unique"
    chk = by_name["score_positive"]
    assert chk.kind == "check" and chk.validated and "score >= " in chk.definition
    lines_fk = by_name["order_lines_order_id_fkey"]
    assert lines_fk.validated and lines_fk.ref_columns == ("id",)


def test_indexes_definition_columns_partial_expression_size(catalog_dsn):
    snap = take_snapshot(catalog_dsn, target_db="t")
    idx = {i.name: i for i in snap.indexes}
    partial = idx["orders_note_partial"]
    assert partial.predicate == "(note IS NOT NULL)" and partial.columns == ("note",)
    assert partial.is_valid and not partial.is_unique and partial.method == "btree"
    assert partial.definition.startswith("CREATE INDEX orders_note_partial ON app.orders")
    expr = idx["orders_lower_note"]
    assert expr.columns == (None,) and expr.expressions == "lower(note)"
    pk = idx["order_lines_pkey"]
    assert pk.is_primary and pk.is_unique and pk.columns == ("order_id", "line_no")
    assert pk.key_count == 2 and pk.constraint_name == "order_lines_pkey"
    assert idx["users_email_key"].size_bytes > 0
    assert all(i.opclasses for i in snap.indexes)


def test_invalid_index_is_reported_invalid(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE d (v int); INSERT INTO d VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY d_v_uq ON d (v)")
    snap = take_snapshot(fresh_dsn, target_db="t")
    (ix,) = [i for i in snap.indexes if i.name == "d_v_uq"]
    assert ix.is_valid is False


def test_views_functions_triggers_extensions(catalog_dsn):
    snap = take_snapshot(catalog_dsn, target_db="t")
    views = {v.name: v for v in snap.views}
    assert views["active_users"].materialized is False and "app.users" in views["active_users"].definition
    assert views["user_counts"].materialized is True
    deps = {(d.view_name, d.table_schema, d.table_name) for d in snap.view_dependencies}
    assert ("active_users", "app", "users") in deps and ("user_counts", "app", "users") in deps
    assert [(f.schema, f.name, f.result, f.language) for f in snap.functions] == [
        ("app", "touch", "trigger", "plpgsql")]
    (trg,) = snap.triggers
    assert (trg.table, trg.name, trg.enabled) == ("users", "users_touch", "O")
    assert "pg_stat_statements" in {e.name for e in snap.extensions}
    # extension-owned functions/views are not reported as the application's
    assert not any(f.name.startswith("pg_stat_statements") for f in snap.functions)
    assert not any(v.name.startswith("pg_stat_statements") for v in snap.views)


def test_statistics_and_pg_stat_statements(catalog_dsn, pg_server):
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM app.users WHERE score > %s", (10,))
        conn.execute("SELECT pg_stat_force_next_flush()")
    snap = take_snapshot(catalog_dsn, target_db="t")
    users = snap.table("app", "users")
    assert users.seq_scan >= 3 and users.n_tup_ins == 50
    if pg_server is not None:  # our embedded server preloads pg_stat_statements
        assert snap.pg_stat_statements == "ok"
        texts = [s.query for s in snap.statements]
        assert any("FROM app.users WHERE score > $1" in q for q in texts)
        assert not any(q.startswith("/* heal:") for q in texts), "heal's own queries are excluded"


def test_constant_number_of_queries(make_db, catalog_dsn):
    empty_dsn = make_db()
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    empty = take_snapshot(empty_dsn, target_db="t")
    full = take_snapshot(catalog_dsn, target_db="t")
    # 13 parts + server + pg_stat_statements (maintenance: two in one round trip) ...
    assert empty.query_count <= 15
    # ... plus, with CHECK constraints, one for their texts (below checkdefs.MIN_CHECKS: not remembered)
    assert full.query_count == empty.query_count + 1
    assert empty.tables == [] and empty.counts()["tables"] == 0


def test_drift_added_dropped_changed(catalog_dsn):
    before = take_snapshot(catalog_dsn, target_db="t")
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.orders ADD COLUMN shipped boolean")
        conn.execute("ALTER TABLE app.orders ALTER COLUMN note TYPE varchar(500)")
        conn.execute("DROP INDEX app.orders_lower_note")
        conn.execute("ALTER TABLE app.orders VALIDATE CONSTRAINT orders_user_fk")
        conn.execute("CREATE TABLE app.new_things (id int PRIMARY KEY)")
        conn.execute("DROP INDEX app.orders_note_partial")
        conn.execute("CREATE INDEX orders_note_partial ON app.orders (note, id)")
    after = take_snapshot(catalog_dsn, target_db="t")
    drift = compute_drift(before, after)
    assert drift["columns"]["added"] == ["app.new_things.id", "app.orders.shipped"]
    assert "app.orders.note" in drift["columns"]["changed"]
    assert drift["indexes"]["dropped"] == ["app.orders.orders_lower_note"]
    assert "app.orders.orders_user_fk" in drift["constraints"]["changed"]
    assert drift["tables"]["added"] == ["app.new_things"]
    assert drift["indexes"]["changed"] == ["app.orders.orders_note_partial"]
    assert drift["indexes"]["added"] == ["app.new_things.new_things_pkey"]
    assert before.content_hash() != after.content_hash()
    assert drift_total(compute_drift(after, after)) == 0


def test_store_persists_and_returns_previous(catalog_dsn, make_db):
    store_dsn = make_db()
    snap = take_snapshot(catalog_dsn, target_db="t")
    with open_store(store_dsn) as store:
        assert previous_snapshot(store, "t") is None
        sid = save_snapshot(store, snap, drift=compute_drift(None, snap), run_id="r1", seconds=0.1)
        assert sid > 0
        prev = previous_snapshot(store, "t")
        assert prev is not None and prev.content_hash() == snap.content_hash()
        # idempotent store migrations
        from heal_pipeline.store import migrate
        assert migrate(store) == []


def test_read_only_role_is_enough_and_nothing_is_written(catalog_dsn, admin_dsn):
    role = "heal_ro_tester"
    dbname = psycopg.conninfo.conninfo_to_dict(catalog_dsn)["dbname"]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        ro_dsn = psycopg.conninfo.make_conninfo(catalog_dsn, user=role)
        snap = take_snapshot(ro_dsn, target_db="t")
        assert snap.table("app", "users") is not None
        assert snap.column("app", "orders", "user_id").data_type == "integer"
        with psycopg.connect(catalog_dsn) as conn:
            assert conn.execute("SELECT to_regnamespace('heal')").fetchone()[0] is None
        # the store on a database the role cannot write to: one clear line
        with pytest.raises(HealError, match="heal store"):
            open_store(ro_dsn)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(dbname), sql.Identifier(role)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("dsn, error, text", [
    ("postgresql://nobody@127.0.0.1:1/nodb?connect_timeout=2", ConnectionFailed, "cannot connect"),
    ("not a dsn ===", ConfigError, "not a valid PostgreSQL connection string"),
    ("", ConfigError, "empty"),
])
def test_bad_dsn_gives_one_line(dsn, error, text):
    with pytest.raises(error) as info:
        take_snapshot(dsn, target_db="t")
    msg = str(info.value)
    assert text in msg and "\n" not in msg


def test_missing_database_gives_one_line(admin_dsn):
    with pytest.raises(ConnectionFailed) as info:
        take_snapshot(with_database(admin_dsn, "no_such_db_heal"), target_db="t")
    assert "no_such_db_heal" in str(info.value) and "\n" not in str(info.value)
