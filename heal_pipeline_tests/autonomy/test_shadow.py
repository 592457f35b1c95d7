"""Shadow mode and the trust ramp: pure decisions, and rows in a real heal store."""

import pytest

from heal_pipeline.apply.policy import Policy, policy_from_dict, trust_ramp_reason
from heal_pipeline.errors import ConfigError
from heal_pipeline.model import FixPlan, FixStep
from heal_pipeline.store import open_store
from heal_pipeline.watch.shadow import shadow_decisions, shadow_metadata, watch_tier_reason


def plan(fp, issue_type="stale_statistics", tier="auto", severity="warning", op="analyze_table", tables=("public.t",),
         depends_on=(), rows=0, blocked=None):
    return FixPlan(fingerprint=fp, issue_type=issue_type, target_db="db", tier=tier, summary=f"fix {fp}",
                   steps=[FixStep("s", "", lock="SHARE UPDATE EXCLUSIVE", op=op)], tables=list(tables),
                   rows_rewritten=rows, depends_on=list(depends_on), issue={"severity": severity}, blocked=blocked)


def by_fp(rows):
    return {r.fingerprint: r for r in rows}


def test_shadow_records_what_auto_apply_would_do_while_it_is_off():
    policy = Policy(protected_tables=("billing.*",))  # defaults: dry run, nothing applied automatically
    plans = [plan("a"), plan("prot", tables=("billing.invoices",)), plan("appr", tier="approval"),
             plan("blk", blocked="precheck failed"), plan("crit", severity="critical")]
    rows = shadow_decisions(plans, policy)
    d = by_fp(rows)
    assert [r.fingerprint for r in rows][0] == "crit"  # run order: severity first
    assert d["a"].would_apply and not d["a"].applies_now  # auto-apply is off today
    assert not d["prot"].would_apply and "protected" in d["prot"].reason
    assert not d["appr"].would_apply and "approval" in d["appr"].reason
    assert not d["blk"].would_apply and "blocked" in d["blk"].reason
    on = shadow_decisions(plans, Policy(dry_run=False, auto_apply_tiers=("auto",)))
    assert by_fp(on)["a"].applies_now and by_fp(on)["a"].would_apply


def test_trust_ramp_needs_n_verified_approvals_per_type():
    policy = policy_from_dict({"auto_after_approvals": 2, "auto_after_approvals_by_type": {"table_bloat": 0}})
    plans = [plan("s"), plan("b", issue_type="table_bloat")]
    d = by_fp(shadow_decisions(plans, policy, verified_approvals={"stale_statistics": 1}))
    assert not d["s"].would_apply and "1 of 2" in d["s"].reason
    assert d["b"].would_apply
    d = by_fp(shadow_decisions(plans, policy, verified_approvals={"stale_statistics": 2}))
    assert d["s"].would_apply
    assert trust_ramp_reason(policy, plan("x", tier="approval"), 0) is None  # the ramp gates auto only
    with pytest.raises(ConfigError, match="auto_after_approvals"):
        policy_from_dict({"auto_after_approvals": -1})


def test_holds_unwatched_index_changes_and_dependencies():
    idx = plan("idx", issue_type="fk_without_index", op="create_index")
    dep = plan("dep", depends_on=["idx"])
    rows = by_fp(shadow_decisions([idx, dep], Policy(), pg_stat_statements="not_preloaded"))
    assert not rows["idx"].would_apply and "watch cannot run" in rows["idx"].reason
    assert not rows["dep"].would_apply and "depends on idx" in rows["dep"].reason
    assert watch_tier_reason(plan("an"), "not_installed") is None  # ANALYZE is not watched
    rows = by_fp(shadow_decisions([idx, dep], Policy(), holds={"idx"}))
    assert "held" in rows["idx"].reason and not rows["dep"].would_apply


def test_shadow_rows_in_the_store(make_db):
    store_dsn = make_db(prefix="heal_t_store_")
    with open_store(store_dsn) as store:
        store.execute("INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, tier, status, approved) "
                      "VALUES ('f1', 'stale_statistics', 'db', 'auto', 'verified', true)")
        store.execute("INSERT INTO heal.fix_holds (target_db, fingerprint, held_until, reason) "
                      "VALUES ('db', 'held', now() + interval '7 days', 'regression')")
        policy = policy_from_dict({"auto_after_approvals": 1}, "test-policy")
        meta = shadow_metadata(store, "db", [plan("s"), plan("held"), plan("b", issue_type="table_bloat")],
                               policy, run_id="r1")
        assert meta["shadow/would_apply"] == 1 and meta["shadow/held_back"] == 2
        rows = store.execute("SELECT fingerprint, would_apply, applies_now, reason, policy_source, position "
                             "FROM heal.shadow_fixes WHERE run_id = 'r1' ORDER BY position").fetchall()
    d = {r[0]: r for r in rows}
    assert len(rows) == 3 and d["s"][1] is True and d["s"][2] is False and d["s"][4] == "test-policy"
    assert "held" in d["held"][3] and "trust ramp" in d["b"][3]


def test_autonomy_gate_holds_back_unapproved_auto_plans(make_db):
    from heal_pipeline.watch.shadow import autonomy_gate

    store_dsn = make_db(prefix="heal_t_store_")
    with open_store(store_dsn) as store:
        store.execute("INSERT INTO heal.fix_holds (target_db, fingerprint, held_until, reason) "
                      "VALUES ('db', 'held', now() + interval '7 days', 'regression')")
        store.execute("INSERT INTO heal.fix_holds (target_db, fingerprint, held_until, reason) "
                      "VALUES ('db', 'expired', now() - interval '1 day', 'regression')")
        policy = policy_from_dict({"auto_after_approvals_by_type": {"table_bloat": 1}})
        plans = [plan("held"), plan("expired"), plan("bloat", issue_type="table_bloat"),
                 plan("idx", issue_type="fk_without_index", op="create_index"), plan("ok")]
        kept, held = autonomy_gate(store, "db", plans, policy, approved={"bloat"}, pg_stat_statements="not_installed")
    assert [p.fingerprint for p in kept] == ["expired", "bloat", "ok"]  # approval overrides the ramp
    reasons = {h["fingerprint"]: h["reason"] for h in held}
    assert set(reasons) == {"held", "idx"} and "held" in reasons["held"] and "watch" in reasons["idx"]
