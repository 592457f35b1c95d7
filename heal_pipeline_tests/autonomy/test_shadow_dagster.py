"""Shadow mode in a real scheduled-style run: heal_scan's fix_plan records what auto-apply would do."""

import dagster as dg
import psycopg

from heal_pipeline.definitions import defs
from heal_pipeline.defs.bootstrap import sync_partitions


def test_fix_plan_records_shadow_rows_with_auto_apply_off(demo_copy, monkeypatch):
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR

    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(APP_DIR))
    monkeypatch.setenv("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
    monkeypatch.setenv("HEAL_OBSERVATION_WINDOW", "0")
    monkeypatch.setenv("HEAL_DATABASE_URL", demo_copy)
    monkeypatch.setenv("HEAL_TARGET_NAME", "demo")
    for v in ("HEAL_POLICY", "HEAL_STORE_URL", "HEAL_QUERY_LOG"):
        monkeypatch.delenv(v, raising=False)
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["demo"])
        scan = defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo")
        assert scan.success
        md = scan.asset_materializations_for_node("fix_plan")[0].metadata
    order = md["shadow/order"].value
    assert md["shadow/applies_now"].value == 0  # default policy: dry run, nothing applied
    assert md["shadow/would_apply"].value == sum(r["would_apply"] for r in order) > 0
    assert [r["position"] for r in order] == list(range(1, len(order) + 1))
    with psycopg.connect(demo_copy) as conn:
        rows = conn.execute("SELECT fingerprint, would_apply, applies_now, reason FROM heal.shadow_fixes "
                            "WHERE run_id = %s ORDER BY position", (scan.run_id,)).fetchall()
    assert len(rows) == len(order) and not any(r[2] for r in rows)
    assert all(r[3] for r in rows if not r[1])  # every "would not" says why
    with psycopg.connect(demo_copy) as conn:
        whatif = [p for (p,) in conn.execute("SELECT plan FROM heal.fix_plans WHERE issue_type = 'fk_without_index'")]
    # the embedded PostgreSQL 18 has no HypoPG: index plans say "not estimated", their tier unchanged
    assert whatif and all(p["whatif"]["status"] == "not estimated" and p["tier"] == "auto" for p in whatif)


def test_apply_starts_a_watch_and_the_next_scan_judges_it(demo_copy, monkeypatch, tmp_path):
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR

    policy = tmp_path / "policy.toml"
    policy.write_text('watch_window = "0s"\nwatch_min_calls = 5\ncooldown = "0s"\n')
    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(APP_DIR))
    monkeypatch.setenv("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
    monkeypatch.setenv("HEAL_OBSERVATION_WINDOW", "0")
    monkeypatch.setenv("HEAL_DATABASE_URL", demo_copy)
    monkeypatch.setenv("HEAL_TARGET_NAME", "demo")
    monkeypatch.setenv("HEAL_POLICY", str(policy))
    for v in ("HEAL_STORE_URL", "HEAL_QUERY_LOG"):
        monkeypatch.delenv(v, raising=False)
    with psycopg.connect(demo_copy, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["demo"])
        scan = defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo")
        plans = {r.data["fingerprint"]: r.data
                 for r in scan.asset_materializations_for_node("fix_plan")[0].metadata["plans"].records}
        fk = next(fp for fp, r in plans.items() if r["issue_type"] == "fk_without_index" and r["status"] == "ready")
        run = defs.resolve_job_def("heal_apply").execute_in_process(
            instance=instance, partition_key="demo",
            run_config={"ops": {"applied_fixes": {"config": {"approve": [fk]}}}})
        [w] = run.asset_materializations_for_node("applied_fixes")[0].metadata["watches"].value
        assert w["status"] == "watching"
        again = defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo")
        md = again.asset_materializations_for_node("fix_plan")[0].metadata
    # no workload between the two runs: nothing to judge, and a window of 0 s ends the watch inconclusive
    assert md["watch/inconclusive"].value == 1 and md["watch/reverted_regression"].value == 0
    assert md["watch/results"].value[0]["watch_id"] == w["watch_id"]
    with psycopg.connect(demo_copy) as conn:
        assert conn.execute("SELECT status FROM heal.workload_watches").fetchone()[0] == "inconclusive"
