"""failed_query_log_sensor on real log files: cursor ticks, rotation, truncation, garbage, bursts, restarts."""

from __future__ import annotations

import json
import os

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from heal_pipeline.defs.automation import (TAG_FAILED, TAG_FIRST_SQLSTATE, TAG_SQLSTATES, TAG_TRIGGER,
                                           evaluate_failed_query_log, failed_query_log_sensor)

from .helpers import append, cline, jline, log_line, settings

DSN = "postgresql://app@db.internal/shop"


def _tick(instance, cursor, log_path, **extra):
    s = settings(HEAL_DATABASE_URL=DSN, HEAL_QUERY_LOG=str(log_path), **extra)
    return evaluate_failed_query_log(cursor, instance, settings=s)


def _offset(result) -> int:
    return json.loads(result.cursor)["targets"]["shop"]["cursor"]["offset"]


def test_first_tick_starts_at_the_end_then_reads_only_new_lines(instance, workdir):
    log = workdir / "postgresql.json"
    append(log, "".join(jline(i) for i in range(3)))
    first = _tick(instance, None, log)
    assert not first.run_requests
    assert "watching" in first.skip_reason.skip_message and _offset(first) == log.stat().st_size

    append(log, jline(10) + log_line(11) + jline(12, state="42703", message='column "x" does not exist',
                                                   statement="select x from users"))
    second = _tick(instance, first.cursor, log)
    assert len(second.run_requests) == 1
    req = second.run_requests[0]
    assert req.partition_key == "shop" and req.job_name is None  # the sensor's job: heal_scan
    assert req.tags[TAG_FAILED] == "2" and req.tags[TAG_FIRST_SQLSTATE] == "42P01"
    assert req.tags[TAG_TRIGGER] == "failed_query_log" and req.tags["heal/target_db"] == "shop"
    assert set(req.tags[TAG_SQLSTATES].split(",")) == {"42P01=1", "42703=1"}
    assert req.run_key == f"failed_queries:shop:1@{log.stat().st_size}"
    # the partition is registered in the same tick
    assert [r.partition_keys for r in second.dynamic_partitions_requests] == [["shop"]]

    third = _tick(instance, second.cursor, log)
    assert not third.run_requests and "no new failed queries" in third.skip_reason.skip_message


def test_log_created_after_the_first_tick_is_read_from_its_start(instance, workdir):
    log = workdir / "postgresql.json"
    first = _tick(instance, None, log)
    assert not first.run_requests and "missing" in first.skip_reason.skip_message
    append(log, jline(1) + jline(2))
    second = _tick(instance, first.cursor, log)
    assert second.run_requests[0].tags[TAG_FAILED] == "2"


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(instance, workdir):
    log = workdir / "postgresql.json"
    append(log, jline(1))
    c = _tick(instance, None, log).cursor
    append(log, jline(2) + jline(3))  # written before the rotation, not read yet
    os.rename(log, workdir / "postgresql.json.1")
    append(log, jline(4, state="42883", message="operator does not exist: text = integer",
                      statement="select * from t where name = 1"))
    res = _tick(instance, c, log)
    req = res.run_requests[0]
    assert req.tags[TAG_FAILED] == "3"
    assert "rotated" not in res.cursor  # the cursor points into the new file now
    assert _offset(res) == log.stat().st_size
    assert not _tick(instance, res.cursor, log).run_requests


def test_truncation_restarts_at_zero(instance, workdir):
    log = workdir / "postgresql.json"
    append(log, "".join(jline(i) for i in range(20)))
    c = _tick(instance, None, log).cursor
    with open(log, "w", encoding="utf-8") as fh:  # copytruncate, then the server writes again
        fh.write(jline(100))
    res = _tick(instance, c, log)
    assert res.run_requests[0].tags[TAG_FAILED] == "1"
    assert _offset(res) == log.stat().st_size


def test_garbage_lines_are_skipped_and_a_partial_last_line_waits(instance, workdir):
    log = workdir / "postgresql.json"
    log.write_text("")
    c = _tick(instance, None, log).cursor
    partial = jline(3)
    append(log, jline(1) + "this is not json\n" + '{"broken": \n' + partial[:40])
    res = _tick(instance, c, log)
    assert res.run_requests[0].tags[TAG_FAILED] == "1"
    assert _offset(res) == log.stat().st_size - 40  # stops before the unterminated line
    append(log, partial[40:])
    res2 = _tick(instance, res.cursor, log)
    assert res2.run_requests[0].tags[TAG_FAILED] == "1"
    assert res2.run_requests[0].run_key != res.run_requests[0].run_key


def test_a_burst_of_1000_errors_is_one_run(instance, workdir):
    log = workdir / "postgresql.json"
    log.write_text("")
    c = _tick(instance, None, log).cursor
    burst = "".join(jline(i, statement=f"select * from billing.refunds where id = {i}") if i % 2 else
                    jline(i, state="22P02", message='invalid input syntax for type integer: "17b"',
                          statement=f"select * from users where id = '{i}b'") for i in range(1000))
    append(log, burst)
    res = _tick(instance, c, log)
    assert len(res.run_requests) == 1
    tags = res.run_requests[0].tags
    assert tags[TAG_FAILED] == "1000" and tags["heal/failed_groups"] == "2"
    assert tags[TAG_FIRST_SQLSTATE] == "22P02"


