"""Issue 12.1: unused_table from statistics deltas between stored snapshots (real server, real store).

Each case stores a real snapshot in the heal store (the target database itself, as by default), moves
its ``taken_at`` back in time to stand for "a week ago", lets the application do something (or
nothing), and runs detection the way ``heal check`` does (``scan_target``) — and, in the last case,
the way the Dagster ``issue_set`` does (current snapshot stored first, then read back from the store).
"""

import textwrap

import psycopg
import pytest

from heal_pipeline.scan import make_context, scan_target
from heal_pipeline.detect import run_detection
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.store import open_store, previous_snapshot, record_detection, save_snapshot
from heal_pipeline.targets import Target

WEEK = 7 * 86400


def _sql(dsn, text):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(textwrap.dedent(text))
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # the backend flushes its counters before it reports ready


def _target(dsn, src, window=WEEK):
    return Target(name="t", dsn=dsn, store_dsn=dsn, source_dirs=(src,), observation_window_s=window)


def _store_snapshot(dsn, age_s):
    """A real snapshot of now, stored as if it had been taken ``age_s`` seconds ago."""
    snap = take_snapshot(dsn, target_db="t")
    with open_store(dsn) as store:
        sid = save_snapshot(store, snap, drift={}, run_id="r0", seconds=None)
        store.execute("UPDATE heal.schema_snapshots SET taken_at = taken_at - make_interval(secs => %s)"
                      " WHERE snapshot_id = %s", (age_s, sid))
    return snap


