"""The Dagster path (issue 12 items 8, 9): failed_queries stores the log's duration lines with its
cursor, issue_set reports slow_query from them and a runtime broken_statement from a 42883."""

from __future__ import annotations

import time

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from heal_pipeline.defs.assets import failed_queries, schema_snapshot
from heal_pipeline.defs.assets_detect import issue_set
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.defs.resources import HealResource


def test_log_durations_and_runtime_failures_through_the_assets(fresh_dsn, server_info, monkeypatch):
    if server_info is None:
        pytest.skip("needs the embedded server's jsonlog (HEAL_TEST_DSN points elsewhere)")
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute("CREATE TABLE tags (id int PRIMARY KEY, label text)")
        # the whole database logs every statement's duration (heal reads the setting: 0 ≤ 200 ms)
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 0").format(sql.Identifier(db)))
    monkeypatch.setenv("HEAL_DATABASE_URL", fresh_dsn)
    monkeypatch.setenv("HEAL_TARGET_NAME", "rt")
    monkeypatch.setenv("HEAL_QUERY_LOG", str(server_info.jsonlog))
    for var in ("HEAL_SOURCE_DIRS", "HEAL_MIGRATIONS_DIRS", "HEAL_STORE_URL", "HEAL_QUERY_LOG_KEYS"):
        monkeypatch.delenv(var, raising=False)
    assets = [schema_snapshot, failed_queries, issue_set]
    heal = {"heal": HealResource(database_url=fresh_dsn)}
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["rt"])
        first = dg.materialize(assets, instance=instance, partition_key="rt", resources=heal,
                               selection=["schema_snapshot", "failed_queries"], raise_on_error=False)
        assert first.success
        with psycopg.connect(fresh_dsn, autocommit=True) as conn:
            for _ in range(3):
                conn.execute("SELECT pg_sleep(0.21)", prepare=False)
            with pytest.raises(psycopg.errors.UndefinedFunction):
                conn.execute("SELECT id FROM tags WHERE label > 5")
        time.sleep(0.5)  # the logging collector writes asynchronously
        res = dg.materialize(assets, instance=instance, partition_key="rt", resources=heal, raise_on_error=False)
        assert res.success
        md = res.asset_materializations_for_node("failed_queries")[0].metadata
        assert md["sqlstate/42883"].value == 1 and md["logged_statements"].value >= 1
        assert md["unrecognised_lines"].value == 0
    with psycopg.connect(fresh_dsn) as conn:
        rows = conn.execute("SELECT issue_type, severity, object_name, evidence FROM heal.issues"
                            " WHERE status = 'open' AND issue_type IN ('slow_query', 'broken_statement')"
                            " ORDER BY 1").fetchall()
        stored = conn.execute("SELECT calls FROM heal.logged_statements WHERE normalized = 'select pg_sleep($1)'"
                              ).fetchone()
    assert stored == (3,)
    (broken,) = [r for r in rows if r[0] == "broken_statement"]
    assert broken[1] == "critical" and broken[3]["kind"] == "runtime" and broken[3]["runtime_count"] == 1
    (slow,) = [r for r in rows if r[0] == "slow_query"]
    assert slow[2] == "select pg_sleep($1)" and slow[3]["source"] == "log" and slow[3]["calls"] == 3
    assert slow[3]["mean_ms"] >= 200
