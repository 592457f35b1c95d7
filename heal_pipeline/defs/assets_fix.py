"""fix_plan → applied_fixes, the apply job ("one-click fix") and the rollback job."""

import dagster as dg
from pydantic import Field

from ..apply.changeset import expand_approval
from ..apply.executor import apply_plans, rollback_fix
from ..apply.policy import load_policy
from ..db import connect
from ..detect import DetectContext, issues_of
from ..errors import HealError
from ..model import Snapshot
from ..plan import PlanCache, PlanContext, plan_issues
from ..scan import thresholds_for
from ..store import (load_code_scan, load_failed_queries, load_fix_plans, load_open_issues, open_store,
                     previous_snapshot, save_fix_plans)
from .assets import _fail, _table
from .assets_detect import issue_set
from .assets_sqlite import is_sqlite_target, sqlite_applied_fixes, sqlite_fix_plan, sqlite_rollback
from .constants import GROUP_APPLY, GROUP_PLAN, OWNERS, TAG_TARGET_DB, target_db_partitions
from .resources import HealResource

PLAN_COLUMNS = [("fingerprint", "string"), ("issue_type", "string"), ("tier", "string"),
                ("locks", "string"), ("rows", "int"), ("status", "string"), ("summary", "string")]


def _plan_markdown(plans) -> str:
    out = []
    for p in plans[:40]:
        status = f"**blocked**: {p.blocked}" if p.blocked else f"tier `{p.tier}`"
        out.append(f"#### `{p.fingerprint}` — {p.issue_type}\n{p.summary}\n\n{status}; rows affected: "
                   f"{p.rows_affected if p.rows_affected is not None else 'n/a'}; backup: {p.backup or 'n/a'}; "
                   f"verification: {p.verification or 'n/a'}")
        if p.steps:
            out.append("```sql\n" + "\n".join(f"-- {s.description} [lock: {s.lock}]\n{s.sql};"
                                              for s in p.steps if s.sql) + "\n```")
        if p.reverse:
            out.append("Reverse:\n```sql\n" + "\n".join(f"{s.sql};" for s in p.reverse if s.sql) + "\n```")
        if p.diff:
            out.append("```diff\n" + p.diff + "\n```")
        for n in p.notes:
            out.append(f"- {n}")
    return "\n\n".join(out) or "No fixable open issue."


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_PLAN,
    kinds={"postgres", "python"},
    owners=OWNERS,
    code_version="1",
    deps=[issue_set],
    description=(
        "For every open fixable issue, a lock-safe fix plan: ordered steps (DDL composed with "
        "psycopg.sql, or a LibCST code edit shown as a diff), risk tier (auto / approval / manual), the "
        "lock each step takes, rows affected (measured), prechecks, backup, verification and reverse "
        "steps. Every DDL step is linted with squawk; a lint failure blocks the plan. Nothing is applied "
        "here. Stored in heal.fix_plans."
    ),
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("fingerprint", "string"), dg.TableColumn("issue_type", "string"),
        dg.TableColumn("tier", "string"), dg.TableColumn("summary", "string"),
        dg.TableColumn("blocked", "string"), dg.TableColumn("rows_affected", "bigint"),
        dg.TableColumn("plan", "json")])},
)
def fix_plan(context: dg.AssetExecutionContext, heal: HealResource) -> dg.MaterializeResult:
    target = heal.target(context.partition_key)
    if is_sqlite_target(target):
        return sqlite_fix_plan(context, target)
    try:
        policy = load_policy(target.policy)
        with open_store(target.store_dsn) as store:
            snap = previous_snapshot(store, target.name)
            if snap is None:
                raise HealError(f"no schema snapshot of {target.name} yet: materialize schema_snapshot first")
            from ..watch.workload import evaluate_due_watches  # issue 15: judge due watches, revert regressions
            judged = evaluate_due_watches(target.dsn, target.store_dsn, target.name, policy)
            issues = load_open_issues(store, target.name, fixable_only=True)
            scan = load_code_scan(store, target.name) if target.source_dirs else None
            with PlanContext.open(target.dsn, policy=policy, migrations_dirs=list(target.migrations_dirs),
                                  source_dirs=list(target.source_dirs),
                                  statements=list(scan.statements) if scan else []) as pctx:
                plans = plan_issues(issues, snap, pctx,  # plan cache: issue 16 (perf)
                                    cache=PlanCache.for_target(target.name, heal.settings().home))
                from ..whatif.hypo import annotate_plans  # issue 15: HypoPG what-if of index changes
                annotate_plans(plans, issues, snap, pctx, list(scan.statements) if scan else ())
            save_fix_plans(store, target.name, plans, context.run.run_id)
            from ..detect.usage import record_own_reads  # issue 12.1: planning's count(*)s are heal's reads
            record_own_reads(store, target.name, context.run.run_id, "plan", pctx.own_reads)
            from ..watch.shadow import shadow_metadata  # issue 15: what auto-apply would do (shadow mode)
            shadow = shadow_metadata(store, target.name, plans, policy, run_id=context.run.run_id,
                                     pg_stat_statements=snap.pg_stat_statements)
    except HealError as exc:
        raise _fail(exc) from None
    rows = [{"fingerprint": p.fingerprint, "issue_type": p.issue_type, "tier": p.tier,
             "locks": ", ".join(sorted({s.lock for s in p.steps if s.lock})),
             "rows": p.rows_affected if p.rows_affected is not None else -1,
             "status": "blocked" if p.blocked else "ready", "summary": (p.summary or "")[:200]} for p in plans]
    tiers = {t: sum(p.tier == t and not p.blocked for p in plans) for t in ("auto", "approval", "manual")}
    return dg.MaterializeResult(metadata={
        "plans": _table(rows, PLAN_COLUMNS),
        "steps": dg.MetadataValue.md(_plan_markdown(plans)),
        "planned": dg.MetadataValue.int(len(plans)),
        "blocked": dg.MetadataValue.int(sum(bool(p.blocked) for p in plans)),
        **{f"tier/{k}": dg.MetadataValue.int(v) for k, v in tiers.items()},
        "policy": dg.MetadataValue.text(policy.source),
        **{k: (dg.MetadataValue.json(v) if k == "shadow/order" else dg.MetadataValue.int(v)) for k, v in shadow.items()},
        **{f"watch/{st}": dg.MetadataValue.int(sum(w.status == st for w in judged))
           for st in ("improved", "kept", "reverted_regression", "revert_failed", "inconclusive", "watching")},
        "watch/results": dg.MetadataValue.json([w.metadata() for w in judged]),
        "how_to_apply": dg.MetadataValue.md(
            "Launch job **heal_apply** for this partition with run config\n\n"
            "```yaml\nops:\n  applied_fixes:\n    config:\n      approve: [\"<fingerprint>\", …]\n```"),
    })


