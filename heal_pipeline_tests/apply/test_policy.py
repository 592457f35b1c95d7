"""Policy: file loading (TOML/JSON, one-line errors), gates, cooldown / max attempts from fix_history."""

from __future__ import annotations

import json

import pytest

from heal_pipeline.apply import Policy, apply_plan, load_policy
from heal_pipeline.errors import ConfigError

from .helpers import TEST_POLICY, fetch, issue, make_plan, run

GOOD = """
dry_run = false
auto_apply_tiers = ["auto"]
protected_tables = ["billing.*", "public.users"]
max_rows_to_rewrite = 5000
cooldown = "15m"
max_attempts = 2
disabled_issue_types = ["unused_table"]
lock_timeout = "500ms"
statement_timeout = "2m"
lock_retries = 4
retry_backoff = 0.2
fix_lock_wait = "5s"

[thresholds]
small_table_rows = 1000
batch_size = 100
batch_pause = "5ms"

[tables."app.orders"]
enabled = false

[tables."analytics.*"]
issue_types = ["fk_without_index"]
"""


def test_load_toml(tmp_path):
    p = tmp_path / "policy.toml"
    p.write_text(GOOD)
    pol = load_policy(p)
    assert pol.dry_run is False and pol.auto_apply_tiers == ("auto",)
    assert pol.cooldown_s == 900 and pol.lock_timeout_s == 0.5 and pol.statement_timeout_s == 120
    assert pol.small_table_rows == 1000 and pol.batch_pause_s == 0.005 and pol.retry_backoff_s == 0.2
    assert pol.is_protected("billing.invoices") and not pol.is_protected("app.orders")
    assert pol.table_rule("analytics.events").issue_types == ("fk_without_index",)


def test_load_json_and_env(tmp_path):
    p = tmp_path / "policy.json"
    p.write_text(json.dumps({"dry_run": False, "auto_apply_tiers": ["auto", "approval"]}))
    pol = load_policy(env={"HEAL_POLICY": str(p)})
    assert pol.auto_apply_tiers == ("auto", "approval")
    assert load_policy(env={}) == Policy()  # defaults: dry run, nothing automatic
    assert Policy().dry_run is True and Policy().auto_apply_tiers == ()