def test_restart_with_a_stored_cursor_reads_only_what_is_new(workdir):
    log = workdir / "postgresql.json"
    append(log, jline(1))
    with dg.instance_for_test() as first_instance:
        c0 = _tick(first_instance, None, log).cursor
        append(log, jline(2))
        c1 = _tick(first_instance, c0, log).cursor
    # the daemon restarts (a new process, a new instance object): the cursor is what Dagster stored
    append(log, jline(3) + jline(4) + jline(5))
    with dg.instance_for_test() as second_instance:
        res = _tick(second_instance, c1, log)
    assert res.run_requests[0].tags[TAG_FAILED] == "3"
    assert res.run_requests[0].run_key.startswith("failed_queries:shop:2@")


def test_other_databases_on_the_same_server_do_not_count(instance, workdir):
    log = workdir / "postgresql.json"
    log.write_text("")
    c = _tick(instance, None, log).cursor
    append(log, jline(1, db="dagster") + jline(2, db="postgres"))
    res = _tick(instance, c, log)
    assert not res.run_requests and "no new failed queries" in res.skip_reason.skip_message


def test_csvlog_with_a_multiline_statement(instance, workdir):
    log = workdir / "postgresql.csv"
    log.write_text(cline(1))
    c = _tick(instance, None, log).cursor
    append(log, cline(2) + cline(3, state="42P01", message='relation "billing.refunds" does not exist',
                                 statement="select *\nfrom billing.refunds"))
    res = _tick(instance, c, log)
    tags = res.run_requests[0].tags
    assert tags[TAG_FAILED] == "2" and tags[TAG_FIRST_SQLSTATE] == "42703"


def test_a_scan_already_queued_absorbs_new_failures(instance, workdir):
    log = workdir / "postgresql.json"
    log.write_text("")
    c = _tick(instance, None, log).cursor
    run = create_run_for_test(instance, job_name="heal_scan", status=dg.DagsterRunStatus.NOT_STARTED,
                              tags={"heal/target_db": "shop", TAG_TRIGGER: "schedule"})
    append(log, jline(1))
    res = _tick(instance, c, log)
    assert not res.run_requests and run.run_id[:8] in res.skip_reason.skip_message
    assert _offset(res) == log.stat().st_size
    instance.report_run_canceled(run)  # once it is gone, new failures request a run again
    append(log, jline(2))
    assert len(_tick(instance, res.cursor, log).run_requests) == 1


def test_fleet_targets_sharing_one_log_each_get_their_own_run(instance, workdir):
    log = workdir / "postgresql.json"
    log.write_text("")
    fleet = workdir / "fleet.toml"
    fleet.write_text(f"""
[defaults]
query_log = "{log}"
[[targets]]
name = "shop"
dsn_env = "SHOP_URL"
[[targets]]
name = "crm"
dsn_env = "CRM_URL"
[[targets]]
name = "no-log"
dsn_env = "CRM_URL"
query_log = "{workdir / 'other.json'}"
log_database = "nolog"
""")
    s = settings(HEAL_FLEET=str(fleet), SHOP_URL="postgresql://a@h/shop", CRM_URL="postgresql://a@h/crm_prod")
    c = evaluate_failed_query_log(None, instance, settings=s).cursor
    append(log, jline(1, db="shop") + jline(2, db="crm_prod") + jline(3, db="crm_prod") + jline(4, db="x"))
    res = evaluate_failed_query_log(c, instance, settings=s)
    got = {r.partition_key: r.tags[TAG_FAILED] for r in res.run_requests}
    assert got == {"shop": "1", "crm": "2"}
    assert set(json.loads(res.cursor)["targets"]) == {"shop", "crm", "no-log"}


def test_an_unreadable_log_is_reported_not_raised(instance, workdir):
    bad = workdir / "a_directory.json"
    bad.mkdir()
    res = _tick(instance, None, bad)
    assert not res.run_requests and "directory" in res.skip_reason.skip_message


def test_nothing_configured_says_why(instance):
    res = evaluate_failed_query_log(None, instance, settings=settings())
    assert "no target database configured" in res.skip_reason.skip_message
    res = evaluate_failed_query_log(None, instance, settings=settings(HEAL_DATABASE_URL=DSN))
    assert "no target has a query log" in res.skip_reason.skip_message


def test_through_the_definitions_as_the_daemon_evaluates_it(instance, workdir, monkeypatch):
    from heal_pipeline.definitions import defs

    log = workdir / "postgresql.json"
    log.write_text("")
    monkeypatch.setenv("HEAL_DATABASE_URL", DSN)
    monkeypatch.setenv("HEAL_QUERY_LOG", str(log))
    # instance_ref, as in the daemon: the tick's own partition requests count when resolving its runs
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        ctx = dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs)
        first = failed_query_log_sensor.evaluate_tick(ctx)
        assert not first.run_requests and first.skip_message
        append(log, jline(1) + jline(2))
        ctx = dg.build_sensor_context(instance_ref=instance.get_ref(), cursor=first.cursor, definitions=defs)
        data = failed_query_log_sensor.evaluate_tick(ctx)
    assert len(data.run_requests) == 1
    req = data.run_requests[0]
    assert req.partition_key == "shop" and req.tags["dagster/partition"] == "shop"
    assert req.tags[TAG_FAILED] == "2"
    assert data.dynamic_partitions_requests[0].partition_keys == ["shop"]
