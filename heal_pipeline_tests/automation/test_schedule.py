"""heal_every_five_minutes over a 3-database fleet, partition sync, and the auto-apply hook."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from heal_pipeline.defs.automation import (TAG_AUTO_APPLY, TAG_TRIGGER, auto_apply_sensor,
                                           evaluate_fleet_sync, heal_every_five_minutes, heal_fleet_sync)
from heal_pipeline.defs.constants import target_db_partitions
from heal_pipeline.errors import ConfigError

from .helpers import settings

WHEN = datetime(2026, 11, 22, 3, 5, tzinfo=timezone.utc)


@pytest.fixture
def fleet(workdir, monkeypatch):
    (workdir / "auto.toml").write_text('dry_run = false\nauto_apply_tiers = ["auto"]\n')
    (workdir / "dry.toml").write_text('auto_apply_tiers = ["auto"]\n')  # dry_run defaults to true
    (workdir / "broken.toml").write_text('dry_run = "maybe"\n')
    path = workdir / "fleet.toml"
    path.write_text("""
[[targets]]
name = "shop"
dsn_env = "SHOP_URL"
policy = "auto.toml"

[[targets]]
name = "crm"
dsn_env = "CRM_URL"
policy = "dry.toml"

[[targets]]
name = "analytics"
dsn_env = "ANALYTICS_URL"
policy = "broken.toml"
""")
    monkeypatch.setenv("HEAL_FLEET", str(path))
    monkeypatch.setenv("SHOP_URL", "postgresql://app@db1/shop")
    monkeypatch.setenv("CRM_URL", "postgresql://app@db2/crm")
    # ANALYTICS_URL is deliberately unset: the schedule does not need DSNs
    return path


def test_one_run_request_per_database_of_the_fleet(instance, fleet):
    ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=WHEN)
    reqs = heal_every_five_minutes(ctx)
    assert [r.partition_key for r in reqs] == ["shop", "crm", "analytics"]
    stamp = WHEN.isoformat()
    assert [r.run_key for r in reqs] == [f"shop:{stamp}", f"crm:{stamp}", f"analytics:{stamp}"]
    for r in reqs:
        assert r.tags["heal/target_db"] == r.partition_key and r.tags[TAG_TRIGGER] == "schedule"
    auto = {r.partition_key: r.tags[TAG_AUTO_APPLY] for r in reqs}
    assert auto == {"shop": "true", "crm": "false", "analytics": "false"}
    assert "dry_run must be true or false" in reqs[2].tags["heal/policy_error"]
    # the partitions exist before the runs are requested
    assert instance.get_dynamic_partitions("target_db") == ["shop", "crm", "analytics"]


def test_as_the_daemon_evaluates_it_against_the_code_location(instance, fleet):
    from heal_pipeline.definitions import defs

    repo = defs.get_repository_def()
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=WHEN, repository_def=repo)
        data = heal_every_five_minutes.evaluate_tick(ctx)
    assert len(data.run_requests) == 3 and data.skip_message is None
    for r in data.run_requests:
        assert r.tags["dagster/partition"] == r.partition_key
        assert r.tags["dagster/schedule_name"] == "heal_every_five_minutes"
        assert r.job_name is None  # the schedule's job: heal_scan
    assert heal_every_five_minutes.job_name == "heal_scan"
    assert heal_every_five_minutes.cron_schedule == "*/5 * * * *"


def test_nothing_configured_skips_with_a_reason(instance):
    res = heal_every_five_minutes(dg.build_schedule_context(instance=instance, scheduled_execution_time=WHEN))
    assert isinstance(res, dg.SkipReason) and "HEAL_FLEET" in res.skip_message


def test_a_broken_fleet_file_fails_the_tick_with_one_line(instance, workdir, monkeypatch):
    bad = workdir / "fleet.toml"
    bad.write_text('[[targets]]\nname = "x"\ndsn = "postgresql://u:pw@h/db"\n')
    monkeypatch.setenv("HEAL_FLEET", str(bad))
    with pytest.raises(ConfigError, match="not allowed"):
        heal_every_five_minutes(dg.build_schedule_context(instance=instance, scheduled_execution_time=WHEN))


def test_fleet_sync_adds_and_removes_partitions(instance, workdir, fleet):
    instance.add_dynamic_partitions("target_db", ["crm", "retired"])
    res = evaluate_fleet_sync(instance, settings=settings(HEAL_FLEET=str(fleet)))
    adds = [r for r in res.dynamic_partitions_requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
    dels = [r for r in res.dynamic_partitions_requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
    assert adds[0].partition_keys == ["shop", "analytics"] and dels[0].partition_keys == ["retired"]
    # through the sensor as the daemon runs it: the requests are applied by the daemon
    data = heal_fleet_sync.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert len(data.dynamic_partitions_requests) == 2
    instance.add_dynamic_partitions("target_db", ["shop", "analytics"])
    instance.delete_dynamic_partition("target_db", "retired")
    again = evaluate_fleet_sync(instance, settings=settings(HEAL_FLEET=str(fleet)))
    assert not again.dynamic_partitions_requests and "in sync" in again.skip_reason.skip_message
    # nothing configured: never delete everything
    empty = evaluate_fleet_sync(instance, settings=settings())
    assert not empty.dynamic_partitions_requests


def test_auto_apply_hook_requests_the_apply_job_after_a_marked_scan(instance):
    @dg.asset(partitions_def=target_db_partitions)
    def probe():
        return None

    scan = dg.define_asset_job("heal_scan", selection=[probe])
    apply_job = dg.define_asset_job("heal_apply", selection=[probe])
    sensor = auto_apply_sensor(apply_job)
    defs = dg.Definitions(assets=[probe], jobs=[scan, apply_job], sensors=[sensor])
    dg.Definitions.validate_loadable(defs)
    instance.add_dynamic_partitions("target_db", ["shop"])

    def finished_scan(auto: str):
        result = defs.resolve_job_def("heal_scan").execute_in_process(
            instance=instance, partition_key="shop",
            tags={"heal/target_db": "shop", TAG_TRIGGER: "schedule", TAG_AUTO_APPLY: auto})
        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
        return dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=event,
                                                  dagster_instance=instance, dagster_run=result.dagster_run)

    req = sensor(finished_scan("true"))
    assert isinstance(req, dg.RunRequest) and req.partition_key == "shop"
    assert req.tags[TAG_TRIGGER] == "auto_apply" and req.run_key.startswith("apply:")
    assert isinstance(sensor(finished_scan("false")), dg.SkipReason)


def test_auto_apply_hook_is_inert_when_the_code_location_lacks_it(instance, fleet, capfd):
    """A code location with heal_scan but without heal_apply + its sensor: scans only, and it says so."""
    @dg.asset(partitions_def=target_db_partitions)
    def probe():
        return None

    defs = dg.Definitions(assets=[probe], jobs=[dg.define_asset_job("heal_scan", selection=[probe])],
                          schedules=[heal_every_five_minutes])
    repo = defs.get_repository_def()
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=WHEN, repository_def=repo)
        data = heal_every_five_minutes.evaluate_tick(ctx)
    assert [r.job_name for r in data.run_requests] == [None, None, None]  # only heal_scan
    assert "shop: the policy enables auto-apply, but this code location has no heal_apply job" in capfd.readouterr().err
