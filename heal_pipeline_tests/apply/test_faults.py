"""Fault injection: SIGKILL the applying process at step boundaries, for fixes and for rollbacks, then
show that the next run converges — the interrupted fix or rollback is settled from its journal, user data
equals the pre-fix or the post-fix state exactly (every row, on the key), no heal leftover remains (sync
triggers, helper columns, INVALID indexes, temp files), and nothing stays ``running``.

The test-only hook: ``HEAL_FAULT_KILL_AT=N`` makes the process SIGKILL itself at the N-th boundary
(:func:`heal_pipeline.apply.runner.fault`); ``HEAL_FAULT_LOG`` lists the boundaries of a clean run, from
which each test picks the points that cover every distinct state of its fix type (before/inside/after each
commit, mid-backfill, between file renames). The matrix (cells, passed) is printed with ``-s``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.apply import FixSession, apply_plan
from heal_pipeline.plan import Thresholds, plan_to_dict

from .helpers import TEST_POLICY, fetch, issue, make_plan, run

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from heal_pipeline.apply import Policy, apply_plan, rollback_fix
from heal_pipeline.plan import plan_from_dict
pol = Policy(dry_run=False, lock_timeout_s=2, retry_backoff_s=0.05, lock_retries=1, cooldown_s=0,
             max_attempts=100, batch_pause_s=0, fix_lock_wait_s=5)
mode, arg, dsn, store = sys.argv[1:5]
if mode == "apply":
    r = apply_plan(plan_from_dict(json.load(open(arg))), dsn, store, pol, run_id="child", approve=True)
else:
    r = rollback_fix(int(arg), dsn, store, policy=pol, run_id="child")
print(r.status, r.reason)
"""

MATRIX: list[tuple[str, str, str]] = []


def _child(tmp_path: Path, mode: str, arg: str, dsn: str, store: str, *, kill_at: int | None = None,
           log: Path | None = None) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HEAL_FAULT_KILL_AT", None)
    if kill_at is not None:
        env["HEAL_FAULT_KILL_AT"] = str(kill_at)
    if log is not None:
        env["HEAL_FAULT_LOG"] = str(log)
    return subprocess.run([sys.executable, str(script), mode, arg, dsn, store], env=env, capture_output=True,
                          text=True, timeout=120)


def _points(log: Path) -> list[tuple[int, str]]:
    return [(int(n), name) for n, name in (ln.split(" ", 1) for ln in log.read_text().splitlines())]


def _pick(points: list[tuple[int, str]], every: int = 1) -> list[tuple[int, str]]:
    """Each distinct state: every ':commit' (killed inside the transaction, before COMMIT) and
    ':committed' (after COMMIT, before the journal says done) boundary, the first backfill batch, the
    code renames, plus the plain start/verified boundaries; ``every`` thins long expand/contract lists."""
    keep = [p for p in points if p[1].endswith((":commit", ":committed", ":batch", "renamed", "temps_written"))
            or p[1].startswith(("apply:", "rollback:"))]
    return keep[::every] if every > 1 else keep


def _rows(dsn: str, schema: str, table: str, key: str, column: str) -> dict:
    q = sql.SQL("SELECT {k}, {c}::text FROM {t}").format(k=sql.Identifier(key), c=sql.Identifier(column),
                                                        t=sql.Identifier(schema, table))
    with psycopg.connect(dsn, autocommit=True) as c:
        return dict(c.execute(q).fetchall())


def _leftovers(dsn: str) -> list:
    return fetch(dsn, """
        SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE 'heal_sync_%%'
        UNION ALL SELECT 'column ' || attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  WHERE attname LIKE '%%heal_%%' AND NOT attisdropped AND c.relkind = 'r'
                  AND c.relnamespace::regnamespace::text <> 'heal_backup'
        UNION ALL SELECT 'invalid index ' || indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid""")


def _settle(dsn: str, store: str) -> list[dict]:
    """The next run: any entry point that takes the fix lock recovers first."""
    with FixSession(dsn, store, TEST_POLICY) as s:
        return s.recovered


def _statuses(store: str) -> list[str]:
    return [r[0] for r in fetch(store, "SELECT status FROM heal.fix_history ORDER BY fix_id")]


def _col_type(dsn: str, schema: str, table: str, column: str) -> str:
    return fetch(dsn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
                      " AND attname = %s", (f"{schema}.{table}", column))[0][0]


