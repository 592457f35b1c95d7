"""Asset check results per target_db partition (issue 16, item 6): in a fleet, each target's
``no_critical_issues`` is its own, not whichever target ran last (real fleet file, real databases,
real Dagster instance)."""

import dagster as dg
import psycopg

from heal_pipeline.definitions import defs
from heal_pipeline.defs.bootstrap import sync_partitions


def test_each_target_keeps_its_own_check_result(make_db, monkeypatch, tmp_path):
    bad, good = make_db(), make_db()
    with psycopg.connect(bad, autocommit=True) as conn:  # a declared FK whose types differ: critical
        conn.execute("CREATE TABLE p (id int PRIMARY KEY); "
                     "CREATE TABLE c (id int PRIMARY KEY, p_id bigint REFERENCES p (id))")
    with psycopg.connect(good, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[targets]]\nname = "bad"\ndsn_env = "BAD_URL"\n\n'
                     '[[targets]]\nname = "good"\ndsn_env = "GOOD_URL"\n', encoding="utf-8")
    for v in ("HEAL_DATABASE_URL", "HEAL_TARGET_NAME", "HEAL_SOURCE_DIRS", "HEAL_MIGRATIONS_DIRS",
              "HEAL_QUERY_LOG", "HEAL_STORE_URL", "HEAL_POLICY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HEAL_FLEET", str(fleet))
    monkeypatch.setenv("BAD_URL", bad)
    monkeypatch.setenv("GOOD_URL", good)
    job = defs.resolve_job_def("heal_scan")
    key = dg.AssetCheckKey(dg.AssetKey("issue_set"), "no_critical_issues")
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["bad", "good"])
        for name in ("bad", "good"):  # "good" runs last
            assert job.execute_in_process(instance=instance, partition_key=name).success
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        latest = {}
        for rec in history:  # newest first
            latest.setdefault(rec.partition, rec)
        assert set(latest) == {"bad", "good"}, [r.partition for r in history]
        assert latest["bad"].evaluation.passed is False
        assert latest["good"].evaluation.passed is True
        assert latest["bad"].evaluation.metadata["critical"].value == 1
        # every check of the code location is per partition, not only this one
        for check_key in defs.resolve_asset_graph().asset_check_keys:
            spec = defs.resolve_asset_graph().get_check_spec(check_key)
            assert spec.partitions_def is not None, check_key
