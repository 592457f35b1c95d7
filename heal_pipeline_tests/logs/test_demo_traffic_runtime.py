"""The demo's failing traffic (`heal demo-traffic`) read back from the real server log: its 42883 and
22P02 become runtime evidence on the planted type_mismatch — and add no issue to the scan."""

from __future__ import annotations

import time

import psycopg
import pytest

from heal_pipeline.demo.estate import MIGRATIONS_DIR, SOURCE_DIRS, load_planted
from heal_pipeline.logs import cursor_at_end, read_new
from heal_pipeline.scan import scan_target
from heal_pipeline.targets import Target
from heal_pipeline.traffic import QUERIES, fire
from heal_pipeline_tests.detect.test_demo_precision_recall import key


def test_demo_traffic_is_runtime_evidence_and_adds_no_issue(demo_dsn, pg_server):
    # the shared demo database itself (read-only): the traffic only fails at parse/analyze/bind, so it
    # writes nothing and changes no counter
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    log = pg_server.info().jsonlog
    with psycopg.connect(demo_dsn) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
    cursor = cursor_at_end(log)
    fired = fire(demo_dsn)
    assert [f.sqlstate for f in fired] == [q.expect for q in QUERIES]
    failed, deadline = [], time.monotonic() + 20
    while time.monotonic() < deadline:
        res = read_new(log, cursor, database=db)
        cursor, failed = res.cursor, failed + res.failed
        if len(failed) >= len(QUERIES):
            break
        time.sleep(0.1)
    target = Target(name="heal_demo", dsn=demo_dsn, store_dsn=demo_dsn, source_dirs=SOURCE_DIRS,
                    migrations_dirs=(MIGRATIONS_DIR,), observation_window_s=0)
    # the same scan without the log is the reference (the planted list itself is test_demo_precision_recall's:
    # late in a session pg_stat_statements and the scan counters of the shared demo have moved on)
    reference = {key(i.issue_type, lambda f, i=i: getattr(i, f)) for i in scan_target(target).result.issues}
    outcome = scan_target(target, failed=failed)
    found = {key(i.issue_type, lambda f, i=i: getattr(i, f)): i for i in outcome.result.issues}
    assert set(found) == reference, {k: found[k].detail for k in set(found) - reference}
    planted = {key(p["issue_type"], p.get) for p in load_planted() if p["issue_type"] in
               ("type_mismatch", "cast_workaround", "missing_table", "missing_column", "broken_statement")}
    assert planted <= set(found)  # the issues the traffic is about are the planted ones
    with_runtime = {k: i.evidence["runtime"] for k, i in found.items() if "runtime" in i.evidence}
    states = sorted(e["sqlstate"] for entries in with_runtime.values() for e in entries)
    assert states == ["22P02", "42883"], with_runtime
    assert {k[0] for k in with_runtime} <= {"type_mismatch", "cast_workaround", "broken_statement"}
    tm = [i for i in outcome.result.issues if i.issue_type == "type_mismatch" and "runtime" in i.evidence]
    assert tm and any(i.table_name == "sessions" and i.column_name == "user_id" for i in tm)