SESSIONS = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id integer PRIMARY KEY);
INSERT INTO auth.users SELECT generate_series(1, 100);
CREATE TABLE auth.sessions (id bigint PRIMARY KEY, user_id text, token text);
INSERT INTO auth.sessions SELECT g, (1 + g % 100)::text, md5(g::text) FROM generate_series(1, 1200) g;
UPDATE auth.sessions SET user_id = '007' WHERE id = 10;
CREATE INDEX sessions_user_idx ON auth.sessions (user_id);
"""
TYPE_ISSUE = issue("type_mismatch", schema_name="auth", table_name="sessions", column_name="user_id",
                   severity="critical", evidence={"parent": {"schema": "auth", "table": "users", "column": "id",
                                                             "data_type": "integer"}})


@pytest.fixture
def template(make_db):
    """A database built once per test, copied (CREATE DATABASE … TEMPLATE) for every kill cell."""
    def build(ddl: str) -> str:
        dsn = make_db(prefix="heal_t_tpl_")
        run(dsn, ddl)
        return dsn
    return build


def _copy(make_db, tpl_dsn: str) -> str:
    return make_db(template=psycopg.conninfo.conninfo_to_dict(tpl_dsn)["dbname"])


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_type_fix_killed_at_every_boundary_converges(tmp_path, make_db, template, path):
    tpl = template(SESSIONS)
    th = Thresholds(small_table_rows=500, batch_size=400, lock_timeout_s=2) if path == "expand_contract" else None
    plan = make_plan(tpl, TYPE_ISSUE, **({"thresholds": th} if th else {}))
    assert plan.blocked is None, plan.blocked
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    pre = _rows(tpl, "auth", "sessions", "id", "user_id")
    post = {k: (str(int(v)) if v is not None else None) for k, v in pre.items()}

    log = tmp_path / "points.log"
    clean_dsn, clean_store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
    out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), clean_dsn, clean_store, log=log)
    assert out.stdout.startswith("verified"), out.stdout + out.stderr
    points = _pick(_points(log))
    assert len(points) >= 4
    for n, name in points:
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), dsn, store, kill_at=n)
        assert out.returncode == -9, (name, out.stdout, out.stderr)
        _settle(dsn, store)
        statuses = _statuses(store)
        assert statuses and "running" not in statuses, (name, statuses)
        rows = _rows(dsn, "auth", "sessions", "id", "user_id")
        typ = _col_type(dsn, "auth", "sessions", "user_id")
        if statuses[-1] == "verified":
            assert typ == "integer" and rows == post, name
        else:
            assert typ == "text" and rows == pre, (name, statuses)
        assert _leftovers(dsn) == [], (name, fetch(store, "SELECT error, steps FROM heal.fix_history"))
        MATRIX.append((f"type_mismatch/{path}/apply", name, statuses[-1]))


def _killed_with_writer(tmp_path, dsn, store, kill_at, *args):
    """Run the child with an application writer going through the kill and the next run's recovery."""
    from .writers import Writer

    w = Writer(dsn, "auth", "sessions", "id", "user_id", keys=range(20, 1200), insert_from=5000,
               delete_every=29, pause_s=0.001)
    w.start()
    try:
        out = _child(tmp_path, *args, dsn, store, kill_at=kill_at)
        _settle(dsn, store)
    finally:
        w.stop()
    return out, w


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_type_fix_killed_with_writers_running_loses_no_write(tmp_path, make_db, template, path):
    """The production failure: the application keeps writing while the fix is killed *and* while the next
    run settles it. Every application write survives value for value (INSERT, UPDATE, DELETE), no
    application statement fails, and the rows the application did not touch are exactly pre- or post-fix."""

    tpl = template(SESSIONS)
    th = Thresholds(small_table_rows=500, batch_size=400, lock_timeout_s=2) if path == "expand_contract" else None
    plan = make_plan(tpl, TYPE_ISSUE, **({"thresholds": th} if th else {}))
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    pre = _rows(tpl, "auth", "sessions", "id", "user_id")
    post = {k: (str(int(v)) if v is not None else None) for k, v in pre.items()}
    log = tmp_path / "points.log"
    out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), _copy(make_db, tpl),
                 make_db(prefix="heal_t_store_"), log=log)
    assert out.stdout.startswith("verified"), out.stdout + out.stderr
    points = _pick(_points(log), every=3 if path == "expand_contract" else 2)
    assert len(points) >= 3
    for n, name in points:
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        out, w = _killed_with_writer(tmp_path, dsn, store, n, "apply", str(tmp_path / "plan.json"))
        assert out.returncode == -9, (name, out.stdout, out.stderr)
        assert w.errors == [], (name, w.errors[:3])
        assert w.ops > 20 and w.written, (name, w.ops)
        statuses = _statuses(store)
        assert statuses and "running" not in statuses, (name, statuses)
        rows = _rows(dsn, "auth", "sessions", "id", "user_id")
        for k, v in w.written.items():
            assert rows.get(k) == v, (name, k, rows.get(k), v)
        assert not (w.deleted & rows.keys()), name
        expect = post if statuses[-1] == "verified" else pre
        untouched = {k for k in pre if k not in w.written and k not in w.deleted}
        assert {k: rows[k] for k in untouched} == {k: expect[k] for k in untouched}, (name, statuses)
        assert _col_type(dsn, "auth", "sessions", "user_id") == ("integer" if statuses[-1] == "verified" else "text")
        assert _leftovers(dsn) == [], name
        MATRIX.append((f"type_mismatch/{path}/apply+writers", name, statuses[-1]))


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_type_fix_rollback_killed_at_every_boundary_resumes(tmp_path, make_db, template, path):
    tpl = template(SESSIONS)
    th = Thresholds(small_table_rows=500, batch_size=400, lock_timeout_s=2) if path == "expand_contract" else None
    pre = _rows(tpl, "auth", "sessions", "id", "user_id")

    def fixed_copy():
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        plan = make_plan(dsn, TYPE_ISSUE, **({"thresholds": th} if th else {}))
        res = apply_plan(plan, dsn, store, TEST_POLICY, approve=True)
        assert res.status == "verified", res.reason
        return dsn, store, res.fix_id

    log = tmp_path / "points.log"
    dsn, store, fix_id = fixed_copy()
    out = _child(tmp_path, "rollback", str(fix_id), dsn, store, log=log)
    assert out.stdout.startswith("rolled_back"), out.stdout + out.stderr
    points = _pick(_points(log))
    assert len(points) >= 3
    for n, name in points:
        dsn, store, fix_id = fixed_copy()
        out = _child(tmp_path, "rollback", str(fix_id), dsn, store, kill_at=n)
        assert out.returncode == -9, (name, out.stdout, out.stderr)
        _settle(dsn, store)
        statuses = _statuses(store)
        assert "running" not in statuses, (name, statuses)
        # the rollback was resumed to its end: the exact pre-fix data and type
        assert statuses[-1] in ("rolled_back", "rolled_back_with_conflicts"), (
            name, statuses, fetch(store, "SELECT error FROM heal.fix_history ORDER BY fix_id"))
        assert _col_type(dsn, "auth", "sessions", "user_id") == "text", name
        assert _rows(dsn, "auth", "sessions", "id", "user_id") == pre, name
        assert _leftovers(dsn) == [], name
        MATRIX.append((f"type_mismatch/{path}/rollback", name, statuses[-1]))


