"""A fix and its rollback never overwrite a write heal did not make (issue: trustworthy fixes).

Reproduces the reported data loss first: apply the sessions.user_id type fix, let the application update
three rows, roll back — the three rows keep the application's values and are reported as conflicts. Then
the same with application writers (INSERT/UPDATE/DELETE loops) running during the fix *and* during the
rollback, on the one-transaction path and on the expand/contract path: zero lost or overwritten writes,
zero application errors.
"""

from __future__ import annotations

import time

import pytest

from heal_pipeline.apply import apply_plan, rollback_fix
from heal_pipeline.plan import Thresholds

from .helpers import TEST_POLICY, fetch, issue, make_plan, run
from .writers import Writer

SESSIONS = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id integer PRIMARY KEY);
INSERT INTO auth.users SELECT generate_series(1, 100);
CREATE TABLE auth.sessions (id bigint PRIMARY KEY, user_id text, token text);
INSERT INTO auth.sessions SELECT g, (1 + g % 100)::text, md5(g::text) FROM generate_series(1, {n}) g;
UPDATE auth.sessions SET user_id = ' 42' WHERE id = 10;   -- converts, not canonically: must come back as is
UPDATE auth.sessions SET user_id = NULL WHERE id = 11;
"""

ISSUE = issue("type_mismatch", schema_name="auth", table_name="sessions", column_name="user_id",
              severity="critical",
              evidence={"child_type": "text", "parent": {"schema": "auth", "table": "users", "column": "id",
                                                         "data_type": "integer"}})

EXPAND = Thresholds(small_table_rows=500, batch_size=400, lock_timeout_s=0.5)


def _values(dsn) -> dict[int, str | None]:
    return dict(fetch(dsn, "SELECT id, user_id::text FROM auth.sessions"))


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_rollback_keeps_rows_the_application_changed_after_the_fix(fresh_dsn, store_dsn, path):
    run(fresh_dsn, SESSIONS.format(n=2000))
    before = _values(fresh_dsn)
    kw = {"thresholds": EXPAND} if path == "expand_contract" else {}
    plan = make_plan(fresh_dsn, ISSUE, **kw)
    assert plan.blocked is None, plan.blocked
    assert ("expand/contract" in plan.summary) == (path == "expand_contract")
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "verified", res.reason
    run(fresh_dsn, "UPDATE auth.sessions SET user_id = 7 WHERE id IN (1, 2, 3)")   # the application
    run(fresh_dsn, "INSERT INTO auth.sessions (id, user_id) VALUES (5001, 9)")
    rb = rollback_fix(res.fix_id, fresh_dsn, store_dsn, policy=TEST_POLICY)
    assert rb.status == "rolled_back_with_conflicts", (rb.reason, rb.steps)
    keys = next(iter(rb.conflicts.values()))["keys"]
    assert keys == ["1", "2", "3"]
    after = _values(fresh_dsn)
    assert after[1] == after[2] == after[3] == "7"            # the application's writes are kept
    assert after[5001] == "9"
    assert after[10] == " 42" and after[11] is None            # heal's own conversion undone byte for byte
    assert {k: v for k, v in after.items() if k not in (1, 2, 3, 5001)} == \
        {k: v for k, v in before.items() if k not in (1, 2, 3)}
    assert fetch(fresh_dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = 'sessions'"
                            " AND column_name = 'user_id'") == [("text",)]
    row = fetch(store_dsn, "SELECT status, conflicts FROM heal.fix_history WHERE fix_id = %s", (rb.fix_id,))[0]
    assert row[0] == "rolled_back_with_conflicts" and next(iter(row[1].values()))["count"] == 3


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_writers_during_the_fix_and_the_rollback_lose_nothing(fresh_dsn, store_dsn, path):
    run(fresh_dsn, SESSIONS.format(n=3000))
    before = _values(fresh_dsn)
    kw = {"thresholds": EXPAND} if path == "expand_contract" else {}
    plan = make_plan(fresh_dsn, ISSUE, **kw)
    assert plan.blocked is None, plan.blocked
    w = Writer(fresh_dsn, "auth", "sessions", "id", "user_id", keys=range(20, 3000), insert_from=10_000,
               delete_every=37)
    w.start()
    try:
        time.sleep(0.2)
        res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
        assert res.status == "verified", res.reason
        time.sleep(0.2)
        rb = rollback_fix(res.fix_id, fresh_dsn, store_dsn, policy=TEST_POLICY)
        time.sleep(0.2)
    finally:
        w.stop()
    assert w.errors == []                       # heal made no application statement fail
    assert w.ops > 50 and w.written
    assert rb.status in ("rolled_back", "rolled_back_with_conflicts"), (rb.reason, rb.steps)
    after = _values(fresh_dsn)
    for k, v in w.written.items():              # every application write survived, value for value
        assert after.get(k) == v, (k, after.get(k), v)
    for k in w.deleted:
        assert k not in after
    untouched = {k: v for k, v in before.items() if k not in w.written and k not in w.deleted}
    assert {k: after[k] for k in untouched} == untouched   # and heal's conversion is undone exactly
    assert after[10] == " 42"
    assert not fetch(fresh_dsn, "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'heal_sync_%'")


def test_sync_trigger_never_fails_an_application_write(fresh_dsn, store_dsn):
    """A value the new type cannot hold, written by the application while the expand/contract backfills:
    the write succeeds (before the fix it would have), the swap refuses, the fix fails and cleans up, and
    the application's value is intact."""
    import dataclasses
    import threading

    run(fresh_dsn, SESSIONS.format(n=2000))
    plan = make_plan(fresh_dsn, ISSUE, thresholds=Thresholds(small_table_rows=500, batch_size=100,
                                                             lock_timeout_s=0.5))
    slow = dataclasses.replace(TEST_POLICY, batch_pause_s=0.05)   # ~1 s of backfill
    out = {}
    t = threading.Thread(target=lambda: out.update(r=apply_plan(plan, fresh_dsn, store_dsn, slow, approve=True)))
    t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not fetch(
            fresh_dsn, "SELECT 1 FROM pg_trigger WHERE tgname LIKE 'heal_sync_%'"):
        time.sleep(0.01)
    run(fresh_dsn, "UPDATE auth.sessions SET user_id = 'not-a-number' WHERE id = 5")   # the application
    t.join(60)
    res = out["r"]
    assert res.status == "failed" and res.reverted, res.reason
    assert fetch(fresh_dsn, "SELECT user_id FROM auth.sessions WHERE id = 5") == [("not-a-number",)]
    assert fetch(fresh_dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = 'sessions'"
                            " AND column_name = 'user_id'") == [("text",)]
    assert not fetch(fresh_dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'"
                                " AND column_name LIKE '%heal%'")
    assert not fetch(fresh_dsn, "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'heal_sync_%'")
