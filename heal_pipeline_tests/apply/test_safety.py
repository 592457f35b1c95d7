"""Lock safety, concurrency, hostile identifiers, lint gating — against a real server."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.apply import FixSession, Policy, apply_plan, rollback_fix
from heal_pipeline.model import FixStep
from heal_pipeline.plan import ops
from heal_pipeline.plan.base import step
from heal_pipeline.plan.lint import lint_plan

from .helpers import TEST_POLICY, fetch, issue, make_plan, run, snap, table_rows

BASE = """
CREATE SCHEMA app;
CREATE TABLE app.users (id integer PRIMARY KEY);
INSERT INTO app.users SELECT generate_series(1, 100);
CREATE TABLE app.sessions (id bigint PRIMARY KEY, user_id text);
INSERT INTO app.sessions SELECT g, (1 + g % 100)::text FROM generate_series(1, 2000) g;
CREATE TABLE app.orders (id integer PRIMARY KEY, user_id integer CONSTRAINT orders_user_fk REFERENCES app.users (id));
INSERT INTO app.orders SELECT g, 1 + g % 100 FROM generate_series(1, 2000) g;
"""
TM = dict(schema_name="app", table_name="sessions", column_name="user_id",
          evidence={"parent": {"schema": "app", "table": "users", "column": "id", "data_type": "integer"}})
FK = dict(schema_name="app", table_name="orders", object_name="orders_user_fk",
          evidence={"columns": ["user_id"], "suggested_index": "orders_user_id_idx"})
FAST = Policy(dry_run=False, lock_timeout_s=0.3, retry_backoff_s=0.05, lock_retries=2, cooldown_s=0,
              max_attempts=100, fix_lock_wait_s=0, batch_pause_s=0)


class Poller(threading.Thread):
    """Another application session running a query over and over, recording the worst latency."""

    def __init__(self, dsn: str, query: str):
        super().__init__(daemon=True)
        self.dsn, self.query = dsn, query
        self.stop = threading.Event()
        self.worst = 0.0
        self.count = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    c.execute(self.query).fetchall()
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.worst = max(self.worst, time.monotonic() - t0)
                self.count += 1
                time.sleep(0.01)


def test_lock_holder_makes_type_change_give_up_without_blocking_readers(fresh_dsn, store_dsn):
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("type_mismatch", **TM), FAST)
    assert plan.blocked is None
    holder = psycopg.connect(fresh_dsn)  # an application transaction holding ACCESS SHARE
    holder.execute("LOCK TABLE app.sessions IN ACCESS SHARE MODE")
    reader = Poller(fresh_dsn, "SELECT count(*) FROM app.sessions WHERE user_id = '5'")
    reader.start()
    try:
        t0 = time.monotonic()
        res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
        elapsed = time.monotonic() - t0
        # the holder's own later queries are not blocked either
        assert holder.execute("SELECT count(*) FROM app.sessions").fetchone()[0] == 2000
    finally:
        reader.stop.set()
        reader.join()
        holder.rollback()
        holder.close()
    assert res.status == "failed"
    assert "gave up after 3 attempt(s) on lock timeouts" in res.reason
    alter = [r for r in res.steps if r["op"] == "alter_column_type"][0]
    assert alter["attempts"] == 3 and not alter["ok"]
    assert elapsed < 5, elapsed
    # readers queued behind the waiting ALTER wait at most about one lock_timeout
    assert reader.count > 10 and not reader.errors
    assert reader.worst < FAST.lock_timeout_s + 0.4, reader.worst
    assert fetch(fresh_dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = 'sessions'"
                            " AND column_name = 'user_id'")[0][0] == "text"
    row = fetch(store_dsn, "SELECT status, error FROM heal.fix_history WHERE fix_id = %s", (res.fix_id,))[0]
    assert row[0] == "failed" and "lock timeouts" in row[1]


def test_concurrent_index_build_gives_up_and_leaves_no_invalid_index(fresh_dsn, store_dsn):
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    writer = psycopg.connect(fresh_dsn)  # an open write transaction: CREATE INDEX CONCURRENTLY must wait
    writer.execute("UPDATE app.orders SET user_id = user_id WHERE id = 1")
    try:
        t0 = time.monotonic()
        res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
        elapsed = time.monotonic() - t0
        writer.execute("UPDATE app.orders SET user_id = 2 WHERE id = 2")  # the writer was never blocked
    finally:
        writer.rollback()
        writer.close()
    assert res.status == "failed" and "lock timeouts" in res.reason, res.reason
    assert elapsed < 6
    # the build waited for the writer in lock_timeout slices; its INVALID leftover could not be dropped
    # while the writer stayed (DROP INDEX CONCURRENTLY waits for it too) and is reported
    left = fetch(fresh_dsn, "SELECT i.relname, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                            " WHERE i.relname LIKE 'orders_user_id_idx%'")
    assert left in ([], [("orders_user_id_idx", False)])
    if left:
        assert "INVALID leftover" in res.reason
    # with the writer gone, the next run's plan drops the leftover first and converges
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    assert plan.blocked is None
    if left:
        assert plan.prechecks[0].expect == ["invalid", "absent"] and plan.steps[0].op == "drop_index"
    res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
    assert res.status == "verified", res.reason


def test_two_simultaneous_runs_one_skips(fresh_dsn, store_dsn):
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    barrier = threading.Barrier(2)
    results = []

    def slow_redetect(_snap):  # keeps the first run inside its fix lock for a while
        time.sleep(1.0)
        return False

    def worker():
        barrier.wait()
        results.append(apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True, redetect=slow_redetect,
                                  lock_wait_s=0))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == ["skipped", "verified"], [(r.status, r.reason) for r in results]
    skipped = next(r for r in results if r.status == "skipped")
    assert skipped.reason == "another heal run holds the fix lock"


def test_second_run_waits_for_the_fix_lock(fresh_dsn, store_dsn):
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    with FixSession(fresh_dsn, store_dsn, FAST) as first:
        assert first.locked
        timer = threading.Timer(0.7, first.__exit__, args=(None, None, None))
        timer.start()
        t0 = time.monotonic()
        res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True, lock_wait_s=10)
        waited = time.monotonic() - t0
        timer.join()
    assert res.status == "verified", res.reason
    assert waited >= 0.6


HOSTILE_SCHEMA = 'we"ird; sch ema'
HOSTILE_TABLE = "o'rd\"ers; DROP TABLE app.victim;--"
HOSTILE_COL = 'us"er id;--'
LONG = "é" * 31 + "x"  # 63 bytes


def test_hostile_identifiers_cannot_inject(fresh_dsn, store_dsn):
    assert len(LONG.encode()) == 63
    I = sql.Identifier
    with psycopg.connect(fresh_dsn, autocommit=True) as c:
        c.execute("CREATE SCHEMA app; CREATE TABLE app.victim (x int); INSERT INTO app.victim VALUES (1)")
        c.execute(sql.SQL("CREATE SCHEMA {}").format(I(HOSTILE_SCHEMA)))
        c.execute(sql.SQL("CREATE TABLE {} ({} integer PRIMARY KEY)").format(I(HOSTILE_SCHEMA, LONG), I("id")))
        c.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 50)").format(I(HOSTILE_SCHEMA, LONG)))
        c.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, {} text, {} integer "
                          "CONSTRAINT {} REFERENCES {} (id))").format(
            I(HOSTILE_SCHEMA, HOSTILE_TABLE), I(HOSTILE_COL), I(LONG), I("fk; --'"), I(HOSTILE_SCHEMA, LONG)))
        c.execute(sql.SQL("INSERT INTO {} SELECT g, (1 + g % 60)::text, 1 + g % 50 FROM generate_series(1, 300) g")
                  .format(I(HOSTILE_SCHEMA, HOSTILE_TABLE)))
    before = snap(fresh_dsn).content_hash()
    cases = [
        issue("fk_without_index", schema_name=HOSTILE_SCHEMA, table_name=HOSTILE_TABLE, object_name="fk; --'",
              evidence={"columns": [LONG], "suggested_index": LONG + "'); DROP TABLE app.victim; --"}),
        issue("orphaned_rows", schema_name=HOSTILE_SCHEMA, table_name=HOSTILE_TABLE, column_name=HOSTILE_COL,
              evidence={"parent": {"schema": HOSTILE_SCHEMA, "table": LONG, "column": "id"}}),
        issue("type_mismatch", schema_name=HOSTILE_SCHEMA, table_name=HOSTILE_TABLE, column_name=HOSTILE_COL,
              evidence={"parent": {"schema": HOSTILE_SCHEMA, "table": LONG, "column": "id", "data_type": "integer"}}),
        issue("unused_table", schema_name=HOSTILE_SCHEMA, table_name=HOSTILE_TABLE, evidence={}),
    ]
    fixes = []
    for iss in cases:
        plan = make_plan(fresh_dsn, iss)
        if iss.issue_type == "orphaned_rows":
            assert plan.blocked and "type_mismatch" in plan.blocked  # the type fix must come first
            continue
        if iss.issue_type == "unused_table":
            assert plan.blocked and "FK" in plan.blocked  # it takes part in an FK: not archived
            continue
        assert plan.blocked is None, plan.blocked
        for s in plan.steps:
            assert len(s.args.get("name", "").encode()) <= 63
        res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
        assert res.status == "verified", (iss.issue_type, res.reason)
        fixes.append(res.fix_id)
    # orphans are possible now that the types agree (values 51..60 have no parent)
    plan = make_plan(fresh_dsn, cases[1])
    assert plan.blocked is None and plan.rows_affected > 0, plan.blocked
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "verified", res.reason
    fixes.append(res.fix_id)
    for fid in reversed(fixes):
        rb = rollback_fix(fid, fresh_dsn, store_dsn, policy=TEST_POLICY)
        assert rb.status == "rolled_back", rb.reason
    assert snap(fresh_dsn).content_hash() == before
    assert fetch(fresh_dsn, "SELECT x FROM app.victim") == [(1,)]


@pytest.mark.parametrize("text", ["integer; DROP TABLE app.victim", "int) ; --", "text[]; select 1",
                                  "setof integer", "integer DEFAULT 1", "\x00int"])
def test_type_names_are_parsed_not_trusted(text):
    with pytest.raises(ops.UnsafeInput):
        ops.canonical_type(text)


def test_only_create_table_from_migrations():
    with pytest.raises(ops.UnsafeInput):
        ops.checked_create_table("CREATE TABLE t (id int); DROP TABLE users", "app")
    with pytest.raises(ops.UnsafeInput):
        ops.checked_create_table("DROP TABLE users", "app")
    text = ops.checked_create_table('create table if not exists public.t (id int)', 'x"; drop')
    assert text.startswith('CREATE TABLE "x""; drop".t')


def test_lint_blocks_an_unsafe_step(fresh_dsn, store_dsn):
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    assert plan.blocked is None
    # a deliberately unsafe step: a column type change without the documented small-table exception
    bad = step("rewrite", "alter_column_type", {"schema": "app", "table": "orders", "column": "user_id",
                                                "type": "bigint"}, lock="ACCESS EXCLUSIVE")
    bad.sql = ops.compose_step(bad).as_string(None)
    plan.steps.insert(1, bad)
    nn = FixStep("set not null", "", "ACCESS EXCLUSIVE", op="set_not_null",
                 args={"schema": "app", "table": "orders", "column": "user_id"})
    nn.sql = ops.compose_step(nn).as_string(None)
    plan.reverse.append(nn)
    findings = lint_plan(plan, snap(fresh_dsn).server_version_num, lock_timeout_s=0.3)
    rules = {(f["list"], f["rule"]) for f in findings if not f["allowed"]}
    assert ("steps", "changing-column-type") in rules and ("reverse", "adding-not-nullable-field") in rules
    assert plan.blocked and "changing-column-type" in plan.blocked
    res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
    assert res.status == "skipped" and "squawk" in res.reason
    assert fetch(fresh_dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_user_id_idx'")[0][0] == 0


def test_rollback_executes_rebuilt_ops_not_stored_text(fresh_dsn, store_dsn):
    """Tampering with the rendered SQL in the audit row cannot make rollback run it."""
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
    assert res.status == "verified"
    run(store_dsn, "UPDATE heal.fix_history SET reverse = jsonb_set(reverse, '{0,sql}', "
                   "'\"DROP TABLE app.users CASCADE\"') WHERE fix_id = %s", (res.fix_id,))
    rb = rollback_fix(res.fix_id, fresh_dsn, store_dsn, policy=FAST)
    assert rb.status == "rolled_back"
    assert fetch(fresh_dsn, "SELECT count(*) FROM app.users")[0][0] == 100
    assert "DROP INDEX CONCURRENTLY" in rb.steps[0]["sql"]


def test_executor_relints_what_will_run(fresh_dsn, store_dsn):
    """A plan that was never linted (or whose display SQL was edited) is linted again at apply time,
    from the statements rebuilt from op/args."""
    run(fresh_dsn, BASE)
    plan = make_plan(fresh_dsn, issue("fk_without_index", **FK), FAST)
    bad = step("rewrite", "alter_column_type", {"schema": "app", "table": "orders", "column": "user_id",
                                                "type": "bigint"}, lock="ACCESS EXCLUSIVE")
    bad.sql = "SELECT 1"  # innocent-looking display text
    plan.steps.insert(0, bad)
    res = apply_plan(plan, fresh_dsn, store_dsn, FAST, approve=True)
    assert res.status == "skipped" and "changing-column-type" in res.reason
    assert fetch(fresh_dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = 'orders'"
                            " AND column_name = 'user_id'")[0][0] == "integer"


def test_expand_contract_under_concurrent_writes(fresh_dsn, store_dsn):
    """Writers insert and update while the column is swapped: every row ends with the right value."""
    from heal_pipeline.plan import Thresholds

    run(fresh_dsn, """
        CREATE SCHEMA app;
        CREATE TABLE app.users (id bigint PRIMARY KEY);
        INSERT INTO app.users SELECT generate_series(1, 100);
        CREATE TABLE app.events (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                                 user_id integer NOT NULL REFERENCES app.users (id), note text);
        INSERT INTO app.events (id, user_id, note) SELECT g, 1 + g % 100, 'n' FROM generate_series(1, 4000) g;
        SELECT setval(pg_get_serial_sequence('app.events', 'id'), 4000);
        CREATE INDEX events_user_idx ON app.events (user_id);""")
    iss = issue("type_mismatch", schema_name="app", table_name="events", column_name="user_id",
                evidence={"parent": {"schema": "app", "table": "users", "column": "id", "data_type": "bigint"}})
    pol = Policy(dry_run=False, lock_timeout_s=1.0, retry_backoff_s=0.05, lock_retries=5, cooldown_s=0,
                 batch_pause_s=0.001)
    plan = make_plan(fresh_dsn, iss, pol, thresholds=Thresholds(small_table_rows=500, batch_size=250))
    assert plan.blocked is None and "expand/contract" in plan.summary
    stop = threading.Event()
    written: list[tuple[int, int]] = []
    errors: list[str] = []

    def writer():
        import random
        rnd = random.Random(7)
        with psycopg.connect(fresh_dsn, autocommit=True) as c:
            while not stop.is_set():
                try:
                    if rnd.random() < 0.5:
                        u = rnd.randint(1, 100)
                        rid = c.execute("INSERT INTO app.events (user_id, note) VALUES (%s, 'w') RETURNING id",
                                        (u,)).fetchone()[0]
                        written.append((rid, u))
                    else:
                        c.execute("UPDATE app.events SET note = 'u' WHERE id = %s", (rnd.randint(1, 4000),))
                except psycopg.Error as exc:
                    errors.append(str(exc).splitlines()[0])

    t = threading.Thread(target=writer)
    t.start()
    try:
        res = apply_plan(plan, fresh_dsn, store_dsn, pol, approve=True)
    finally:
        stop.set()
        t.join()
    assert res.status == "verified", res.reason
    assert not errors, errors[:3]
    assert len(written) > 20
    assert fetch(fresh_dsn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                            " WHERE attrelid = 'app.events'::regclass AND attname = 'user_id'") == [("bigint",)]
    got = dict(fetch(fresh_dsn, "SELECT id, user_id FROM app.events WHERE id > 4000"))
    assert got == dict(written)
    assert fetch(fresh_dsn, "SELECT count(*) FROM app.events WHERE user_id <> 1 + id % 100 AND id <= 4000")[0][0] == 0


def test_migrations_with_non_ascii_text_keep_exact_definitions(tmp_path):
    """pglast's statement locations are characters: a comment with accents before the statement must not
    shift the slice (it used to turn int8 into integer and timestamptz into 'timestampt')."""
    from heal_pipeline.detect.migrations import find_table, scan_migrations

    (tmp_path / "001_init.sql").write_text(
        "-- café, ünïcode, 日本語 comments before the tables\n"
        "CREATE TABLE app.events (id int8 PRIMARY KEY, at timestamptz NOT NULL);\n"
        "-- ещё комментарий\n"
        "CREATE TABLE app.notes (id bigint, body text);\n", encoding="utf-8")
    defs, problems = scan_migrations([tmp_path])
    assert problems == []
    ev = find_table(defs, "app", "events")
    assert ev.sql == "CREATE TABLE app.events (id int8 PRIMARY KEY, at timestamptz NOT NULL)"
    assert ev.line == 2
    notes = find_table(defs, "app", "notes")
    assert notes.sql == "CREATE TABLE app.notes (id bigint, body text)" and notes.line == 4


def test_mixed_case_and_quoted_names_touch_exactly_their_object(fresh_dsn, make_db):
    """A quoted, mixed-case schema/table/column never resolves to its lower-case twin."""
    from heal_pipeline.apply import apply_plan, rollback_fix

    store = make_db(prefix="heal_t_store_")
    run(fresh_dsn, """
        CREATE SCHEMA "Mixed Case"; CREATE SCHEMA "mixed case";
        CREATE TABLE "Mixed Case"."Users" (id integer PRIMARY KEY);
        INSERT INTO "Mixed Case"."Users" SELECT generate_series(1, 20);
        CREATE TABLE "Mixed Case"."User Sessions" (id int PRIMARY KEY, "User ID" text);
        CREATE TABLE "mixed case"."user sessions" (id int PRIMARY KEY, "user id" text);
        INSERT INTO "Mixed Case"."User Sessions" SELECT g, g::text FROM generate_series(1, 20) g;
        INSERT INTO "mixed case"."user sessions" SELECT g, g::text FROM generate_series(1, 20) g;""")
    iss = issue("type_mismatch", schema_name="Mixed Case", table_name="User Sessions", column_name="User ID",
                evidence={"parent": {"schema": "Mixed Case", "table": "Users", "column": "id", "data_type": "integer"}})
    plan = make_plan(fresh_dsn, iss)
    assert plan.blocked is None, plan.blocked
    res = apply_plan(plan, fresh_dsn, store, TEST_POLICY, approve=True)
    assert res.status == "verified", res.reason
    types = dict(fetch(fresh_dsn, "SELECT table_schema || '.' || table_name, data_type FROM information_schema.columns"
                                  " WHERE column_name IN ('User ID', 'user id') AND table_schema <> 'heal_backup'"))
    assert types == {"Mixed Case.User Sessions": "integer", "mixed case.user sessions": "text"}
    assert rollback_fix(res.fix_id, fresh_dsn, store, policy=TEST_POLICY).status == "rolled_back"


def test_reverse_of_drop_index_builds_concurrently_under_lock_timeout(fresh_dsn):
    """The reverse of an unused/duplicate index drop rebuilds it CONCURRENTLY, outside a transaction,
    and (like every statement) under lock_timeout (the runner sets it per statement; squawk checks it)."""
    run(fresh_dsn, """CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, a int);
        CREATE INDEX t_a_idx ON app.t (a); CREATE INDEX t_a_dup ON app.t (a);""")
    plan = make_plan(fresh_dsn, issue("duplicate_index", schema_name="app", table_name="t", object_name="t_a_dup",
                                      evidence={"covered_by": "t_a_idx"}))
    assert plan.blocked is None, plan.blocked
    builds = [r for r in plan.reverse if r.op in ("create_index_from_definition", "create_index")]
    assert builds and all(not r.transactional for r in builds)
    assert all("CONCURRENTLY" in r.sql for r in builds), [r.sql for r in builds]
    drops = [s for s in plan.steps if s.op == "drop_index"]
    assert drops and all("CONCURRENTLY" in s.sql and not s.transactional for s in drops)
    assert all(f["allowed"] for f in plan.lint), plan.lint
