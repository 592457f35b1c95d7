"""Issue 12.6: heal's own store passes the check heal applies to others — every table has a primary key."""

import psycopg

from heal_pipeline.introspect import take_snapshot
from heal_pipeline.store import migrate


def test_every_heal_store_table_has_a_primary_key(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO heal.detection_runs (run_id, target_db, counts) VALUES ('r', 't', '{}')")
        assert conn.execute("SELECT detection_id IS NOT NULL FROM heal.detection_runs").fetchone() == (True,)
    # heal's own snapshot of its own schema (normally excluded), judged like any application schema
    snap = take_snapshot(fresh_dsn, target_db="t", exclude_schemas=())
    tables = {t.name for t in snap.tables if t.schema == "heal" and t.kind in ("table", "partitioned")}
    keyed = {c.table for c in snap.constraints if c.schema == "heal" and c.kind == "primary_key"}
    assert {"code_findings", "detection_runs", "issues", "own_reads"} <= tables
    assert sorted(tables - keyed) == []
