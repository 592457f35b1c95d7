"""SIGKILL an apply mid-step (a concurrent index build waiting on a writer) and show the next run
converges: the server ends the orphaned build (client_connection_check_interval), the INVALID index it
left is dropped concurrently by the next plan, and the dead run's audit row is closed as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from heal_pipeline.apply import apply_plan
from heal_pipeline.plan import plan_to_dict

from .helpers import TEST_POLICY, fetch, issue, make_plan, run

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from heal_pipeline.apply import Policy, apply_plan
from heal_pipeline.plan import plan_from_dict
plan = plan_from_dict(json.load(open(sys.argv[1])))
pol = Policy(dry_run=False, lock_timeout_s=60, retry_backoff_s=0.1, lock_retries=0, cooldown_s=0)
print(apply_plan(plan, sys.argv[2], sys.argv[3], pol, run_id="doomed", approve=True).status)
"""


def _wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_concurrent_build_then_next_run_converges(tmp_path, fresh_dsn, store_dsn):
    run(fresh_dsn, """
        CREATE SCHEMA app;
        CREATE TABLE app.users (id integer PRIMARY KEY);
        INSERT INTO app.users SELECT generate_series(1, 100);
        CREATE TABLE app.orders (id integer PRIMARY KEY, user_id integer CONSTRAINT orders_user_fk REFERENCES app.users (id));
        INSERT INTO app.orders SELECT g, 1 + g % 100 FROM generate_series(1, 5000) g;""")
    iss = issue("fk_without_index", schema_name="app", table_name="orders", object_name="orders_user_fk",
                evidence={"columns": ["user_id"], "suggested_index": "orders_user_id_idx"})
    plan = make_plan(fresh_dsn, iss)
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    (tmp_path / "child.py").write_text(CHILD)

    writer = psycopg.connect(fresh_dsn)  # keeps the concurrent build waiting in its first phase
    writer.execute("UPDATE app.orders SET user_id = user_id WHERE id = 1")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(tmp_path / "plan.json"), fresh_dsn,
                              store_dsn], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: fetch(fresh_dsn, "SELECT pid FROM pg_stat_activity WHERE application_name = 'heal-fix'"
                                       " AND query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'"),
              30, "the concurrent build to wait")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        # the server notices the dead client and ends the build (no ghost DDL keeps running)
        _wait(lambda: not fetch(fresh_dsn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'heal-fix'"),
              15, "the orphaned backend to end")
    finally:
        if child.poll() is None:
            child.kill()
        writer.rollback()
        writer.close()
    assert fetch(fresh_dsn, "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                            " WHERE i.relname = 'orders_user_id_idx'") == [(False,)]
    assert fetch(store_dsn, "SELECT status FROM heal.fix_history WHERE run_id = 'doomed'") == [("running",)]

    plan = make_plan(fresh_dsn, iss)  # the next run
    assert plan.blocked is None
    assert [s.op for s in plan.prechecks] == ["index_state"]  # "still an invalid leftover (or gone)"
    assert [s.op for s in plan.steps[:2]] == ["drop_index", "create_index"]
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, run_id="next", approve=True)
    assert res.status == "verified", res.reason
    assert fetch(fresh_dsn, "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                            " WHERE i.relname = 'orders_user_id_idx'") == [(True,)]
    status, error = fetch(store_dsn, "SELECT status, error FROM heal.fix_history WHERE run_id = 'doomed'")[0]
    assert status == "failed" and "interrupted" in error