@pytest.mark.parametrize("path", ["one_transaction", "expand_contract"])
def test_type_fix_rollback_killed_with_writers_running_keeps_their_writes(tmp_path, make_db, template, path):
    """Rollback killed while the application writes, resumed by the next run while it still writes: the
    application's writes made after the fix are kept, every other row is back to its pre-fix value."""

    tpl = template(SESSIONS)
    th = Thresholds(small_table_rows=500, batch_size=400, lock_timeout_s=2) if path == "expand_contract" else None
    pre = _rows(tpl, "auth", "sessions", "id", "user_id")

    def fixed_copy():
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        res = apply_plan(make_plan(dsn, TYPE_ISSUE, **({"thresholds": th} if th else {})), dsn, store,
                         TEST_POLICY, approve=True)
        assert res.status == "verified", res.reason
        return dsn, store, res.fix_id

    log = tmp_path / "points.log"
    dsn, store, fix_id = fixed_copy()
    out = _child(tmp_path, "rollback", str(fix_id), dsn, store, log=log)
    assert out.stdout.startswith("rolled_back"), out.stdout + out.stderr
    points = _pick(_points(log), every=3 if path == "expand_contract" else 2)
    assert len(points) >= 2
    for n, name in points:
        dsn, store, fix_id = fixed_copy()
        out, w = _killed_with_writer(tmp_path, dsn, store, n, "rollback", str(fix_id))
        assert out.returncode == -9, (name, out.stdout, out.stderr)
        assert w.errors == [], (name, w.errors[:3])
        assert w.ops > 20 and w.written, (name, w.ops)
        statuses = _statuses(store)
        assert "running" not in statuses and statuses[-1] in ("rolled_back", "rolled_back_with_conflicts"), (
            name, statuses)
        rows = _rows(dsn, "auth", "sessions", "id", "user_id")
        for k, v in w.written.items():
            assert rows.get(k) == v, (name, k, rows.get(k), v)
        assert not (w.deleted & rows.keys()), name
        untouched = {k for k in pre if k not in w.written and k not in w.deleted}
        assert {k: rows[k] for k in untouched} == {k: pre[k] for k in untouched}, name
        assert _col_type(dsn, "auth", "sessions", "user_id") == "text", name
        assert _leftovers(dsn) == [], name
        MATRIX.append((f"type_mismatch/{path}/rollback+writers", name, statuses[-1]))