def _code(tmp_path, files=None):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (src / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return src


def _unused(outcome):
    return {i.table_name: i for i in outcome.result.issues if i.issue_type == "unused_table"}


def _unchecked(outcome):
    return [u["reason"] for u in outcome.result.unchecked if u["check"] == "unused_table"]


def test_PG006_build_scans_before_the_baseline_do_not_count_growth_after_it_does(fresh_dsn, tmp_path):
    _sql(fresh_dsn, """
        CREATE TABLE live_t (id int PRIMARY KEY);
        CREATE TABLE idle_t (id int PRIMARY KEY, note text);
        INSERT INTO live_t SELECT generate_series(1, 100);
        INSERT INTO idle_t SELECT g, 'n' || g FROM generate_series(1, 100) g;
        CREATE INDEX idle_t_note ON idle_t (note);  -- the build scans idle_t
        ANALYZE;""")
    _store_snapshot(fresh_dsn, age_s=WEEK + 86400)  # the baseline: 8 days ago
    _sql(fresh_dsn, "SELECT count(*) FROM live_t")  # the application reads live_t in the window
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    found = _unused(out)
    assert set(found) == {"idle_t"}, [i.detail for i in out.result.issues]
    ev = found["idle_t"].evidence
    assert ev["seq_scan"] >= 1  # absolute counters: the old rule never reported it
    assert ev["window"]["baseline"] == "snapshot" and ev["window"]["seconds"] >= WEEK
    assert ev["deltas"] == {"seq_scan": 0, "idx_scan": 0, "n_tup_ins": 0, "n_tup_upd": 0, "n_tup_del": 0}
    assert _unchecked(out) == []


def test_PG006_window_not_covered_is_not_checked_with_the_date_it_will_be(fresh_dsn, tmp_path):
    _sql(fresh_dsn, "CREATE TABLE idle_t (id int PRIMARY KEY);")
    _store_snapshot(fresh_dsn, age_s=WEEK - 86400)  # only 6 days of history
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    assert _unused(out) == {}
    (reason,) = _unchecked(out)
    assert "no statistics baseline at least 604800s old" in reason and "window is covered from" in reason
    assert "stats_reset unknown (never reset)" in reason


def test_PG006_no_history_and_no_stats_reset_is_not_checked(fresh_dsn, tmp_path):
    _sql(fresh_dsn, "CREATE TABLE idle_t (id int PRIMARY KEY);")
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    assert _unused(out) == {} and len(_unchecked(out)) == 1
    assert "holds no snapshot history yet" in _unchecked(out)[0]


def test_PG006_writes_are_use_too(fresh_dsn, tmp_path):
    _sql(fresh_dsn, "CREATE TABLE written_t (id int PRIMARY KEY); CREATE TABLE idle_t (id int PRIMARY KEY);")
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    _sql(fresh_dsn, "INSERT INTO written_t VALUES (1)")  # a write, no read
    assert set(_unused(scan_target(_target(fresh_dsn, _code(tmp_path))))) == {"idle_t"}


def test_PG006_heals_own_reads_are_in_the_ledger_and_not_use(fresh_dsn, tmp_path):
    # old_orders.customer_id → customers.id is a naming candidate: detection samples both tables
    _sql(fresh_dsn, """
        CREATE TABLE customers (id int PRIMARY KEY);
        INSERT INTO customers SELECT generate_series(1, 50);
        CREATE TABLE old_orders (id int PRIMARY KEY, customer_id int);
        INSERT INTO old_orders SELECT g, 1 + g % 50 FROM generate_series(1, 200) g;
        ANALYZE;""")
    _store_snapshot(fresh_dsn, age_s=WEEK + 3600)
    target = _target(fresh_dsn, _code(tmp_path))
    first = scan_target(target)  # a scheduled run: detection reads the data, and records that it did
    assert first.result.own_reads[("public", "old_orders")][0] >= 1
    with open_store(fresh_dsn) as store:
        record_detection(store, "t", first.result, "run-1", set())
        ledger = dict(((s, t), q) for s, t, q in store.execute(
            "SELECT schema_name, table_name, sum(seq_scan) FROM heal.own_reads GROUP BY 1, 2").fetchall())
    assert ledger[("public", "old_orders")] >= 1 and ledger[("public", "customers")] >= 1
    _sql(fresh_dsn, "SELECT 1")
    second = scan_target(target)
    found = _unused(second)
    assert set(found) == {"old_orders", "customers"}, [i.detail for i in second.result.issues]
    assert found["old_orders"].evidence["heal_reads"]["seq_scan"] >= 1
    # what the counters alone say: both tables were scanned since the baseline (by heal, not the app)
    now = {t.name: t.seq_scan + t.idx_scan for t in second.snapshot.tables}
    assert now["old_orders"] > 0


def test_PG006_fks_are_evidence_only_the_parent_of_a_live_table_is_in_use(fresh_dsn, tmp_path):
    _sql(fresh_dsn, """
        CREATE TABLE orgs (id int PRIMARY KEY);
        CREATE TABLE idle_child (id int PRIMARY KEY, org_id int REFERENCES orgs (id));
        CREATE INDEX ON idle_child (org_id);
        CREATE TABLE lookup (code text PRIMARY KEY);
        CREATE TABLE events (id int PRIMARY KEY, code text REFERENCES lookup (code));
        CREATE INDEX ON events (code);
        CREATE TABLE idle_a (id int PRIMARY KEY);
        CREATE TABLE idle_b (id int PRIMARY KEY, a_id int REFERENCES idle_a (id));
        CREATE INDEX ON idle_b (a_id);""")
    src = _code(tmp_path, {"app.py": '''
        def f(cur, org):
            cur.execute("SELECT id FROM orgs WHERE id = %s", (org,))
            cur.execute("SELECT id, code FROM events ORDER BY id DESC LIMIT 10")
        '''})
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    out = scan_target(_target(fresh_dsn, src))
    found = _unused(out)
    # lookup: nobody reads it, but it is the FK target of events, which the code uses
    assert set(found) == {"idle_child", "idle_a", "idle_b"}, [i.detail for i in out.result.issues]
    assert found["idle_child"].evidence["foreign_keys"] == [
        {"constraint": "idle_child_org_id_fkey", "references": "public.orgs"}]
    assert "evidence, not use" in found["idle_b"].detail


def test_PG006_ddl_only_references_in_code_are_not_use(fresh_dsn, tmp_path):
    _sql(fresh_dsn, """
        CREATE TABLE made_by_code (id int PRIMARY KEY);
        CREATE TABLE dropped_by_code (id int PRIMARY KEY);
        CREATE TABLE truncated_by_code (id int PRIMARY KEY);
        CREATE TABLE copy_src (id int PRIMARY KEY);
        CREATE TABLE copy_dst (id int PRIMARY KEY);
        CREATE TABLE read_by_code (id int PRIMARY KEY);""")
    src = _code(tmp_path, {"setup.py": '''
        def setup(cur):
            cur.execute("CREATE TABLE IF NOT EXISTS made_by_code (id int PRIMARY KEY)")
            cur.execute("DROP TABLE IF EXISTS dropped_by_code")
            cur.execute("TRUNCATE truncated_by_code")
            cur.execute("ALTER TABLE made_by_code ADD COLUMN IF NOT EXISTS note text")
            cur.execute("CREATE TABLE IF NOT EXISTS copy_dst AS SELECT * FROM copy_src")
            cur.execute("SELECT id FROM read_by_code")
        '''})
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    out = scan_target(_target(fresh_dsn, src))
    found = _unused(out)
    # copy_src is read by the CREATE TABLE … AS query; copy_dst is only its target
    assert set(found) == {"made_by_code", "dropped_by_code", "truncated_by_code", "copy_dst"}, \
        [i.detail for i in out.result.issues]
    refs = found["made_by_code"].evidence["ddl_references"]
    assert [r["line"] for r in refs] == [2, 5] and refs[0]["file"] == "setup.py"


@pytest.mark.parametrize("age", [WEEK + 60, WEEK - 60], ids=["covered", "not-covered"])
def test_PG006_heal_check_and_the_dagster_path_agree(fresh_dsn, tmp_path, age):
    _sql(fresh_dsn, "CREATE TABLE live_t (id int PRIMARY KEY); CREATE TABLE idle_t (id int PRIMARY KEY);")
    _store_snapshot(fresh_dsn, age_s=age)
    _sql(fresh_dsn, "SELECT count(*) FROM live_t")
    target = _target(fresh_dsn, _code(tmp_path))
    check = scan_target(target)  # heal check
    # issue_set: schema_snapshot stored the current snapshot; issue_set reads it back from the store
    snap = take_snapshot(fresh_dsn, target_db="t")
    with open_store(fresh_dsn) as store:
        save_snapshot(store, snap, drift={}, run_id="r1", seconds=None)
        stored = previous_snapshot(store, "t")
    from heal_pipeline.scan import scan_code
    ctx = make_context(target, stored, scan_code(target), [], coverage_s=0.0)
    dagster = run_detection(ctx, only={"unused_table"})
    assert sorted(i.fingerprint for i in dagster.issues) == sorted(
        i.fingerprint for i in check.result.issues if i.issue_type == "unused_table")
    assert [u["reason"].split(";")[0] for u in dagster.unchecked] == [r.split(";")[0] for r in _unchecked(check)]
    if age > WEEK:
        assert {i.table_name for i in dagster.issues} == {"idle_t"}
    else:
        assert dagster.issues == [] and len(dagster.unchecked) == 1


def _unused_ix(outcome):
    return {i.object_name: i for i in outcome.result.issues if i.issue_type == "unused_index"}


def test_PG004_index_scanned_before_the_baseline_but_not_since(fresh_dsn, tmp_path):
    _sql(fresh_dsn, """
        CREATE TABLE t (id int PRIMARY KEY, a int, b int);
        INSERT INTO t SELECT g, g, g FROM generate_series(1, 500) g;
        CREATE INDEX t_a ON t (a); CREATE INDEX t_b ON t (b); ANALYZE;
        SET enable_seqscan = off;
        SELECT count(*) FROM t WHERE a = 1;  -- used once, long ago""")
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    _sql(fresh_dsn, "SET enable_seqscan = off; SELECT count(*) FROM t WHERE b = 2; RESET enable_seqscan; SELECT sum(id) FROM t")
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    found = _unused_ix(out)
    assert set(found) == {"t_a"}, [i.detail for i in out.result.issues]
    assert found["t_a"].evidence["idx_scan"] >= 1 and found["t_a"].evidence["delta"] == 0  # absolute > 0
    assert found["t_a"].evidence["window"]["baseline"] == "snapshot"


def test_PG004_heals_own_index_scans_are_in_the_ledger_and_not_use(fresh_dsn, tmp_path):
    from heal_pipeline.db import connect
    from heal_pipeline.detect import DetectContext, DetectionResult

    _sql(fresh_dsn, """
        CREATE TABLE t (id int PRIMARY KEY, a int);
        INSERT INTO t SELECT g, g FROM generate_series(1, 500) g;
        CREATE INDEX t_a ON t (a); ANALYZE;""")
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    _sql(fresh_dsn, "SELECT sum(id) FROM t")  # the application reads the table, never through t_a
    ctx = DetectContext(target_db="t", snapshot=take_snapshot(fresh_dsn, target_db="t"),
                        connect=lambda: connect(fresh_dsn, autocommit=False))
    with ctx.data() as conn:  # a data read of heal's that happens to use the index
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SELECT count(*) FROM t WHERE a = 7").fetchone()
    assert ctx.own_reads[("public", "t", "t_a")] == [0, 1]
    with open_store(fresh_dsn) as store:
        record_detection(store, "t", DetectionResult([], own_reads=ctx.own_reads), "run-1", set())
    _sql(fresh_dsn, "SELECT 1")
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    found = _unused_ix(out)
    assert set(found) == {"t_a"}, [i.detail for i in out.result.issues]
    assert found["t_a"].evidence["heal_reads"] == 1 and found["t_a"].evidence["idx_scan"] >= 1


def test_PG004_the_cover_of_a_scanned_duplicate_is_not_unused(fresh_dsn, tmp_path):
    _sql(fresh_dsn, """
        CREATE TABLE t (id int PRIMARY KEY, a int);
        INSERT INTO t SELECT g, g FROM generate_series(1, 500) g;
        CREATE INDEX t_a_1 ON t (a); CREATE INDEX t_a_2 ON t (a); ANALYZE;""")
    _store_snapshot(fresh_dsn, age_s=WEEK + 60)
    # the application's lookups all went through the twin t_a_2 (t_a_1 was briefly absent)
    _sql(fresh_dsn, """
        DROP INDEX t_a_1;
        SET enable_seqscan = off;
        SELECT count(*) FROM t WHERE a = 3; SELECT count(*) FROM t WHERE a = 4;
        RESET enable_seqscan;
        CREATE INDEX t_a_1 ON t (a);""")
    out = scan_target(_target(fresh_dsn, _code(tmp_path)))
    assert {i.object_name for i in out.result.issues if i.issue_type == "duplicate_index"} == {"t_a_2"}
    # t_a_1 itself was not scanned, but dropping t_a_2 (the reported duplicate) moves its scans there
    assert next(t for t in out.snapshot.indexes if t.name == "t_a_1").idx_scan == 0
    assert _unused_ix(out) == {}, [i.detail for i in out.result.issues]


def test_PG006_planning_counts_go_to_the_ledger(fresh_dsn):
    from heal_pipeline.plan.base import PlanContext, measure_rows

    _sql(fresh_dsn, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);")
    with PlanContext.open(fresh_dsn) as pctx:
        assert measure_rows(pctx, "public", "t") == 10
    assert sum(pctx.own_reads[("public", "t")]) >= 1  # fix_plan writes these to heal.own_reads
