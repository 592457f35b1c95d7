"""Execute a :class:`~heal_pipeline.model.FixPlan` safely, verify it, record it; roll fixes back.

    result = apply_plan(plan, target_dsn, store_dsn, policy, run_id, approve=True, redetect=fn)
    results = apply_plans(plans, target_dsn, store_dsn, policy, run_id, approve={...}, statements=scan)
    result = rollback_fix(fix_id, target_dsn, store_dsn)

Guarantees, in order of execution:

1. **Recovery first** (:mod:`.recovery`): holding the fix lock, every fix or rollback another heal process
   left ``running`` is settled from its journal before anything else runs — resumed or cleaned up, and
   recorded with its true state.
2. **Policy** (:meth:`Policy.gate`) and history (cooldown, ``max_attempts``, ``depends_on``).
3. **One fixer per database**: ``pg_try_advisory_lock(FIX_LOCK_KEY)`` on the fix session.
4. **Timeouts on every statement** with bounded retries (:mod:`.runner`).
5. **Backup** outside the fix transaction, recorded (``backup_ref``).
6. **Verification** inside the change: row-by-row comparisons of what heal converted or moved (never a
   checksum over rows the application may change meanwhile), and the application's own statements
   re-checked by the server on the new schema before COMMIT (``kind="verify"`` steps); then re-detection.
   A fix that does not verify is undone and reported ``failed``.
7. **Rollback never overwrites a write heal did not make**: values are restored only where the row still
   holds what heal put there; rows the application changed since are kept and reported
   (``rolled_back_with_conflicts`` with their keys).
8. **Audit + journal**: a ``heal.fix_history`` row from the start (``running``) to the honest end status,
   with every unit journaled before and after it runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import psycopg

from ..db import connect
from ..errors import HealError, first_line
from ..model import FixPlan, FixStep, Snapshot
from ..plan import ops, plan_from_dict, plan_to_dict, step_from_dict
from . import code as codefix
from . import history
from .policy import Policy
from .redetect import default_redetect
from .runner import Runner, StepFailed, fault, now, ms, reverse_selection

FIX_LOCK_KEY = 0x6865616C5F666978  # "heal_fix": one fixer per database
APPLICATION_NAME = "heal-fix"
ROLLED_BACK = ("rolled_back", "rolled_back_with_conflicts")

Redetect = Callable[[Snapshot], bool]  # True: the issue is still present in the post-fix snapshot


@dataclass
class FixResult:
    fingerprint: str
    issue_type: str
    target_db: str
    status: str  # verified | failed | skipped | rolled_back | rolled_back_with_conflicts
    reason: str | None = None  # why skipped / failed (one line)
    fix_id: int | None = None
    tier: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    checksum_before: str | None = None
    checksum_after: str | None = None
    backup_ref: str | None = None
    reverted: bool = False  # a failed fix whose reverse steps ran successfully
    redetected: bool | None = None  # True: the issue was still detected after the fix
    schema_restored: bool | None = None  # rollbacks: structure hash equals the pre-fix one
    rollback_of: int | None = None
    conflicts: dict[str, Any] | None = None  # rollbacks: rows the application changed since, kept
    statement_problems: list[dict[str, Any]] = field(default_factory=list)  # app statements a change broke
    change_set: list[str] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("verified",) + ROLLED_BACK

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def _skipped(plan: FixPlan, reason: str) -> FixResult:
    t = now().isoformat()
    return FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "skipped", reason=reason, tier=plan.tier,
                     started_at=t, finished_at=t)


def _attempt_tag(fix_id: int) -> str:
    return f"fix{fix_id}"


class FixSession:
    """One connection to the target holding the fix lock, one to the store. Use as a context manager.

    ``statements``: the application's SQL statements (the latest code scan) — every schema change is
    verified against them before it commits. ``recover=False`` only for tests that inspect a crash."""

    def __init__(self, target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None, *,
                 run_id: str | None = None, lock_wait_s: float | None = None, statements: list | None = None,
                 recover: bool = True, target_name: str | None = None):
        self.target_dsn = target_dsn
        self.store_dsn = store_dsn or target_dsn
        self.policy = policy or Policy()
        self.run_id = run_id
        self.lock_wait_s = self.policy.fix_lock_wait_s if lock_wait_s is None else lock_wait_s
        self.conn: psycopg.Connection | None = None
        self.store: psycopg.Connection | None = None
        self.locked = False
        self.statements = list(statements or [])
        self.recover = recover
        self.target_name = target_name  # the target's configured name (fleet stores: recover only its rows)
        self.recovered: list[dict[str, Any]] = []
        # files edited by the change set being applied: path -> new text (their statements are re-read)
        self.pending_edits: dict[str, str] = {}

    def __enter__(self) -> "FixSession":
        from ..store import open_store

        self.store = open_store(self.store_dsn)
        self.conn = connect(self.target_dsn, purpose="target database", autocommit=True)
        self.conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
        try:
            self.conn.execute("SET client_connection_check_interval = '1s'")
        except psycopg.Error:  # PostgreSQL < 14
            pass
        self.conn.execute("SELECT set_config('lock_timeout', %s, false)", (ms(self.policy.lock_timeout_s),))
        deadline = time.monotonic() + max(0.0, self.lock_wait_s)
        while True:
            if self.conn.execute("SELECT pg_try_advisory_lock(%s)", (FIX_LOCK_KEY,)).fetchone()[0]:
                self.locked = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if self.locked and self.recover:
            from .recovery import recover_interrupted

            self.recovered = recover_interrupted(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        for c in (self.conn, self.store):
            if c is not None:
                try:
                    c.close()  # closing the session releases the advisory lock
                except psycopg.Error:
                    pass

    # ---- helpers ---------------------------------------------------------------------
    def target_db_name(self) -> str:
        assert self.conn is not None
        return self.conn.info.dbname

    def _snapshot(self, target_db: str) -> Snapshot:
        from ..introspect.snapshot import take_snapshot

        return take_snapshot(self.target_dsn, target_db=target_db)

    def _history_gate(self, plan: FixPlan, approve: bool) -> str | None:
        assert self.store is not None
        n, last = history.attempts(self.store, plan.target_db, plan.fingerprint, plan)
        if n >= self.policy.max_attempts:
            return (f"quarantined: {n} attempt(s) already (max_attempts {self.policy.max_attempts}); "
                    "see heal.fix_history")
        if last is not None and self.policy.cooldown_s and not approve:
            age = (now() - last).total_seconds()
            if age < self.policy.cooldown_s:
                return f"cooldown: last attempt {int(age)}s ago (cooldown {int(self.policy.cooldown_s)}s)"
        for dep in plan.depends_on:
            if not history.is_verified(self.store, plan.target_db, dep):
                return f"waiting for {dep} to be fixed and verified first"
        if not approve:  # unattended runs: holds after a measured regression, and the trust ramp
            from ..watch.shadow import active_holds, verified_approvals
            from .policy import trust_ramp_reason

            if plan.fingerprint in active_holds(self.store, plan.target_db):
                return "held: an earlier fix of this issue regressed the workload and was reverted (heal.fix_holds)"
            why = trust_ramp_reason(self.policy, plan,
                                    verified_approvals(self.store, plan.target_db).get(plan.issue_type, 0))
            if why:
                return why
        return None

    def journal_for(self, fix_id: int, completes: str | None) -> Callable[[dict[str, Any]], None]:
        store = self.store
        assert store is not None
        return lambda entry: history.journal(store, fix_id, entry, completes=completes)

    def runner(self, fix_id: int, completes: str | None, plan: FixPlan | None = None) -> Runner:
        assert self.conn is not None
        verifier = None
        if plan is not None and self.statements:
            from .statements import StatementGuard

            verifier = StatementGuard(self, plan)
        return Runner(self.conn, self.policy, journal=self.journal_for(fix_id, completes), verifier=verifier)

    # ---- apply -----------------------------------------------------------------------
    def apply(self, plan: FixPlan, *, approve: bool = False, redetect: Redetect | None = None,
              change_set: list[str] | None = None) -> FixResult:
        reason = self.policy.gate(plan, approve=approve)
        if reason:
            return _skipped(plan, reason)
        reason = self._history_gate(plan, approve)
        if reason:
            return _skipped(plan, reason)
        if not self.locked:
            return _skipped(plan, "another heal run holds the fix lock")
        assert self.conn is not None and self.store is not None
        if plan.code_edits:
            return self._apply_code(plan, approve, change_set)
        reason = self._relint(plan)
        if reason:
            return _skipped(plan, reason)
        return self._apply_sql(plan, approve, redetect, change_set)

    def _server_version_num(self) -> int:
        assert self.conn is not None
        return int(self.conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0])

    def _relint(self, plan: FixPlan) -> str | None:
        """Lint again what will actually execute (re-rendered from op/args), whatever the plan's origin."""
        assert self.conn is not None
        from ..plan.lint import lint_plan

        for lst in (plan.prechecks, plan.steps, plan.backup_steps, plan.reverse):
            for s in lst:
                if s.op:
                    s.sql = ops.compose_step(s).as_string(self.conn)
        blocked_before = plan.blocked
        try:
            lint_plan(plan, self._server_version_num(), lock_timeout_s=self.policy.lock_timeout_s,
                      statement_timeout_s=self.policy.statement_timeout_s)
        except (HealError, ops.UnsafeInput) as exc:
            return f"blocked: {exc}"
        if plan.blocked and plan.blocked != blocked_before:
            return f"blocked: {plan.blocked}"
        return None

    def _apply_sql(self, plan: FixPlan, approve: bool, redetect: Redetect | None,
                   change_set: list[str] | None) -> FixResult:
        assert self.conn is not None and self.store is not None
        started = now()
        t0 = time.monotonic()
        res = FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "failed", tier=plan.tier,
                        backup_ref=plan.backup_ref, started_at=started.isoformat(), change_set=list(change_set or []))
        pj = plan_to_dict(plan)
        fix_id = history.insert_running(self.store, plan, run_id=self.run_id, approved=approve, plan_json=pj,
                                        reverse_json=pj["reverse"], started_at=started, change_set=change_set)
        res.fix_id = fix_id
        runner = self.runner(fix_id, "steps", plan)
        completed: list[int] = []
        fields: dict[str, Any] = {}
        try:
            before_snap = self._snapshot(plan.target_db)
            fields["schema_hash_before"] = before_snap.content_hash()
            history.update(self.store, fix_id, schema_hash_before=fields["schema_hash_before"])
            fault("apply:start")
            runner.run(plan.prechecks, "prechecks")
            res.checksum_before, bound = runner.checksum(plan.checksum_before)
            fields["checksum_bound"] = None if bound is None else str(bound)
            if plan.checksum_original is not None:
                fields["checksum_original"], _ = runner.checksum(plan.checksum_original, bound)
            else:
                fields["checksum_original"] = res.checksum_before
            history.update(self.store, fix_id, checksum_bound=fields["checksum_bound"],
                           checksum_original=fields["checksum_original"])
            runner.run(plan.backup_steps, "backup")
            fault("apply:backed_up")
            runner.run(plan.steps, "steps", completed=completed)
            res.checksum_after, _ = runner.checksum(plan.checksum_after or plan.checksum_before, bound)
            if res.checksum_before != res.checksum_after:
                raise StepFailed(f"verification failed: checksum before {res.checksum_before} != after "
                                 f"{res.checksum_after}")
            after_snap = self._snapshot(plan.target_db)
            fields["schema_hash_after"] = after_snap.content_hash()
            detect = redetect or default_redetect(plan)
            if detect is not None:
                res.redetected = bool(detect(after_snap))
                if res.redetected:
                    raise StepFailed("verification failed: the issue is still detected after the fix")
            fault("apply:verified")
            res.status = "verified"
        except (StepFailed, HealError, psycopg.Error) as exc:
            res.status = "failed"
            res.reason = str(exc) if isinstance(exc, (StepFailed, HealError)) else first_line(exc)
            res.statement_problems = getattr(exc, "problems", []) or []
            res.reverted = self.revert(runner, plan, completed)
            if completed and not res.reverted:
                res.reason += " — REVERT FAILED, manual attention needed (see heal.fix_history steps)"
            elif completed:
                res.reason += " — reverted"
        if runner.verifier is not None and hasattr(runner.verifier, "report"):
            fields["statement_checks"] = runner.verifier.report()
        res.steps = runner.records
        res.finished_at = now().isoformat()
        res.seconds = round(time.monotonic() - t0, 3)
        history.update(self.store, fix_id, status=res.status, steps=res.steps, completed_steps=completed,
                       checksum_before=res.checksum_before, checksum_after=res.checksum_after,
                       error=res.reason, finished_at=now(), backup_ref=plan.backup_ref, **fields)
        return res

    def revert(self, runner: Runner, plan: FixPlan, completed: list[int] | set[int],
               already: set[int] | None = None) -> bool:
        """Run the reverse steps that undo the ``completed`` forward steps (minus ``already`` ran)."""
        if not completed:
            return False
        if self.conn is None or self.conn.closed or self.conn.broken:
            return False
        sel = [i for i in reverse_selection(plan.reverse, set(completed)) if i not in (already or set())]
        try:
            runner.run(plan.reverse, "revert", select=sel)
            return True
        except (StepFailed, psycopg.Error):
            return False

    def _apply_code(self, plan: FixPlan, approve: bool, change_set: list[str] | None) -> FixResult:
        assert self.store is not None
        started = now()
        t0 = time.monotonic()
        res = FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "failed", tier=plan.tier,
                        started_at=started.isoformat(), change_set=list(change_set or []))
        why = codefix.check_unchanged(plan.code_edits)
        if why:
            return _skipped(plan, why + " (re-plan)")
        pj = plan_to_dict(plan)
        fix_id = history.insert_running(self.store, plan, run_id=self.run_id, approved=approve, plan_json=pj,
                                        reverse_json=[], started_at=started, change_set=change_set)
        res.fix_id = fix_id
        backups = {e["path"]: Path(e["path"]).read_text(encoding="utf-8") for e in plan.code_edits}
        history.update(self.store, fix_id, code_backups=backups)  # durable before any write
        res.backup_ref = f"heal.fix_history({fix_id}).code_backups"
        records = []
        journal = self.journal_for(fix_id, None)
        try:
            t1 = time.monotonic()
            codefix.write_set(plan.code_edits, _attempt_tag(fix_id), journal, fault)
            for e in plan.code_edits:
                err = codefix.parses(Path(e["path"]))
                records.append({"list": "steps", "index": 0, "description": f"write {e.get('file')}",
                                "kind": "code", "ok": err is None, "error": err,
                                "seconds": round(time.monotonic() - t1, 4),
                                "sha256_after": codefix.sha(e["after"])})
                if err:
                    raise StepFailed(f"the edited file does not parse: {err}")
            # every file holds exactly the codemod's output (re-detection needs a new code scan: the
            # next scheduled run does it; the schema fix of the change set already verified the new SQL)
            for e in plan.code_edits:
                if codefix.sha(Path(e["path"]).read_text(encoding="utf-8")) != codefix.sha(e["after"]):
                    raise StepFailed(f"{e.get('file')} changed while it was being written")
            res.status = "verified"
        except (StepFailed, OSError) as exc:
            res.reason = str(exc)
            errors = codefix.restore({p: t for p, t in backups.items()
                                      if Path(p).is_file() and Path(p).read_text(encoding="utf-8") != t})
            res.reverted = not errors
            res.reason += " — files restored" if not errors else f" — RESTORE FAILED: {errors}"
        res.steps = records
        res.finished_at = now().isoformat()
        res.seconds = round(time.monotonic() - t0, 3)
        history.update(self.store, fix_id, status=res.status, steps=records, error=res.reason,
                       finished_at=now(), backup_ref=res.backup_ref, completed_steps=[0] if res.ok else [])
        return res

    # ---- rollback --------------------------------------------------------------------
    def rollback(self, fix_id: int) -> FixResult:
        from .rollback import rollback

        return rollback(self, fix_id)


