"""A SQLite partition through the real Dagster assets: schema_snapshot, then issue_set."""

from __future__ import annotations

import dagster as dg

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