@pytest.mark.parametrize("text,needle", [
    ("dry_run = 'no'", "dry_run must be true or false"),
    ("auto_apply_tiers = ['manual']", "auto_apply_tiers"),
    ("cooldown = 'soon'", "cooldown='soon' is not a duration"),
    ("max_attempts = 0", "max_attempts must be at least 1"),
    ("colour = 'blue'", "unknown key 'colour'"),
    ("[tables.'a.b']\nenabeld = true", "unknown key tables.'a.b'.enabeld"),
    ("[thresholds]\nsmall_rows = 3", "unknown key thresholds.small_rows"),
    ("dry_run = = false", "invalid TOML"),
])
def test_bad_policy_is_one_line_config_error(tmp_path, text, needle):
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_policy(p)
    msg = str(e.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


def test_missing_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    p = tmp_path / "p.json"
    p.write_text("{oops")
    with pytest.raises(ConfigError, match="invalid JSON at line 1"):
        load_policy(p)


def _fk_db(dsn):
    run(dsn, """
        CREATE SCHEMA app;
        CREATE TABLE app.users (id integer PRIMARY KEY);
        INSERT INTO app.users SELECT generate_series(1, 10);
        CREATE TABLE app.orders (id integer PRIMARY KEY, user_id integer CONSTRAINT orders_user_fk REFERENCES app.users (id));
        INSERT INTO app.orders SELECT g, 1 + g % 10 FROM generate_series(1, 100) g;""")
    return issue("fk_without_index", schema_name="app", table_name="orders", object_name="orders_user_fk",
                 evidence={"columns": ["user_id"], "suggested_index": "orders_user_id_idx"})


def test_gates(fresh_dsn, store_dsn):
    iss = _fk_db(fresh_dsn)
    plan = make_plan(fresh_dsn, iss)
    assert plan.tier == "auto"
    # defaults: dry run, nothing runs and nothing is recorded
    res = apply_plan(plan, fresh_dsn, store_dsn)
    assert res.status == "skipped" and "auto_apply_tiers" in res.reason
    res = apply_plan(plan, fresh_dsn, store_dsn, Policy(auto_apply_tiers=("auto",)))
    assert res.status == "skipped" and res.reason.startswith("dry run")
    assert Policy(dry_run=False, auto_apply_tiers=("auto",), protected_tables=("app.*",)).gate(plan) == \
        "app.orders is a protected table"
    pol = load_policy(None, env={})
    assert pol.gate(plan, approve=True) is None  # an explicit human approval overrides dry-run
    from heal_pipeline.apply.policy import policy_from_dict
    sw = policy_from_dict({"dry_run": False, "auto_apply_tiers": ["auto"],
                           "tables": {"app.*": {"issue_types": ["invalid_index"]}}})
    assert "does not allow fk_without_index" in sw.gate(plan)
    plan.rows_rewritten = 10
    assert "max_rows_to_rewrite" in Policy(dry_run=False, max_rows_to_rewrite=5).gate(plan, approve=True)
    plan.rows_rewritten = 0
    plan.tier = "manual"
    assert "never applied" in Policy(dry_run=False).gate(plan, approve=True)
    plan.tier = "approval"
    assert "waiting for approval" in Policy(dry_run=False, auto_apply_tiers=("auto",)).gate(plan)
    assert fetch(store_dsn, "SELECT to_regclass('heal.fix_history')")[0][0] is None  # nothing touched the store


def test_cooldown_and_max_attempts_from_history(fresh_dsn, store_dsn):
    iss = _fk_db(fresh_dsn)
    pol = Policy(dry_run=False, auto_apply_tiers=("auto",), cooldown_s=3600, max_attempts=2, lock_timeout_s=0.3,
                 retry_backoff_s=0.01, lock_retries=0)
    plan = make_plan(fresh_dsn, iss, pol)
    res = apply_plan(plan, fresh_dsn, store_dsn, pol)
    assert res.status == "verified", res.reason
    run(fresh_dsn, "DROP INDEX app.orders_user_id_idx")  # the issue comes back
    plan = make_plan(fresh_dsn, iss, pol)
    res = apply_plan(plan, fresh_dsn, store_dsn, pol)
    assert res.status == "skipped" and res.reason.startswith("cooldown")
    nocool = Policy(**{**pol.__dict__, "cooldown_s": 0})
    res = apply_plan(plan, fresh_dsn, store_dsn, nocool)
    assert res.status == "verified"
    run(fresh_dsn, "DROP INDEX app.orders_user_id_idx")
    plan = make_plan(fresh_dsn, iss, pol)
    res = apply_plan(plan, fresh_dsn, store_dsn, nocool)
    assert res.status == "skipped" and res.reason.startswith("quarantined: 2 attempt(s)")
    assert fetch(store_dsn, "SELECT count(*) FROM heal.fix_history WHERE fingerprint = %s",
                 (iss.fingerprint,))[0][0] == 2


def test_binary_policy_file_is_one_line_error(tmp_path):
    from heal_pipeline.apply.policy import load_policy
    from heal_pipeline.errors import ConfigError

    for name, data in (("p.toml", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01"), ("q.toml", b"dry_run = false\x00\x00")):
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(ConfigError) as e:
            load_policy(str(f))
        assert str(f) in str(e.value) and "\n" not in str(e.value)


def test_reissued_fingerprint_does_not_defeat_the_cooldown(fresh_dsn, make_db):
    """Known failure mode of autonomous fixers: the same object re-detected under a new fingerprint.
    Attempts count per object too, so the cooldown and max_attempts hold."""
    import dataclasses

    from heal_pipeline.apply import apply_plan

    from .helpers import TEST_POLICY, issue, make_plan, run

    store = make_db(prefix="heal_t_store_")
    run(fresh_dsn, """CREATE SCHEMA app; CREATE TABLE app.users (id int PRIMARY KEY);
        CREATE TABLE app.orders (id int PRIMARY KEY, user_id int CONSTRAINT orders_user_fk REFERENCES app.users (id));""")
    iss = issue("fk_without_index", schema_name="app", table_name="orders", object_name="orders_user_fk",
                evidence={"columns": ["user_id"], "suggested_index": "orders_user_id_idx"})
    pol = dataclasses.replace(TEST_POLICY, cooldown_s=3600, auto_apply_tiers=("auto",))
    plan = make_plan(fresh_dsn, iss, pol)
    assert apply_plan(plan, fresh_dsn, store, pol, approve=False).status == "verified"
    again = make_plan(fresh_dsn, iss, pol)
    again.fingerprint = "fk_without_index:reissued0000"   # same object, new fingerprint
    res = apply_plan(again, fresh_dsn, store, pol, approve=False)
    assert res.status == "skipped" and res.reason.startswith("cooldown"), res.reason