def apply_plan(plan: FixPlan, target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None,
               run_id: str | None = None, *, approve: bool = False, redetect: Redetect | None = None,
               lock_wait_s: float | None = None, statements: list | None = None) -> FixResult:
    """Apply one plan (see the module docstring). Never raises for a failed fix: read ``status``."""
    policy = policy or Policy()
    reason = policy.gate(plan, approve=approve)
    if reason:
        return _skipped(plan, reason)
    with FixSession(target_dsn, store_dsn, policy, run_id=run_id, lock_wait_s=lock_wait_s,
                    statements=statements) as s:
        return s.apply(plan, approve=approve, redetect=redetect)


def apply_plans(plans: list[FixPlan], target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None,
                run_id: str | None = None, *, approve: set[str] | bool = False,
                redetect: Callable[[FixPlan], Redetect | None] | None = None,
                lock_wait_s: float | None = None, statements: list | None = None,
                target_name: str | None = None) -> list[FixResult]:
    """Apply plans as change sets under one fix lock (see :mod:`.changeset`): a schema fix and the code
    edits that depend on it are approved, verified and applied together, in dependency order."""
    from .changeset import apply_change_sets

    return apply_change_sets(plans, target_dsn, store_dsn, policy or Policy(), run_id, approve=approve,
                             redetect=redetect, lock_wait_s=lock_wait_s, statements=statements,
                             target_name=target_name)


def rollback_fix(fix_id: int, target_dsn: str, store_dsn: str | None = None, *, policy: Policy | None = None,
                 run_id: str | None = None, lock_wait_s: float | None = None,
                 target_name: str | None = None) -> FixResult:
    """Undo fix ``fix_id`` without overwriting any write heal did not make (see :mod:`.rollback`), verify
    it, and record a ``rolled_back`` / ``rolled_back_with_conflicts`` row."""
    with FixSession(target_dsn, store_dsn, policy or Policy(), run_id=run_id, lock_wait_s=lock_wait_s,
                    target_name=target_name) as s:
        return s.rollback(fix_id)


__all__ = ["FIX_LOCK_KEY", "FixResult", "FixSession", "StepFailed", "apply_plan", "apply_plans", "rollback_fix",
           "FixStep", "step_from_dict", "plan_from_dict"]
