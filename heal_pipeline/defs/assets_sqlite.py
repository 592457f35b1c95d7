"""The fix assets and the rollback job on a SQLite partition (``sqlite:`` target URL).

``fix_plan``, ``applied_fixes`` and ``rollback_fix_op`` hand a SQLite partition to these functions
(the PostgreSQL planners, executor and rollback need a PostgreSQL target). Same metadata keys as the
PostgreSQL path, so the UI, the asset check and `heal fixes` read both alike; the work itself is
:mod:`heal_pipeline.sqlite.pipeline` (no Dagster there).
"""

import dagster as dg

from ..apply.policy import load_policy
from ..approve import scaffold_yaml
from ..errors import HealError
from ..store import load_fix_plans, load_open_issues, open_store, save_fix_plans
from .assets import _fail, _table


def is_sqlite_target(target) -> bool:
    return (target.dsn or "").startswith("sqlite:")


def sqlite_fix_plan(context, target) -> dg.MaterializeResult:
    from ..sqlite.pipeline import plan_target

    try:
        policy = load_policy(target.policy)
        with open_store(target.store_dsn) as store:
            plans = plan_target(target, load_open_issues(store, target.name, fixable_only=True))
            save_fix_plans(store, target.name, plans, context.run.run_id)
    except HealError as exc:
        raise _fail(exc) from None
    rows = [{"fingerprint": p.fingerprint, "issue_type": p.issue_type, "tier": p.tier,
             "locks": ", ".join(sorted({s.lock for s in p.steps if s.lock})),
             "rows": p.rows_affected,  # blank when not measured
             "status": "ready", "summary": (p.summary or "")[:200]} for p in plans]
    return dg.MaterializeResult(metadata={
        "engine": dg.MetadataValue.text("sqlite"),
        "plans": _table(rows, [("fingerprint", "string"), ("issue_type", "string"), ("tier", "string"),
                               ("locks", "string"), ("rows", "int"), ("status", "string"), ("summary", "string")]),
        "planned": dg.MetadataValue.int(len(plans)),
        "blocked": dg.MetadataValue.int(0),
        **{f"tier/{t}": dg.MetadataValue.int(sum(p.tier == t for p in plans)) for t in ("auto", "approval", "manual")},
        "status/ready": dg.MetadataValue.int(len(plans)),
        "status/blocked": dg.MetadataValue.int(0),
        "policy": dg.MetadataValue.text(policy.source),
        "launchpad_config": dg.MetadataValue.md("```yaml\n" + scaffold_yaml(target.name, plans) + "```"),
    })


def sqlite_applied_fixes(context, approve: list[str], approve_all_auto: bool, target, home):
    from ..sqlite.pipeline import apply_target

    try:
        policy = load_policy(target.policy)
        with open_store(target.store_dsn) as store:
            known = {p.fingerprint: p for p in load_fix_plans(store, target.name)}
            approved = {f.strip() for f in approve}
            unknown = sorted(approved - set(known))
            if unknown:
                raise HealError(f"unknown fingerprint(s) {', '.join(unknown)}: no current plan for them on "
                                f"{target.name} (materialize fix_plan first; {len(known)} plan(s) available)")
            if approve_all_auto:
                approved |= {f for f, p in known.items() if p.tier == "auto"}
            issues = [i for i in load_open_issues(store, target.name, fixable_only=True) if i.fingerprint in known]
            results = apply_target(target, issues, approved, policy, home, store)
    except HealError as exc:
        raise _fail(exc) from None
    for r in results:
        context.log.info(f"{r['issue_type']} {r['fingerprint']}: {r['status']}"
                         + (f" — {r['reason']}" if r["reason"] else "") + (f" (fix {r['fix_id']})" if r["fix_id"] else ""))
    rows = [{"fix_id": r["fix_id"], "fingerprint": r["fingerprint"],
             "issue_type": r["issue_type"], "status": r["status"], "backup": r.get("backup", ""),
             "reason": (r["reason"] or "")[:200],
             "rollback": f"heal rollback {r['fix_id']} --dsn {target.dsn}" if r["fix_id"] and r["status"] == "verified"
             else ""} for r in results]
    failed = [r for r in results if r["status"] == "failed"]
    yield dg.MaterializeResult(metadata={
        "engine": dg.MetadataValue.text("sqlite"),
        "fixes": _table(rows, [("fix_id", "int"), ("fingerprint", "string"), ("issue_type", "string"),
                               ("status", "string"), ("backup", "string"), ("reason", "string"),
                               ("rollback", "string")]),
        "approved": dg.MetadataValue.json(sorted(approved)),
        **{f"status/{s}": dg.MetadataValue.int(sum(r["status"] == s for r in results))
           for s in ("verified", "failed", "skipped")},
        "policy": dg.MetadataValue.text(policy.source),
        "how_to_roll_back": dg.MetadataValue.md("\n\n".join(
            f"Fix **{r['fix_id']}** (`{r['fingerprint']}`): `heal rollback {r['fix_id']} --dsn {target.dsn}`, or job "
            f"**heal_rollback** with `fix_id: {r['fix_id']}`, `target_db: {target.name}`"
            for r in results if r["fix_id"] and r["status"] == "verified")
            or "No fix of this run verified: nothing to roll back."),
    })
    yield dg.AssetCheckResult(check_name="fixes_verified", passed=not failed, severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"failed": dg.MetadataValue.json(
                                  [{"fingerprint": r["fingerprint"], "reason": r["reason"]} for r in failed])})


def sqlite_rollback(context, fix_id: int, target):
    from ..sqlite.pipeline import rollback_fix_id

    try:
        with open_store(target.store_dsn) as store:
            out = rollback_fix_id(target, fix_id, store)
    except HealError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(f"rollback of SQLite fix {fix_id}: {out['status']}"
                     + (f" — {len(out['conflicts'])} conflict(s) kept" if out["conflicts"] else ""))
    if not out["status"].startswith("rolled_back"):
        raise dg.Failure(description=f"rollback of fix {fix_id} did not complete: {out['status']}: "
                                     f"{out.get('error') or ''}")
    yield dg.AssetMaterialization(asset_key="applied_fixes", partition=target.name,
                                  metadata={"rolled_back_fix": dg.MetadataValue.int(fix_id),
                                            "status": dg.MetadataValue.text(out["status"]),
                                            "conflicts": dg.MetadataValue.json(out["conflicts"])})