def test_orphan_fix_and_rollback_killed_converge(tmp_path, make_db, template):
    tpl = template("""
        CREATE SCHEMA app;
        CREATE TABLE app.users (id integer PRIMARY KEY);
        INSERT INTO app.users SELECT generate_series(1, 200);
        CREATE TABLE app.orders (id integer PRIMARY KEY, user_id integer);
        INSERT INTO app.orders SELECT g, 1 + g % 230 FROM generate_series(1, 600) g;
        ALTER TABLE app.orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id) NOT VALID;""")
    iss = issue("orphaned_rows", schema_name="app", table_name="orders", column_name="user_id",
                evidence={"parent": {"schema": "app", "table": "users", "column": "id"},
                          "constraint": "orders_user_fk"})
    plan = make_plan(tpl, iss)
    assert plan.blocked is None, plan.blocked
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    pre = _rows(tpl, "app", "orders", "id", "user_id")
    post = {k: v for k, v in pre.items() if int(v) <= 200}
    log = tmp_path / "points.log"
    out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), _copy(make_db, tpl),
                 make_db(prefix="heal_t_store_"), log=log)
    assert out.stdout.startswith("verified"), out.stdout + out.stderr
    for n, name in _pick(_points(log)):
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        assert _child(tmp_path, "apply", str(tmp_path / "plan.json"), dsn, store, kill_at=n).returncode == -9
        _settle(dsn, store)
        st = _statuses(store)
        assert "running" not in st, (name, st)
        rows = _rows(dsn, "app", "orders", "id", "user_id")
        assert rows == (post if st[-1] == "verified" else pre), (name, st)
        MATRIX.append(("orphaned_rows/apply", name, st[-1]))
        if st[-1] == "verified":   # and the rollback of a recovered fix restores rows and the NOT VALID FK
            fix_id = fetch(store, "SELECT max(fix_id) FROM heal.fix_history")[0][0]
            out = _child(tmp_path, "rollback", str(fix_id), dsn, store, kill_at=3)
            _settle(dsn, store)
            st = _statuses(store)
            assert st[-1] == "rolled_back" and "running" not in st, (name, st, out.stdout, out.stderr)
            assert _rows(dsn, "app", "orders", "id", "user_id") == pre
            assert fetch(dsn, "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_user_fk'") == [(False,)]
            MATRIX.append(("orphaned_rows/rollback", "kill 3", st[-1]))


