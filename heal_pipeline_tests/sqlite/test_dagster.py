"""A SQLite partition through the real Dagster assets: schema_snapshot, then issue_set."""

from __future__ import annotations

import dagster as dg
import psycopg

from heal_pipeline.defs.assets import schema_snapshot
from heal_pipeline.defs.assets_detect import issue_set
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.defs.resources import HealResource


def test_sqlite_partition_snapshot_and_issue_set(demo, fresh_dsn, monkeypatch):
    monkeypatch.setenv("HEAL_TARGET_NAME", "shop")
    monkeypatch.delenv("HEAL_SOURCE_DIRS", raising=False)
    monkeypatch.delenv("HEAL_FLEET", raising=False)
    res = HealResource(database_url=demo["dsn"], store_url=fresh_dsn)
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["shop"])
        snap = dg.materialize([schema_snapshot], instance=instance, partition_key="shop", resources={"heal": res})
        md = snap.asset_materializations_for_node("schema_snapshot")[0].metadata
        assert md["count/tables"].value == 8 and md["catalog_queries"].value == 5
        assert md["server_version"].value.startswith("SQLite 3.")
        out = dg.materialize([issue_set], instance=instance, partition_key="shop", resources={"heal": res},
                             selection=[issue_set], raise_on_error=False)
    mats = out.asset_materializations_for_node("issue_set")
    assert mats, "issue_set did not materialize"
    md = mats[0].metadata
    assert md["type/orphaned_rows"].value == 1 and md["type/fk_without_index"].value == 2
    assert any(u["check"] == "unused_index" and "not applicable" in u["reason"] for u in md["not_checked"].value)


def test_sqlite_partition_fix_plan_apply_and_rollback_job(demo, fresh_dsn, monkeypatch, tmp_path):
    """The fix half of the pipeline on a SQLite partition: fix_plan plans the SQLite fixes, applied_fixes
    applies an approved one (backup + integrity_check → verified, recorded with engine 'sqlite'), the
    heal_rollback job undoes it; an unknown fingerprint fails the run with one line."""
    import sqlite3

    from heal_pipeline.defs.assets_fix import applied_fixes, fix_plan, heal_rollback

    monkeypatch.setenv("HEAL_TARGET_NAME", "shop")
    monkeypatch.setenv("HEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HEAL_SOURCE_DIRS", raising=False)
    monkeypatch.delenv("HEAL_FLEET", raising=False)
    res = HealResource(database_url=demo["dsn"], store_url=fresh_dsn)
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["shop"])
        for asset in (schema_snapshot, issue_set, fix_plan):
            out = dg.materialize([asset], instance=instance, partition_key="shop", resources={"heal": res})
        md = out.asset_materializations_for_node("fix_plan")[0].metadata
        assert md["engine"].value == "sqlite" and md["planned"].value >= 2
        plans = md["plans"].value.records
        fk = next(r.data for r in plans if r.data["issue_type"] == "fk_without_index")
        assert fk["tier"] == "auto" and fk["rows"] >= 0
        assert md["status/ready"].value == md["planned"].value  # counts that agree with the rows (issue 16)
        assert f'# "{fk["fingerprint"]}",' in md["launchpad_config"].value

        bad = dg.materialize([applied_fixes], instance=instance, partition_key="shop", resources={"heal": res},
                             run_config={"ops": {"applied_fixes": {"config": {"approve": ["nope"]}}}},
                             raise_on_error=False)
        assert not bad.success
        out = dg.materialize([applied_fixes], instance=instance, partition_key="shop", resources={"heal": res},
                             run_config={"ops": {"applied_fixes": {"config": {"approve": [fk["fingerprint"]]}}}})
        md = out.asset_materializations_for_node("applied_fixes")[0].metadata
        assert md["status/verified"].value == 1, md["fixes"].value
        row = next(r.data for r in md["fixes"].value.records if r.data["fingerprint"] == fk["fingerprint"])
        fix_id = row["fix_id"]
        assert f"heal rollback {fix_id} --dsn " in md["how_to_roll_back"].value  # the real fix id
        [check] = out.get_asset_check_evaluations()
        assert check.passed
        def indexes():
            c = sqlite3.connect(demo["path"])
            try:
                return {r[0] for r in c.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
            finally:
                c.close()

        with psycopg.connect(fresh_dsn, autocommit=True) as st:
            plan = st.execute("SELECT plan FROM heal.fix_history WHERE fix_id = %s AND engine = 'sqlite'",
                              (fix_id,)).fetchone()[0]
        created = plan["steps"][0]["args"]["name"]
        assert created in indexes()

        rb = heal_rollback.execute_in_process(
            run_config={"ops": {"rollback_fix_op": {"config": {"fix_id": fix_id, "target_db": "shop"}}}},
            resources={"heal": res}, instance=instance)
        assert rb.success
    assert created not in indexes()
    with psycopg.connect(fresh_dsn, autocommit=True) as st:
        assert st.execute("SELECT status FROM heal.fix_history WHERE rollback_of = %s", (fix_id,)).fetchone() == (
            "rolled_back",)
