"""The code location loads, and schema_snapshot materializes for real (real instance, real DB)."""

import dagster as dg
import psycopg
import pytest

from heal_pipeline.definitions import defs
from heal_pipeline.defs.assets import schema_snapshot
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.defs.resources import HealResource


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("heal_scan")
    assert job is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "schema_snapshot" in keys


def _materialize(instance, dsn, monkeypatch, partition="t1"):
    monkeypatch.setenv("HEAL_DATABASE_URL", dsn)
    monkeypatch.setenv("HEAL_TARGET_NAME", partition)
    monkeypatch.delenv("HEAL_STORE_URL", raising=False)
    sync_partitions(instance, [partition])
    return dg.materialize([schema_snapshot], instance=instance, partition_key=partition,
                          resources={"heal": HealResource(database_url=dsn)}, raise_on_error=False)


def test_schema_snapshot_materializes_with_drift(fresh_dsn, monkeypatch):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    with dg.instance_for_test() as instance:
        first = _materialize(instance, fresh_dsn, monkeypatch)
        assert first.success
        md = first.asset_materializations_for_node("schema_snapshot")[0].metadata
        assert md["count/tables"].value == 1 and md["drift/first_snapshot"].value is True
        assert md["catalog_queries"].value <= 14
        with psycopg.connect(fresh_dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE a ADD COLUMN w int")
            conn.execute("CREATE TABLE b (id int PRIMARY KEY)")
        second = _materialize(instance, fresh_dsn, monkeypatch)
        md2 = second.asset_materializations_for_node("schema_snapshot")[0].metadata
        assert md2["drift/total"].value == 5  # table b, b.id, a.w, index b_pkey, constraint b_pkey
        rows = {(r.data["kind"], r.data["change"], r.data["object"]) for r in md2["drift"].records}
        assert ("columns", "added", "public.a.w") in rows and ("tables", "added", "public.b") in rows
    with psycopg.connect(fresh_dsn) as conn:
        n = conn.execute("SELECT count(*) FROM heal.schema_snapshots WHERE target_db = 't1'").fetchone()[0]
    assert n == 2


def test_unreachable_target_fails_with_one_line(monkeypatch):
    with dg.instance_for_test() as instance:
        res = _materialize(instance, "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2", monkeypatch)
        assert not res.success
        failures = [e for e in res.all_events if e.is_step_failure]
        msg = failures[0].event_specific_data.error.message
        assert "cannot connect to the target database" in msg


def test_unknown_partition_is_a_clear_failure(fresh_dsn, monkeypatch):
    monkeypatch.setenv("HEAL_DATABASE_URL", fresh_dsn)
    monkeypatch.setenv("HEAL_TARGET_NAME", "known")
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["other"])
        res = dg.materialize([schema_snapshot], instance=instance, partition_key="other",
                             resources={"heal": HealResource(database_url=fresh_dsn)},
                             raise_on_error=False)
        assert not res.success
        msg = [e for e in res.all_events if e.is_step_failure][0].event_specific_data.error.message
        assert "unknown target database 'other'" in msg