def test_code_set_killed_between_files_is_restored(tmp_path, make_db):
    """A two-file code change set killed between the renames: recovery puts both originals back and
    removes the temp files (nothing named *.heal-* is left in the application tree)."""
    from heal_pipeline.model import FixPlan

    app = tmp_path / "app"
    app.mkdir()
    a, b = app / "helpers.py", app / "sessions.py"
    a.write_text("def as_int(x):\n    return int(x)\n")
    b.write_text("from helpers import as_int\n\nprint(as_int('1'))\n")
    originals = {str(a): a.read_text(), str(b): b.read_text()}
    import hashlib

    edits = [{"path": str(a), "file": "helpers.py", "after": "\n",
              "sha256_before": hashlib.sha256(originals[str(a)].encode()).hexdigest()},
             {"path": str(b), "file": "sessions.py", "after": "print('1')\n",
              "sha256_before": hashlib.sha256(originals[str(b)].encode()).hexdigest()}]
    plan = FixPlan(fingerprint="cast_workaround:abc", issue_type="cast_workaround", target_db="t", tier="approval",
                   summary="remove the helper and its call", code_edits=edits)
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    dsn = make_db()
    log = tmp_path / "points.log"
    store = make_db(prefix="heal_t_store_")
    out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), dsn, store, log=log)
    assert out.stdout.startswith("verified"), out.stdout + out.stderr
    points = [p for p in _points(log) if p[1].startswith("code:")]
    assert [p[1] for p in points] == ["code:temps_written", "code:0:renamed", "code:1:renamed"]
    for n, name in points[:2]:
        for p, text in originals.items():
            Path(p).write_text(text)
        store = make_db(prefix="heal_t_store_")
        assert _child(tmp_path, "apply", str(tmp_path / "plan.json"), dsn, store, kill_at=n).returncode == -9
        _settle(dsn, store)
        assert {p: Path(p).read_text() for p in originals} == originals, name
        assert not list(app.glob(".*heal-*")), name
        assert _statuses(store) == ["failed"]
        MATRIX.append(("cast_workaround/code_set", name, "failed (restored)"))


def test_index_fix_and_rollback_killed_converge(tmp_path, make_db, template):
    """CREATE INDEX CONCURRENTLY (fk_without_index) and its reverse DROP INDEX CONCURRENTLY, killed at each
    boundary: the next run leaves either no index or a valid one, never an INVALID leftover."""
    tpl = template("""
        CREATE SCHEMA app;
        CREATE TABLE app.users (id integer PRIMARY KEY);
        INSERT INTO app.users SELECT generate_series(1, 100);
        CREATE TABLE app.orders (id integer PRIMARY KEY, user_id integer CONSTRAINT orders_user_fk REFERENCES app.users (id));
        INSERT INTO app.orders SELECT g, 1 + g % 100 FROM generate_series(1, 3000) g;""")
    iss = issue("fk_without_index", schema_name="app", table_name="orders", object_name="orders_user_fk",
                evidence={"columns": ["user_id"], "suggested_index": "orders_user_id_idx"})
    plan = make_plan(tpl, iss)
    (tmp_path / "plan.json").write_text(json.dumps(plan_to_dict(plan), default=str))
    log = tmp_path / "points.log"
    out = _child(tmp_path, "apply", str(tmp_path / "plan.json"), _copy(make_db, tpl),
                 make_db(prefix="heal_t_store_"), log=log)
    assert out.stdout.startswith("verified"), out.stdout + out.stderr
    idx = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('app.orders_user_id_idx')"
    for n, name in _pick(_points(log)):
        dsn, store = _copy(make_db, tpl), make_db(prefix="heal_t_store_")
        assert _child(tmp_path, "apply", str(tmp_path / "plan.json"), dsn, store, kill_at=n).returncode == -9
        _settle(dsn, store)
        st = _statuses(store)
        assert "running" not in st, (name, st)
        assert fetch(dsn, idx) == ([(True,)] if st[-1] == "verified" else []), (name, st)
        assert _leftovers(dsn) == [], name
        MATRIX.append(("fk_without_index/apply", name, st[-1]))
        if st[-1] == "verified":
            fix_id = fetch(store, "SELECT max(fix_id) FROM heal.fix_history")[0][0]
            _child(tmp_path, "rollback", str(fix_id), dsn, store, kill_at=2)
            _settle(dsn, store)
            st = _statuses(store)
            assert st[-1] == "rolled_back" and "running" not in st, (name, st)
            assert fetch(dsn, idx) == [] and _leftovers(dsn) == []
            MATRIX.append(("fk_without_index/rollback", "kill 2", st[-1]))


def test_zz_print_matrix():
    """The fault matrix of this session (visible with -s; the closing note quotes it)."""
    by: dict[str, dict[str, int]] = {}
    for fix, _point, status in MATRIX:
        by.setdefault(fix, {}).setdefault(status, 0)
        by[fix][status] += 1
    print(f"\nfault matrix: {len(MATRIX)} cells, all converged")
    for k, v in sorted(by.items()):
        print(f"  {k}: {sum(v.values())} cells ({', '.join(f'{s} {n}' for s, n in sorted(v.items()))})")
    assert len(MATRIX) == 0 or all(s for _, _, s in MATRIX)
