"""The parts that make a heal_scan run cheap (issue 16), each checked for what it must not change:
the pooled instance storage, the snapshot and code scan read once per process, the set-based
issue/plan writes, the code location's collector threshold."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import psycopg
import sqlalchemy.pool

from heal_pipeline import model, store
from heal_pipeline.detect import DetectionResult
from heal_pipeline.introspect import compute_drift, take_snapshot
from heal_pipeline.model import Issue, Snapshot
from heal_pipeline.store import (load_code_scan, load_fix_plans, open_store, previous_snapshot, record_detection,
                                 save_code_scan, save_fix_plans, save_snapshot)

HOSTILE = 'tab\there; "quoted" \\back\\slash\nnew line — ünïcødé ✓ \'; DROP TABLE x; --'


def _sqlalchemy_url(admin_dsn: str, db: str) -> str:
    d = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    host = d.get("host") or "/tmp"
    auth = f"{d.get('user') or 'postgres'}:{d.get('password') or ''}"
    if host.startswith("/"):
        return f"postgresql+psycopg2://{auth}@/{db}?host={host}&port={d.get('port') or 5432}"
    return f"postgresql+psycopg2://{auth}@{host}:{d.get('port') or 5432}/{db}"


def test_heal_dev_instance_keeps_one_connection_and_survives_a_lost_one(admin_dsn, dagster_db, tmp_path):
    from heal_pipeline.defs import storage
    from heal_pipeline.dev import storage_yaml

    (tmp_path / "dagster.yaml").write_text(storage_yaml(_sqlalchemy_url(admin_dsn, dagster_db)))

    @dg.asset
    def one() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"n": 1})

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, storage.PooledPostgresRunStorage)
        assert isinstance(instance.event_log_storage, storage.PooledPostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, storage.PooledPostgresScheduleStorage)
        for part in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
            assert isinstance(part._engine.pool, sqlalchemy.pool.QueuePool)
        assert dg.materialize([one], instance=instance).success
        # the kept connection is killed server-side (a restart, an idle timeout): the next run still
        # writes every event (pool_pre_ping reconnects), nothing is lost
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                  " WHERE datname = %s AND pid <> pg_backend_pid()", (dagster_db,)).fetchone()[0]
        assert killed >= 1
        res = dg.materialize([one], instance=instance)
        assert res.success
        mats = instance.fetch_materializations(dg.AssetKey("one"), limit=10).records
        assert len(mats) == 2
        # one connection per storage at most, not one per event
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            open_conns = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                      (dagster_db,)).fetchone()[0]
        assert 1 <= open_conns <= 3


def test_the_stored_snapshot_is_read_once_per_process_and_never_stale(fresh_dsn, make_db):
    store_a, store_b = make_db(prefix="heal_t_store_"), make_db(prefix="heal_t_store_")
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t1 (id int PRIMARY KEY, note text DEFAULT 'x')")
    snap = take_snapshot(fresh_dsn, target_db="tgt")
    with open_store(store_a) as sa, open_store(store_b) as sb:
        save_snapshot(sa, snap, drift=compute_drift(None, snap), run_id="r1", seconds=0.1)
        assert previous_snapshot(sa, "tgt") is snap  # no decode of the body this process just wrote
        assert previous_snapshot(sb, "tgt") is None  # another store knows nothing of it
        # what the shortcut returns is what decoding the stored body gives
        store._LATEST.clear()
        decoded = previous_snapshot(sa, "tgt")
        assert decoded is not snap and decoded == snap
        assert previous_snapshot(sa, "tgt") is decoded
    # another process saves a newer snapshot: this process reads that one, not its remembered one
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t2 (id int PRIMARY KEY)")
    code = (f"from heal_pipeline.introspect import take_snapshot, compute_drift\n"
            f"from heal_pipeline.store import open_store, save_snapshot\n"
            f"s = take_snapshot({fresh_dsn!r}, target_db='tgt')\n"
            f"with open_store({store_a!r}) as st: save_snapshot(st, s, drift={{}}, run_id='r2', seconds=0.1)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    with open_store(store_a) as sa:
        newer = previous_snapshot(sa, "tgt")
        assert {t.name for t in newer.tables} == {"t1", "t2"}


def test_the_demo_snapshot_round_trips_through_the_store(demo_dsn, make_db):
    """The remembered snapshot stands in for the decoded body only because they are equal."""
    snap = take_snapshot(demo_dsn, target_db="demo")
    with open_store(make_db(prefix="heal_t_store_")) as st:
        save_snapshot(st, snap, drift={}, run_id="r", seconds=0.1)
        body = st.execute("SELECT snapshot FROM heal.schema_snapshots").fetchone()[0]
    assert Snapshot.from_dict(body) == snap


def test_the_code_scan_is_decoded_once_while_it_is_the_latest(make_db):
    st_dsn = make_db(prefix="heal_t_store_")

    def scan(n: int) -> model.CodeScan:
        s = model.CodeScan(roots=["/app"], files_scanned=1, files_parsed=1, files_cached=0, files_skipped=0)
        s.statements = [model.SqlStatement(file="a.py", line=i, col=0, call="execute", sql=f"SELECT {i}",
                                           source_kind="literal") for i in range(n)]
        return s

    with open_store(st_dsn) as st:
        save_code_scan(st, "tgt", scan(2), "r1")
        first = load_code_scan(st, "tgt")
        assert load_code_scan(st, "tgt") is first and len(first.statements) == 2
        save_code_scan(st, "tgt", scan(3), "r2")
        second = load_code_scan(st, "tgt")
        assert second is not first and len(second.statements) == 3


def _issue(fp_detail: str, evidence: dict, severity: str = "warning") -> Issue:
    return Issue("fk_without_index", severity, "tgt", fp_detail, "app", "orders", "user_id", None,
                 None, None, evidence, True)


def test_issues_and_history_keep_hostile_text_and_the_episode_rules(make_db):
    st_dsn = make_db(prefix="heal_t_store_")
    a = _issue(HOSTILE, {"why": HOSTILE, "nested": {"list": [1, None, "x\ty"]}, "n": 10 ** 12})
    b = Issue("unused_index", "info", "tgt", "plain", "app", "orders", None, "orders_idx", None, None, {}, True)
    with open_store(st_dsn) as st:
        rec = record_detection(st, "tgt", DetectionResult(issues=[a, b]), "run1", {"fk_without_index", "unused_index"})
        assert rec["new"] == 2 and rec["resolved"] == 0
        row = st.execute("SELECT detail, evidence, status, run_id, fixable FROM heal.issues WHERE fingerprint = %s",
                         (a.fingerprint,)).fetchone()
        assert row == (HOSTILE, json.loads(json.dumps(a.evidence)), "open", "run1", True)
        hist = st.execute("SELECT detail, evidence FROM heal.issue_history WHERE fingerprint = %s",
                          (a.fingerprint,)).fetchall()
        assert hist == [(HOSTILE, json.loads(json.dumps(a.evidence)))]
        # next run: b is gone (resolved), a changes severity; then b comes back: a new episode
        a2 = _issue(HOSTILE, a.evidence, severity="critical")
        rec = record_detection(st, "tgt", DetectionResult(issues=[a2]), "run2", {"fk_without_index", "unused_index"})
        assert rec["resolved"] == 1
        first_seen_b = st.execute("SELECT first_seen FROM heal.issues WHERE fingerprint = %s",
                                  (b.fingerprint,)).fetchone()[0]
        rec = record_detection(st, "tgt", DetectionResult(issues=[a2, b]), "run3", {"fk_without_index", "unused_index"})
        assert rec["reopened"] == 1
        # a fingerprint twice in one result (never expected): one current row, the last one, no error
        a3 = _issue(HOSTILE, {"first": 1}, severity="critical")
        assert a3.fingerprint == a2.fingerprint
        record_detection(st, "tgt", DetectionResult(issues=[a3, b, a2]), "run4", {"fk_without_index", "unused_index"})
        rows = {r[0]: r[1:] for r in st.execute(
            "SELECT fingerprint, severity, status, first_seen > %s, evidence FROM heal.issues", (first_seen_b,))}
        assert rows[a.fingerprint][:2] == ("critical", "open") and rows[a.fingerprint][3] == json.loads(json.dumps(a2.evidence))
        assert rows[b.fingerprint][:3] == ("info", "open", True)
        assert st.execute("SELECT count(*) FROM heal.issue_history").fetchone()[0] == 2 + 1 + 2 + 3


def test_fix_plans_written_by_copy_read_back_equal(make_db):
    from heal_pipeline.plan import plan_to_dict

    st_dsn = make_db(prefix="heal_t_store_")
    plans = [model.FixPlan(fingerprint=f"fp{i}", issue_type="fk_without_index", target_db="tgt", tier="auto",
                           summary=HOSTILE, steps=[model.FixStep(description=HOSTILE, sql="SELECT 1", lock="none")],
                           rows_affected=None if i else 5, blocked=None if i else HOSTILE) for i in range(3)]
    with open_store(st_dsn) as st:
        save_fix_plans(st, "tgt", plans, "run1")
        back = load_fix_plans(st, "tgt")
        assert [plan_to_dict(p) for p in back] == [json.loads(json.dumps(plan_to_dict(p), default=str)) for p in plans]
        assert st.execute("SELECT summary, blocked, rows_affected FROM heal.fix_plans WHERE fingerprint = 'fp0'"
                          ).fetchone() == (HOSTILE, HOSTILE, 5)
        save_fix_plans(st, "tgt", plans[1:], "run2")  # replaced, not appended
        assert st.execute("SELECT count(*), min(run_id) FROM heal.fix_plans").fetchone() == (2, "run2")


def test_the_code_location_collects_young_objects_less_often():
    out = subprocess.run([sys.executable, "-c", "import gc, heal_pipeline.definitions as d; "
                          "print(gc.get_threshold()[0], d.GC_THRESHOLD[0])"],
                         capture_output=True, text=True, check=True, timeout=120)
    now, wanted = map(int, out.stdout.split())
    assert now == wanted >= 50_000