class ApplyConfig(dg.Config):
    """Launchpad config of the apply job."""

    approve: list[str] = Field(default_factory=list,
                               description="Fingerprints approved for this run (see fix_plan's metadata).")
    approve_all_auto: bool = Field(default=False, description="Also apply every plan of tier 'auto'.")


def _redetector(target, store, plan):
    """The real detector for the plan's issue type, run on the post-fix snapshot."""
    code = load_code_scan(store, target.name) if target.source_dirs else None
    failed = load_failed_queries(store, target.name)

    def still_there(snap: Snapshot | None) -> bool:
        if snap is None:
            return True
        # data evidence on (naming + data relationships must be re-checkable), and the statistics
        # window treated as covered: the question is whether the object is still in the state that
        # made it an issue, not whether enough time has passed to report it
        ctx = DetectContext(target_db=target.name, snapshot=snap, code=code, failed=failed,
                            connect=lambda: connect(target.dsn, purpose="target database", autocommit=False),
                            thresholds=thresholds_for(target), stats_coverage_s=float("inf"),
                            migrations_dirs=tuple(target.migrations_dirs))
        found = {i.fingerprint for i in issues_of(ctx, plan.issue_type)}
        if any(u["check"] == plan.issue_type for u in ctx.unchecked):
            return True  # could not re-check: never call that "gone" (the fix will not verify)
        return plan.fingerprint in found
    return still_there


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_APPLY,
    kinds={"postgres"},
    owners=OWNERS,
    code_version="1",
    deps=[fix_plan],
    pool="heal_apply",
    description=(
        "Applies the planned fixes that policy allows (tier 'auto' when the policy enables it) and those "
        "approved in the run config, under a per-database advisory lock, with lock_timeout and "
        "statement_timeout on every statement, a restorable backup taken outside the fix transaction, "
        "and verification (row count + checksum, and re-detection). Honest status per fix: verified, "
        "failed (rolled back), skipped (with the reason). Audit trail in heal.fix_history; roll a fix "
        "back with the heal_rollback job or `heal rollback <fix_id>`."
    ),
    check_specs=[dg.AssetCheckSpec("fixes_verified", asset="applied_fixes",
                                   description="Fails when a fix attempted in this run did not verify.")],
)
def applied_fixes(context: dg.AssetExecutionContext, config: ApplyConfig, heal: HealResource):
    target = heal.target(context.partition_key)
    if is_sqlite_target(target):
        yield from sqlite_applied_fixes(context, config.approve, config.approve_all_auto, target, heal.settings().home)
        return
    try:
        policy = load_policy(target.policy)
        with open_store(target.store_dsn) as store:
            plans = load_fix_plans(store, target.name)
            known = {p.fingerprint for p in plans}
            unknown = [f for f in (x.strip() for x in config.approve) if f not in known]
            if unknown:
                raise HealError(f"unknown fingerprint(s) {', '.join(unknown)}: no current plan for them on "
                                f"{target.name} (materialize fix_plan first; {len(known)} plan(s) available)")
            approved = {f.strip() for f in config.approve}
            if config.approve_all_auto:
                approved |= {p.fingerprint for p in plans if p.tier == "auto"}
            # a change set is approved as a whole: the schema fix and the code edits that depend on it
            expanded = expand_approval(plans, approved)
            if expanded - approved:
                context.log.info("approved with their change set: " + ", ".join(sorted(expanded - approved)))
            approved = expanded
            try:
                context.instance.add_run_tags(context.run.run_id, {
                    TAG_TARGET_DB: target.name,
                    "heal/approved": ",".join(sorted(approved))[:200] or "none"})
            except Exception:  # noqa: BLE001 - tags are informative; never fail a fix run for them
                context.log.warning("could not add run tags")
            # auto-tier plans go through when the policy allows them; everything else only if approved
            todo = [p for p in plans if p.fingerprint in approved
                    or (p.tier == "auto" and "auto" in policy.auto_apply_tiers and not policy.dry_run)]
            from ..watch.shadow import autonomy_gate  # issue 15: holds, trust ramp, unwatchable changes
            todo, held_back = autonomy_gate(store, target.name, todo, policy, approved,
                                            getattr(previous_snapshot(store, target.name), "pg_stat_statements", None))
            scan = load_code_scan(store, target.name) if target.source_dirs else None
            results = apply_plans(todo, target.dsn, target.store_dsn, policy, context.run.run_id,
                                  approve=approved, redetect=lambda p: _redetector(target, store, p),
                                  statements=list(scan.statements) if scan else None, target_name=target.name)
            from ..watch.workload import watch_applied  # issue 15: measure the workload after index/type fixes
            watches = watch_applied(results, todo, target.dsn, target.store_dsn, policy)
    except HealError as exc:
        raise _fail(exc) from None
    rows = [{"fix_id": r.fix_id if r.fix_id is not None else -1, "fingerprint": r.fingerprint,
             "issue_type": r.issue_type, "status": r.status, "seconds": r.seconds,
             "backup": r.backup_ref or "", "reason": (r.reason or "")[:200],
             "rollback": f"heal rollback {r.fix_id}" if r.fix_id and r.status == "verified" else ""}
            for r in results]
    for r in results:
        context.log.info(f"{r.issue_type} {r.fingerprint}: {r.status}"
                         + (f" — {r.reason}" if r.reason else "") + (f" (fix {r.fix_id})" if r.fix_id else ""))
    failed = [r for r in results if r.status == "failed"]
    yield dg.MaterializeResult(metadata={
        "fixes": _table(rows, [("fix_id", "int"), ("fingerprint", "string"), ("issue_type", "string"),
                               ("status", "string"), ("seconds", "float"), ("backup", "string"),
                               ("reason", "string"), ("rollback", "string")]),
        "approved": dg.MetadataValue.json(sorted(approved)),
        **{f"status/{s}": dg.MetadataValue.int(sum(r.status == s for r in results))
           for s in ("verified", "failed", "skipped")},
        "change_sets": dg.MetadataValue.json([r.change_set for r in results if r.change_set][:50]),
        "policy": dg.MetadataValue.text(policy.source),
        "watches": dg.MetadataValue.json(watches),
        "held_back": dg.MetadataValue.json(held_back),
        "how_to_roll_back": dg.MetadataValue.md(
            "Launch job **heal_rollback** with run config\n\n```yaml\nops:\n  rollback_fix_op:\n    config:\n"
            "      fix_id: <fix_id>\n      target_db: <target>\n```\nor run `heal rollback <fix_id>`."),
    })
    yield dg.AssetCheckResult(check_name="fixes_verified", passed=not failed,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"failed": dg.MetadataValue.json(
                                  [{"fingerprint": r.fingerprint, "reason": r.reason} for r in failed])})


