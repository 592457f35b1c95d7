"""cast_workaround: codemod plans as unified diffs, applied only after the schema fix verified,
with a file backup, a parse check, a revert on failure, and rollback."""

from __future__ import annotations

import ast
import copy
import shutil
from pathlib import Path

from heal_pipeline.apply import apply_plan, rollback_fix

from .helpers import TEST_POLICY, fetch, issue, make_plan, run

REPO = Path(__file__).resolve().parents[2]


def _setup(tmp_path: Path, dsn: str):
    root = tmp_path / "src"
    (root / "auth").mkdir(parents=True)
    for name in ("sessions.py", "login.py"):
        shutil.copy(REPO / "examples/demo_app/auth" / name, root / "auth" / name)
    run(dsn, """
        CREATE SCHEMA auth;
        CREATE TABLE public.users (id integer PRIMARY KEY);
        INSERT INTO public.users SELECT generate_series(1, 50);
        CREATE TABLE auth.sessions (id bigint PRIMARY KEY, user_id text, token text);
        INSERT INTO auth.sessions SELECT g, (1 + g % 50)::text, md5(g::text) FROM generate_series(1, 400) g;""")
    mismatch = issue("type_mismatch", schema_name="auth", table_name="sessions", column_name="user_id",
                     severity="critical",
                     evidence={"child_type": "text", "parent": {"schema": "public", "table": "users",
                                                                "column": "id", "data_type": "integer"}})
    fp = mismatch.fingerprint

    def cast(file, line, kind, **ev):
        return issue("cast_workaround", file=file, line=line, schema_name="auth", table_name="sessions",
                     column_name="user_id", evidence={"mismatch": fp, "kind": kind, "bound_to": "auth.sessions.user_id",
                                                       **ev})

    casts = [
        cast("auth/sessions.py", 25, "sql_cast", cast="::text",
             scanner={"target_type": "text", "column": "public.users.id"}),
        cast("auth/sessions.py", 29, "python_cast", cast="str"),
        cast("auth/sessions.py", 33, "sql_cast", cast="::text", scanner={"target_type": "text", "param": 1}),
        cast("auth/sessions.py", 20, "helper_call", function="session_user_key"),
        cast("auth/login.py", 47, "helper_call", function="session_user_key"),
    ]
    helper = cast("auth/sessions.py", 15, "helper", cast="str", function="session_user_key")
    return root, mismatch, casts, helper


def test_cast_workarounds_removed_after_the_schema_fix(tmp_path, fresh_dsn, store_dsn):
    root, mismatch, casts, helper = _setup(tmp_path, fresh_dsn)
    kw = {"source_dirs": [root]}
    sessions, login = root / "auth/sessions.py", root / "auth/login.py"
    original = sessions.read_text()

    plan = make_plan(fresh_dsn, casts[0], **kw)
    assert plan.blocked is None and plan.tier == "approval" and plan.depends_on == [mismatch.fingerprint]
    assert plan.diff.startswith("--- a/auth/sessions.py\n+++ b/auth/sessions.py\n")
    assert "-    return await conn.fetchrow(" in plan.diff and "ON s.user_id = u.id WHERE" in plan.diff
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "skipped" and f"waiting for {mismatch.fingerprint}" in res.reason
    assert sessions.read_text() == original

    hp = make_plan(fresh_dsn, helper, **kw)
    assert hp.blocked and "2 caller(s)" in hp.blocked
    site_fps = {casts[3].fingerprint, casts[4].fingerprint}
    assert site_fps <= set(hp.depends_on)

    tm = apply_plan(make_plan(fresh_dsn, mismatch), fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert tm.status == "verified", tm.reason

    for c in casts:  # one fix at a time, re-planned each time (as the pipeline does run after run)
        p = make_plan(fresh_dsn, c, **kw)
        assert p.blocked is None, (c.line, p.blocked)
        r = apply_plan(p, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
        assert r.status == "verified", (c.line, r.reason)
    text = sessions.read_text()
    assert "::text" not in text and "str(user_id))" not in text
    assert "session_user_key(user_id), token" not in text
    assert "session_user_key(user_id))" not in login.read_text()

    hp = make_plan(fresh_dsn, helper, **kw)
    assert hp.blocked is None, hp.blocked
    assert {e["file"] for e in hp.code_edits} == {"auth/sessions.py", "auth/login.py"}
    before_helper = {p: p.read_text() for p in (sessions, login)}
    r = apply_plan(hp, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert r.status == "verified", r.reason
    assert "session_user_key" not in sessions.read_text() + login.read_text()
    for p in (sessions, login):
        ast.parse(p.read_text())
    assert "from .sessions import create_session\n" in login.read_text()

    rb = rollback_fix(r.fix_id, fresh_dsn, store_dsn, policy=TEST_POLICY)
    assert rb.status == "rolled_back", rb.reason
    assert {p: p.read_text() for p in (sessions, login)} == before_helper
    row = fetch(store_dsn, "SELECT status, rolled_back_by FROM heal.fix_history WHERE fix_id = %s", (r.fix_id,))
    assert row == [("verified", rb.fix_id)]


def test_code_fix_that_does_not_parse_is_reverted(tmp_path, fresh_dsn, store_dsn):
    root, mismatch, casts, _ = _setup(tmp_path, fresh_dsn)
    assert apply_plan(make_plan(fresh_dsn, mismatch), fresh_dsn, store_dsn, TEST_POLICY,
                      approve=True).status == "verified"
    plan = make_plan(fresh_dsn, casts[1], source_dirs=[root])
    broken = copy.deepcopy(plan)
    broken.code_edits[0]["after"] = plan.code_edits[0]["after"].replace("async def list_sessions(",
                                                                        "async def list_sessions((")
    sessions = root / "auth/sessions.py"
    original = sessions.read_text()
    res = apply_plan(broken, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "failed" and "does not parse" in res.reason and res.reverted
    assert sessions.read_text() == original
    # a file edited since the plan was made is not overwritten
    sessions.write_text(original + "\n# edited by a human\n")
    res = apply_plan(plan, fresh_dsn, store_dsn, TEST_POLICY, approve=True)
    assert res.status == "skipped" and "changed since the plan" in res.reason
