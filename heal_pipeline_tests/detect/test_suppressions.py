"""Suppressions by fingerprint and by pattern, with a reason: kept out of the open set, recorded as such."""

import psycopg

from heal_pipeline.detect import DetectContext, Suppression, Thresholds, object_label, run_detection
from heal_pipeline.introspect import take_snapshot
from heal_pipeline.scan import checked_types
from heal_pipeline.store import load_suppressions, open_store, record_detection


def test_suppression_by_fingerprint_and_pattern(fresh_dsn):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (x int); CREATE TABLE b (x int); CREATE TABLE keep_me (x int)")
    snap = take_snapshot(fresh_dsn, target_db="t")
    ctx = lambda: DetectContext(target_db="t", snapshot=snap, thresholds=Thresholds())  # noqa: E731
    first = run_detection(ctx(), only={"no_primary_key"})
    assert {i.table_name for i in first.issues} == {"a", "b", "keep_me"}
    fp_a = next(i.fingerprint for i in first.issues if i.table_name == "a")
    with open_store(fresh_dsn) as store:
        store.execute("INSERT INTO heal.suppressions (fingerprint, reason) VALUES (%s, 'legacy import table')",
                      (fp_a,))
        store.execute("INSERT INTO heal.suppressions (target_db, pattern, reason)"
                      " VALUES ('t', 'no_primary_key:public.b*', 'append-only log')")
        store.execute("INSERT INTO heal.suppressions (target_db, pattern, reason)"
                      " VALUES ('other', 'no_primary_key:*', 'not this target')")
        sups = load_suppressions(store, "t")
        assert len(sups) == 2
        res = run_detection(ctx(), sups, only={"no_primary_key"})
        assert [i.table_name for i in res.issues] == ["keep_me"]
        assert {(i.table_name, s.reason) for i, s in res.suppressed} == {
            ("a", "legacy import table"), ("b", "append-only log")}
        record_detection(store, "t", res, "r1", checked_types(res) & {"no_primary_key"})
        rows = dict(store.execute("SELECT table_name, status FROM heal.issues").fetchall())
    assert rows == {"a": "suppressed", "b": "suppressed", "keep_me": "open"}
    assert object_label(res.issues[0]) == "no_primary_key:public.keep_me"
    assert Suppression(reason="x", pattern="no_primary_key:*.keep_me").matches(res.issues[0])