class RollbackConfig(dg.Config):
    fix_id: int = Field(description="heal.fix_history.fix_id of a verified fix (see applied_fixes).")
    target_db: str = Field(default="", description="Target name; empty = the only configured target.")


@dg.op(out={}, pool="heal_apply", description="Restore the state before one fix (reverse steps rebuilt from the audit trail; the data "
                   "checksum must match the pre-fix one, and whether the schema hash matches is reported) "
                   "and record the rollback in heal.fix_history.")
def rollback_fix_op(context: dg.OpExecutionContext, config: RollbackConfig, heal: HealResource):
    targets = heal.targets()
    name = config.target_db or (next(iter(targets)) if len(targets) == 1 else "")
    if not name:
        raise dg.Failure(description=f"several targets configured ({', '.join(sorted(targets))}): set target_db")
    target = heal.target(name)
    try:
        context.instance.add_run_tags(context.run.run_id, {TAG_TARGET_DB: target.name,
                                                           "heal/rollback_of": str(config.fix_id)})
    except Exception:  # noqa: BLE001
        pass
    if is_sqlite_target(target):
        yield from sqlite_rollback(context, config.fix_id, target)
        return
    try:
        res = rollback_fix(config.fix_id, target.dsn, target.store_dsn, policy=load_policy(target.policy),
                           run_id=context.run.run_id, target_name=target.name)
    except HealError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(f"rollback of fix {config.fix_id}: {res.status}" + (f" — {res.reason}" if res.reason else ""))
    if res.status in ("rolled_back", "rolled_back_with_conflicts") and (not res.schema_restored or res.conflicts):
        context.log.warning(f"fix {config.fix_id}: {res.reason}")
    if res.status not in ("rolled_back", "rolled_back_with_conflicts"):
        raise dg.Failure(description=f"rollback of fix {config.fix_id} did not complete: {res.status}: {res.reason}",
                         metadata={"result": dg.MetadataValue.json(res.to_dict())})
    yield dg.AssetMaterialization(asset_key="applied_fixes", partition=target.name,
                                  metadata={"rolled_back_fix": dg.MetadataValue.int(config.fix_id),
                                            "rollback_fix_id": dg.MetadataValue.int(res.fix_id or -1),
                                            "schema_restored": dg.MetadataValue.bool(bool(res.schema_restored)),
                                            "status": dg.MetadataValue.text(res.status),
                                            "conflicts": dg.MetadataValue.json(res.conflicts or {})})


@dg.job(description="Roll back one fix by id (config: fix_id, target_db).", tags={"heal/kind": "rollback"})
def heal_rollback():
    rollback_fix_op()


heal_apply = dg.define_asset_job(
    "heal_apply", selection=dg.AssetSelection.assets(applied_fixes),
    description="Apply fixes: tier-auto ones the policy allows, plus the fingerprints approved in the config.",
    tags={"heal/kind": "apply"})
