"""End to end, no daemon: a real failing query → the server's jsonlog → failed_query_log_sensor →
the heal_scan job in process for that partition → heal.issues has the missing table, with the failed
query in its evidence. Plus `heal demo-traffic` against a copy of the demo estate."""

from __future__ import annotations

import time

import dagster as dg
import psycopg
import pytest

from heal_pipeline.config import database_name
from heal_pipeline.defs.automation import TAG_FAILED, TAG_FIRST_SQLSTATE, TAG_SQLSTATES, failed_query_log_sensor
from heal_pipeline.errors import HealError


@pytest.fixture
def server_log(pg_server):
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    return pg_server.info().jsonlog


def _env(monkeypatch, dsn, log, workdir):
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR

    monkeypatch.setenv("HEAL_DATABASE_URL", dsn)
    monkeypatch.setenv("HEAL_QUERY_LOG", str(log))
    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(APP_DIR))
    monkeypatch.setenv("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
    monkeypatch.setenv("HEAL_OBSERVATION_WINDOW", "0")
    monkeypatch.setenv("HEAL_HOME", str(workdir / "home"))


def _tick(instance, defs, cursor):
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        ctx = dg.build_sensor_context(instance_ref=instance.get_ref(), cursor=cursor, definitions=defs)
        return failed_query_log_sensor.evaluate_tick(ctx)


def _tick_until_run(instance, defs, cursor, timeout=20.0):
    """The logging collector writes asynchronously: tick (as the daemon would) until the failure is in."""
    deadline = time.monotonic() + timeout
    while True:
        data = _tick(instance, defs, cursor)
        cursor = data.cursor
        if data.run_requests or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def test_failing_query_to_missing_table_issue(server_log, demo_copy, monkeypatch, workdir, instance):
    from heal_pipeline.definitions import defs

    _env(monkeypatch, demo_copy, server_log, workdir)
    target = database_name(demo_copy)
    first = _tick(instance, defs, None)  # starts watching at the end of the log
    assert not first.run_requests and "watching" in first.skip_message

    with psycopg.connect(demo_copy, autocommit=True, application_name="demo_app") as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM billing.refunds")
    data = _tick_until_run(instance, defs, first.cursor)
    (req,) = data.run_requests
    assert req.partition_key == target and req.tags[TAG_FAILED] == "1" and req.tags[TAG_FIRST_SQLSTATE] == "42P01"

    # what the daemon does with the tick: register the partition, launch the run
    for dpr in data.dynamic_partitions_requests:
        instance.add_dynamic_partitions("target_db", list(dpr.partition_keys))
    tags = {k: v for k, v in req.tags.items() if not k.startswith("dagster/")}
    result = defs.resolve_job_def("heal_scan").execute_in_process(
        instance=instance, partition_key=req.partition_key, tags=tags, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure][:2]

    with psycopg.connect(demo_copy) as conn:
        fq = conn.execute("SELECT sqlstate, statement, count FROM heal.failed_queries WHERE target_db = %s",
                          (target,)).fetchall()
        assert ("42P01", "SELECT * FROM billing.refunds", 1) in fq
        row = conn.execute(
            "SELECT severity, status, evidence FROM heal.issues WHERE target_db = %s"
            " AND issue_type = 'missing_table' AND schema_name = 'billing' AND table_name = 'refunds'",
            (target,)).fetchone()
    assert row is not None and row[0] == "critical" and row[1] == "open"
    failed_refs = [r for r in row[2]["references"] if r.get("sqlstate")]
    assert failed_refs and failed_refs[0]["sqlstate"] == "42P01"
    assert "billing.refunds" in failed_refs[0]["statement"]
    assert any(r.get("file") == "billing/refunds.py" or str(r.get("file", "")).endswith("refunds.py")
               for r in row[2]["references"])  # the code reference is there too

    # the next tick has nothing new
    assert not _tick(instance, defs, data.cursor).run_requests


def test_demo_traffic_fires_realistic_failures_the_sensor_sees(server_log, demo_copy, monkeypatch, workdir,
                                                              instance, capsys):
    from heal_pipeline.cli import main
    from heal_pipeline.definitions import defs

    _env(monkeypatch, demo_copy, server_log, workdir)
    first = _tick(instance, defs, None)
    assert main(["demo-traffic", "--count", "2"]) == 0  # HEAL_DATABASE_URL = the demo copy
    out = capsys.readouterr().out
    for state in ("42P01", "42703", "42883", "22P02"):
        assert state in out
    assert "fired 8 queries" in out and "8 failed" in out
    # the logging collector writes asynchronously: tick until all eight are in
    total, cursor, states = 0, first.cursor, {}
    deadline = time.monotonic() + 20
    while total < 8 and time.monotonic() < deadline:
        data = _tick(instance, defs, cursor)
        cursor = data.cursor
        for r in data.run_requests:
            total += int(r.tags[TAG_FAILED])
            for kv in r.tags[TAG_SQLSTATES].split(","):
                k, v = kv.split("=")
                states[k] = states.get(k, 0) + int(v)
        time.sleep(0.1)
    assert total == 8 and states == {"42P01": 2, "42703": 2, "42883": 2, "22P02": 2}


def test_demo_traffic_without_a_target_is_one_line(workdir, monkeypatch):
    from heal_pipeline.traffic import default_dsn

    monkeypatch.setenv("HEAL_HOME", str(workdir / "nothing-here"))
    with pytest.raises(HealError, match="no target: set HEAL_DATABASE_URL"):
        default_dsn()
