"""Case files for the maintenance checks PG020-PG024 against a real PostgreSQL (same style as
heal_pipeline_tests/detect/test_detect_cases.py): setup SQL → exactly these issues.

Positive cases turn autovacuum off on their tables (``autovacuum_enabled = false``) so the server
cannot tidy up between setup and snapshot; the setup does *not* run ANALYZE (that is what is tested).
"""

from __future__ import annotations

import textwrap
import psycopg
import pytest

from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, Thresholds, run_detection
from heal_pipeline.introspect import take_snapshot

NOAV = "WITH (autovacuum_enabled = false)"
CASES = [
    # --- PG020 stale_statistics --------------------------------------------------------------
    dict(id="PG020-fail-never-analyzed", only={"stale_statistics"}, sql=f"""
        CREATE TABLE loaded (id int PRIMARY KEY, v text) {NOAV};
        INSERT INTO loaded SELECT g, 'x' FROM generate_series(1, 3000) g;
        CREATE TABLE tiny (id int) {NOAV}; INSERT INTO tiny VALUES (1), (2);""",
         expect={("stale_statistics", "public", "loaded", None)}),
    dict(id="PG020-fail-modified-since-analyze", only={"stale_statistics"}, sql=f"""
        CREATE TABLE t (id int PRIMARY KEY, v int) {NOAV};
        INSERT INTO t SELECT g, 0 FROM generate_series(1, 3000) g; ANALYZE t;
        UPDATE t SET v = 1;""",
         expect={("stale_statistics", "public", "t", None)}),
    dict(id="PG020-pass-analyzed-or-few-changes", only={"stale_statistics"}, sql=f"""
        CREATE TABLE a (id int PRIMARY KEY) {NOAV};
        INSERT INTO a SELECT g FROM generate_series(1, 3000) g; ANALYZE a;
        CREATE TABLE b (id int PRIMARY KEY, v int) {NOAV};
        INSERT INTO b SELECT g, 0 FROM generate_series(1, 20000) g; ANALYZE b;
        UPDATE b SET v = 1 WHERE id <= 1500;""", expect=set()),
    # --- PG021 table_bloat -------------------------------------------------------------------
    dict(id="PG021-fail-dead-tuples", only={"table_bloat"}, sql=f"""
        CREATE TABLE churn (id int PRIMARY KEY, v text) {NOAV};
        INSERT INTO churn SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g; ANALYZE churn;
        DELETE FROM churn WHERE id % 4 <> 0;""",
         expect={("table_bloat", "public", "churn", None)}, evidence={"dead_tuples": True}),
    dict(id="PG021-fail-space-only-after-vacuum", only={"table_bloat"},
         thresholds=dict(bloat_min_bytes=0), sql=f"""
        CREATE TABLE holes (id int PRIMARY KEY, v text) {NOAV};
        INSERT INTO holes SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;
        DELETE FROM holes WHERE id % 4 <> 0; VACUUM ANALYZE holes;""",
         expect={("table_bloat", "public", "holes", None)},
         evidence={"dead_tuples": False, "vacuum_full_advised": True}),
    dict(id="PG021-pass-vacuumed", only={"table_bloat"}, sql=f"""
        CREATE TABLE churn (id int PRIMARY KEY, v text) {NOAV};
        INSERT INTO churn SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;
        DELETE FROM churn WHERE id % 4 <> 0; VACUUM ANALYZE churn;""", expect=set()),
    # --- PG022 sequence_exhaustion -----------------------------------------------------------
    dict(id="PG022-fail-serial-and-bigint-seq-into-int-column", only={"sequence_exhaustion"}, sql="""
        CREATE TABLE s (id serial PRIMARY KEY, v int);
        SELECT setval('s_id_seq', 2000000000); INSERT INTO s (v) VALUES (1);
        CREATE SEQUENCE wide AS bigint;
        CREATE TABLE u (id int PRIMARY KEY DEFAULT nextval('wide'));
        ALTER SEQUENCE wide OWNED BY u.id; SELECT setval('wide', 1700000000);""",
         expect={("sequence_exhaustion", "public", "s", "s_id_seq"),
                 ("sequence_exhaustion", "public", "u", "wide")}),
    dict(id="PG022-pass-room-left-cycle-or-unused", only={"sequence_exhaustion"}, sql="""
        CREATE TABLE s (id serial PRIMARY KEY); INSERT INTO s DEFAULT VALUES;
        CREATE TABLE b (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
        SELECT setval(pg_get_serial_sequence('b', 'id'), 2000000000);
        CREATE SEQUENCE c AS smallint CYCLE; SELECT setval('c', 32000);
        CREATE SEQUENCE unused AS smallint;""", expect=set()),
    # --- PG023 xid_wraparound (the age threshold lowered: a test cannot burn 1e9 XIDs) -------
    dict(id="PG023-fail-old-table-pass-frozen", only={"xid_wraparound"}, thresholds=dict(xid_age_warn=20),
         sql="""
        CREATE TABLE old (id int); INSERT INTO old VALUES (1);
        CREATE TABLE fresh (id int); INSERT INTO fresh VALUES (1);""",
         burn_xids=30, after_burn="VACUUM (FREEZE) fresh",
         expect={("xid_wraparound", "public", "old", None)}),
    dict(id="PG023-pass-default-threshold", only={"xid_wraparound"}, sql="""
        CREATE TABLE old (id int); INSERT INTO old VALUES (1);""", burn_xids=30, expect=set()),
    # --- PG024 unvalidated_constraint --------------------------------------------------------
    dict(id="PG024-fail-not-valid-fk-and-check", only={"unvalidated_constraint", "orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
        CREATE TABLE c (id int PRIMARY KEY, p_id int, n int); INSERT INTO c VALUES (1, 1, 5), (2, NULL, 6);
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;
        ALTER TABLE c ADD CONSTRAINT c_n_pos CHECK (n > 0) NOT VALID;""",
         expect={("unvalidated_constraint", "public", "c", "c_p_fk"),
                 ("unvalidated_constraint", "public", "c", "c_n_pos")}),
    dict(id="PG024-pass-orphans-are-orphaned_rows-validated-is-clean",
         only={"unvalidated_constraint", "orphaned_rows"}, sql="""
        CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
        CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 99);
        ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;
        CREATE TABLE d (id int PRIMARY KEY, p_id int REFERENCES p (id), CHECK (id > 0));""",
         expect={("orphaned_rows", "public", "c", "p_id")}),
]


def key(i):
    if i.issue_type == "orphaned_rows":
        return (i.issue_type, i.schema_name, i.table_name, i.column_name)
    return (i.issue_type, i.schema_name, i.table_name, i.object_name)


def setup(dsn: str, case: dict) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in textwrap.dedent(case["sql"]).split(";"):
            if stmt.strip():
                conn.execute(stmt)  # test fixture SQL, literal
                # this backend's counters reach shared memory before ReadyForQuery (an ANALYZE must not
                # be followed by a late flush of the inserts it already counted; the snapshot sees all)
                conn.execute("SELECT pg_stat_force_next_flush()")
        for _ in range(case.get("burn_xids", 0)):
            conn.execute("SELECT txid_current()")
        if case.get("after_burn"):
            conn.execute(case["after_burn"])
        conn.execute("SELECT pg_stat_force_next_flush()")


def detect(dsn: str, **thresholds):
    snap = take_snapshot(dsn, target_db="t")
    ctx = DetectContext(target_db="t", snapshot=snap, code=None,
                        connect=lambda: connect(dsn, autocommit=False),
                        thresholds=Thresholds(observation_window_s=0, **thresholds), stats_coverage_s=0)
    return snap, ctx


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, fresh_dsn):
    setup(fresh_dsn, case)
    snap, ctx = detect(fresh_dsn, **case.get("thresholds", {}))
    assert snap.maintenance_status == "ok"
    result = run_detection(ctx, only=case["only"])
    assert {key(i) for i in result.issues} == case["expect"]
    for i in result.issues:
        for k, v in case.get("evidence", {}).items():
            assert i.evidence[k] == v, (k, i.evidence)
    # maintenance checks never record "not checked" when the facts were read
    assert not [u for u in result.unchecked if u["check"] in case["only"] - {"orphaned_rows"}]


def test_unread_facts_are_not_checked_never_clean(fresh_dsn):
    snap, ctx = detect(fresh_dsn)
    snap.maintenance_status = "error: permission denied for view pg_stats"
    result = run_detection(ctx, only={"stale_statistics", "table_bloat", "sequence_exhaustion",
                                      "xid_wraparound"})
    assert result.issues == []
    assert {u["check"] for u in result.unchecked} == {"stale_statistics", "table_bloat", "sequence_exhaustion",
                                                      "xid_wraparound"}


def test_snapshot_round_trips_maintenance_facts(fresh_dsn):
    setup(fresh_dsn, CASES[0])
    snap, _ = detect(fresh_dsn)
    from heal_pipeline.model import Snapshot

    back = Snapshot.from_dict(snap.to_dict())
    assert back.maintenance == snap.maintenance and back.sequences == snap.sequences
    assert back.database_xid_age == snap.database_xid_age and back.maintenance
