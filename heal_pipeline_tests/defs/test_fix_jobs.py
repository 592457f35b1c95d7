"""The one-click fix loop through Dagster: scan → plan → apply an approved fix → verified → roll back."""

import dagster as dg
import psycopg
import pytest

from heal_pipeline.definitions import defs
from heal_pipeline.defs.bootstrap import sync_partitions


@pytest.fixture
def demo_env(demo_copy, monkeypatch):
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR

    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(APP_DIR))
    monkeypatch.setenv("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
    monkeypatch.setenv("HEAL_OBSERVATION_WINDOW", "0")
    monkeypatch.setenv("HEAL_DATABASE_URL", demo_copy)
    monkeypatch.setenv("HEAL_TARGET_NAME", "demo")
    for v in ("HEAL_POLICY", "HEAL_STORE_URL", "HEAL_QUERY_LOG"):
        monkeypatch.delenv(v, raising=False)
    return demo_copy


def _indexes(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index")}


def test_approve_apply_verify_rollback(demo_env):
    dsn = demo_env
    with dg.instance_for_test() as instance:
        sync_partitions(instance, ["demo"])
        scan = defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo")
        assert scan.success
        md = scan.asset_materializations_for_node("fix_plan")[0].metadata
        plans = {r.data["fingerprint"]: r.data for r in md["plans"].records}
        fk = next(fp for fp, r in plans.items() if r["issue_type"] == "fk_without_index" and r["status"] == "ready")
        assert plans[fk]["tier"] == "auto"
        before = _indexes(dsn)

        # an unknown fingerprint is a clear failure, nothing applied
        bad = defs.resolve_job_def("heal_apply").execute_in_process(
            instance=instance, partition_key="demo", raise_on_error=False,
            run_config={"ops": {"applied_fixes": {"config": {"approve": ["nope:123"]}}}})
        assert not bad.success
        msg = [e for e in bad.all_events if e.is_step_failure][0].event_specific_data.error.message
        assert "unknown fingerprint(s) nope:123" in msg

        # default policy is dry-run: without approval nothing is applied
        idle = defs.resolve_job_def("heal_apply").execute_in_process(instance=instance, partition_key="demo")
        assert idle.success
        assert idle.asset_materializations_for_node("applied_fixes")[0].metadata["status/verified"].value == 0
        assert "nothing to roll back" in idle.asset_materializations_for_node("applied_fixes")[0].metadata[
            "how_to_roll_back"].value
        assert _indexes(dsn) == before

        run = defs.resolve_job_def("heal_apply").execute_in_process(
            instance=instance, partition_key="demo",
            run_config={"ops": {"applied_fixes": {"config": {"approve": [fk]}}}})
        assert run.success
        amd = run.asset_materializations_for_node("applied_fixes")[0].metadata
        (row,) = [r.data for r in amd["fixes"].records if r.data["fingerprint"] == fk]
        assert row["status"] == "verified", row
        # how to roll it back names this very fix and target, ready to paste into heal_rollback's launchpad
        how = amd["how_to_roll_back"].value
        assert f"fix_id: {row['fix_id']}\n      target_db: demo" in how and f"heal rollback {row['fix_id']}" in how
        assert {e.check_name: e.passed for e in run.get_asset_check_evaluations()}["fixes_verified"]
        tags = instance.get_run_by_id(run.run_id).tags
        assert tags["heal/target_db"] == "demo" and fk in tags["heal/approved"]
        added = _indexes(dsn) - before
        assert len(added) == 1

        rb = defs.resolve_job_def("heal_rollback").execute_in_process(
            instance=instance, run_config={"ops": {"rollback_fix_op": {"config": {"fix_id": row["fix_id"]}}}})
        assert rb.success
        assert _indexes(dsn) == before
    with psycopg.connect(dsn) as conn:
        statuses = dict(conn.execute("SELECT fix_id, status FROM heal.fix_history").fetchall())
    assert statuses[row["fix_id"]] == "verified" and "rolled_back" in statuses.values()
    # heal fixes: a header, UTC timestamps, and every fact said once per line
    import re
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "fixes", "--dsn", dsn],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, *lines = out.stdout.splitlines()
    assert re.match(r"^fix_id\s+started \(UTC\)\s+took\s+status\s+issue type\s+fingerprint\s+what$", header), header
    by_id = {int(ln.split()[0]): ln for ln in lines}
    rb_id = next(i for i in by_id if i != row["fix_id"])
    assert set(by_id) == {row["fix_id"], rb_id}
    stamp = re.compile(r"^\s*\d+  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  +\d+\.\ds  ")
    assert all(stamp.match(ln) for ln in lines), lines
    fixed, rollback = by_id[row["fix_id"]], by_id[rb_id]
    assert f"[rolled back by fix {rb_id}]" in fixed and fixed.count("rolled back by") == 1, fixed
    assert rollback.count(f"rollback of fix {row['fix_id']}") == 1 and "rolled_back" in rollback, rollback
    for ln in lines:
        assert ln.count("create index") <= 1 and ln.count(fk) == 1, ln
