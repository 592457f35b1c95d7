"""Execute a :class:`~heal_pipeline.model.FixPlan` safely, verify it, record it; roll fixes back.

    result = apply_plan(plan, target_dsn, store_dsn, policy, run_id, approve=True, redetect=fn)
    result = rollback_fix(fix_id, target_dsn, store_dsn)

Guarantees, in order of execution:

1. **Policy** (:meth:`Policy.gate`): dry run by default, tiers, protected tables, switches, row limit;
   then from ``heal.fix_history``: cooldown and ``max_attempts`` per fingerprint (loop prevention),
   and ``depends_on`` fingerprints must have a verified fix. Refusals return ``skipped`` (not recorded:
   nothing was attempted).
2. **One fixer per database**: ``pg_try_advisory_lock(FIX_LOCK_KEY)`` on the fix session (advisory
   locks are per database), polled up to ``fix_lock_wait``; otherwise ``skipped`` "another heal run
   holds the fix lock". Holding it, rows another heal process left ``running`` are marked failed.
3. **Timeouts on every statement**: ``lock_timeout`` and ``statement_timeout`` (``SET LOCAL`` in
   transactions, session-level for ``CONCURRENTLY`` statements, which run outside transactions);
   ``client_connection_check_interval`` so a killed heal process does not leave DDL running.
   Lock timeouts (55P03) and deadlocks are retried ``lock_retries`` times with exponential backoff
   (an INVALID index left by a failed concurrent build is dropped first: ``FixStep.on_retry``).
4. **Backup** outside the fix transaction, recorded (``backup_ref``).
5. **Verification**: rows + checksum of the affected columns before and after (equal modulo the
   type change; bounded by the key so rows the application inserts meanwhile do not count), then a
   fresh snapshot and re-detection (the caller's ``redetect(snapshot) -> still_present``, else a
   structural fallback). A fix that does not verify runs its reverse steps and is reported ``failed``.
6. **Audit**: a ``heal.fix_history`` row from the start (``running``) to the honest end status, with
   every step as executed (SQL, timings, attempts, rows) and the reverse steps as ``op``/``args``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
from psycopg import sql

from ..db import connect
from ..errors import HealError, first_line
from ..model import FixPlan, FixStep, Snapshot
from ..plan import ops, plan_from_dict, plan_to_dict, step_from_dict
from . import code as codefix
from . import history
from .policy import Policy
from .redetect import default_redetect

FIX_LOCK_KEY = 0x6865616C5F666978  # "heal_fix": one fixer per database
RETRY_SQLSTATES = ("55P03", "40P01")  # lock_not_available, deadlock_detected
APPLICATION_NAME = "heal-fix"

Redetect = Callable[[Snapshot], bool]  # True: the issue is still present in the post-fix snapshot


@dataclass
class FixResult:
    fingerprint: str
    issue_type: str
    target_db: str
    status: str  # verified | failed | skipped | rolled_back
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
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("verified", "rolled_back")

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


class StepFailed(Exception):
    def __init__(self, message: str, *, lock_timeout: bool = False):
        super().__init__(message)
        self.lock_timeout = lock_timeout


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ms(seconds: float) -> str:
    return str(max(1, int(seconds * 1000)))


def _skipped(plan: FixPlan, reason: str) -> FixResult:
    now = _now().isoformat()
    return FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "skipped", reason=reason, tier=plan.tier,
                     started_at=now, finished_at=now)


class Runner:
    """Runs steps on the fix session with timeouts, retries and a record of what happened."""

    def __init__(self, conn: psycopg.Connection, policy: Policy):
        self.conn = conn
        self.policy = policy
        self.records: list[dict[str, Any]] = []

    # ---- primitives ------------------------------------------------------------------
    def _session_timeouts(self, statement_s: float | None) -> None:
        p = self.policy
        self.conn.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                          (_ms(p.lock_timeout_s), _ms(statement_s or p.statement_timeout_s)))

    def _local_timeouts(self, statement_s: float | None) -> None:
        p = self.policy
        self.conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                          (_ms(p.lock_timeout_s), _ms(statement_s or p.statement_timeout_s)))

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(30.0, self.policy.retry_backoff_s * (2 ** (attempt - 1))))

    def query(self, composed: sql.Composable, params: Any = None, timeout_s: float | None = None) -> list[tuple]:
        self._session_timeouts(timeout_s)
        cur = self.conn.execute(composed, params)
        return cur.fetchall() if cur.description else []

    def _record(self, idx: int | None, s: FixStep, which: str, started: dt.datetime, t0: float, *, ok: bool,
                attempts: int = 1, rows: int | None = None, error: str | None = None, value: Any = None) -> dict:
        rec = {"list": which, "index": idx, "description": s.description, "kind": s.kind, "lock": s.lock,
               "sql": ops.compose_step(s).as_string(self.conn), "op": s.op,  # what actually ran
               "started_at": started.isoformat(), "seconds": round(time.monotonic() - t0, 4),
               "attempts": attempts, "rows": rows, "ok": ok, "error": error}
        if value is not None:
            rec["value"] = value
        self.records.append(rec)
        return rec

    # ---- units -----------------------------------------------------------------------
    def check(self, idx: int | None, s: FixStep, which: str) -> None:
        started, t0 = _now(), time.monotonic()
        try:
            rows = self.query(ops.compose_step(s), timeout_s=s.timeout_s)
        except psycopg.Error as exc:
            self._record(idx, s, which, started, t0, ok=False, error=first_line(exc))
            raise StepFailed(f"check '{s.description}' failed: {first_line(exc)}") from None
        value = rows[0][0] if rows else None
        ok = value in s.expect if isinstance(s.expect, list) else value == s.expect
        self._record(idx, s, which, started, t0, ok=ok, value=value,
                     error=None if ok else f"expected {s.expect!r}, found {value!r}")
        if not ok:
            raise StepFailed(f"check '{s.description}' failed: expected {s.expect!r}, found {value!r}")

    def transaction(self, idxs: list[int], steps: list[FixStep], which: str) -> None:
        group = [steps[i] for i in idxs]
        timeout = max((s.timeout_s or self.policy.statement_timeout_s) for s in group)
        attempt = 0
        started, t0 = _now(), time.monotonic()
        while True:
            attempt += 1
            counts: list[int | None] = []
            try:
                with self.conn.transaction():
                    self._local_timeouts(timeout)
                    for s in group:
                        cur = self.conn.execute(ops.compose_step(s))
                        counts.append(cur.rowcount if cur.rowcount >= 0 else None)
                break
            except psycopg.Error as exc:
                if getattr(exc, "sqlstate", None) in RETRY_SQLSTATES and attempt <= self.policy.lock_retries:
                    self._backoff(attempt)
                    continue
                lock = getattr(exc, "sqlstate", None) in RETRY_SQLSTATES
                for i, s in zip(idxs, group):
                    self._record(i, s, which, started, t0, ok=False, attempts=attempt, error=first_line(exc))
                msg = (f"gave up after {attempt} attempt(s) on lock timeouts (lock_timeout "
                       f"{self.policy.lock_timeout_s:g}s): {first_line(exc)}" if lock else first_line(exc))
                raise StepFailed(f"'{group[0].description}': {msg}", lock_timeout=lock) from None
        for i, s, n in zip(idxs, group, counts):
            self._record(i, s, which, started, t0, ok=True, attempts=attempt, rows=n)

    def autocommit(self, idx: int, s: FixStep, which: str) -> None:
        attempt = 0
        started, t0 = _now(), time.monotonic()
        while True:
            attempt += 1
            try:
                self._session_timeouts(s.timeout_s)
                cur = self.conn.execute(ops.compose_step(s))
                self._record(idx, s, which, started, t0, ok=True, attempts=attempt,
                             rows=cur.rowcount if cur.rowcount >= 0 else None)
                return
            except psycopg.Error as exc:
                state = getattr(exc, "sqlstate", None)
                cleaned = self._cleanup(s)
                if state in RETRY_SQLSTATES and attempt <= self.policy.lock_retries and cleaned:
                    self._backoff(attempt)
                    continue
                lock = state in RETRY_SQLSTATES
                self._record(idx, s, which, started, t0, ok=False, attempts=attempt, error=first_line(exc))
                msg = (f"gave up after {attempt} attempt(s) on lock timeouts (lock_timeout "
                       f"{self.policy.lock_timeout_s:g}s): {first_line(exc)}" if lock else first_line(exc))
                if not cleaned:
                    msg += ("; its cleanup could not run either (an INVALID leftover may remain: the next "
                            "plan drops it concurrently first)")
                raise StepFailed(f"'{s.description}': {msg}", lock_timeout=lock) from None

    def _cleanup(self, s: FixStep) -> bool:
        """``on_retry`` steps (e.g. drop the INVALID index a failed concurrent build left); True if all ran."""
        ok = True
        for c in s.on_retry:
            started, t0 = _now(), time.monotonic()
            try:
                self._session_timeouts(c.timeout_s)
                self.conn.execute(ops.compose_step(c))
                self._record(None, c, "cleanup", started, t0, ok=True)
            except psycopg.Error as exc:
                ok = False
                self._record(None, c, "cleanup", started, t0, ok=False, error=first_line(exc))
        return ok

    def backfill(self, idx: int, s: FixStep, which: str) -> None:
        started, t0 = _now(), time.monotonic()
        after: Any = None
        first = True
        total = batches = 0
        retries = 0
        pause = float(self.policy.batch_pause_s if self.policy.batch_pause_s is not None else 0.01)
        a = s.args
        upto = self.query(ops.compose("max_key", {"schema": a["schema"], "table": a["table"], "key": a["key"]}))[0][0]
        while upto is not None:
            q = ops.compose(s.op or "backfill_batch", dict(s.args, first=first))
            attempt = 0
            while True:
                attempt += 1
                try:
                    with self.conn.transaction():
                        self._local_timeouts(s.timeout_s)
                        params = {"upto": upto} if first else {"after": after, "upto": upto}
                        n, last = self.conn.execute(q, params).fetchone()
                    break
                except psycopg.Error as exc:
                    if getattr(exc, "sqlstate", None) in RETRY_SQLSTATES and attempt <= self.policy.lock_retries:
                        retries += 1
                        self._backoff(attempt)
                        continue
                    self._record(idx, s, which, started, t0, ok=False, rows=total, error=first_line(exc))
                    raise StepFailed(f"'{s.description}' batch {batches + 1}: {first_line(exc)}") from None
            if not n:
                break
            total += n
            batches += 1
            after, first = last, False
            if pause:
                time.sleep(pause)
        rec = self._record(idx, s, which, started, t0, ok=True, rows=total, attempts=1 + retries)
        rec["batches"], rec["upto"] = batches, upto

    # ---- step lists ------------------------------------------------------------------
    def run(self, steps: list[FixStep], which: str, *, completed: list[int] | None = None,
            select: list[int] | None = None) -> None:
        """Run ``steps`` (or the ``select``ed indexes) in order; ``completed`` collects what committed."""
        order = select if select is not None else list(range(len(steps)))
        k = 0
        while k < len(order):
            i = order[k]
            s = steps[i]
            if s.kind in ("check",):
                self.check(i, s, which)
                k += 1
            elif s.kind == "checksum":
                k += 1
            elif s.kind == "backfill":
                self.backfill(i, s, which)
                if completed is not None:
                    completed.append(i)
                k += 1
            elif s.kind == "code":
                k += 1
            elif not s.transactional:
                self.autocommit(i, s, which)
                if completed is not None:
                    completed.append(i)
                k += 1
            else:
                idxs = [i]
                while (s.group is not None and k + 1 < len(order) and order[k + 1] == idxs[-1] + 1
                       and steps[order[k + 1]].group == s.group and steps[order[k + 1]].transactional
                       and steps[order[k + 1]].kind not in ("check", "checksum", "backfill", "code")):
                    k += 1
                    idxs.append(order[k])
                self.transaction(idxs, steps, which)
                if completed is not None:
                    completed.extend(idxs)
                k += 1

    # ---- checksums -------------------------------------------------------------------
    def checksum(self, s: FixStep | None, bound: Any = None) -> tuple[str | None, Any]:
        if s is None:
            return None, bound
        args = dict(s.args)
        present = []
        for schema, table in args["sources"]:
            name = sql.Identifier(schema, table).as_string(self.conn)
            if self.query(sql.SQL("SELECT to_regclass({})").format(sql.Literal(name)))[0][0] is not None:
                present.append([schema, table])
        if not present:
            return "rows=0 sum=0", bound
        args["sources"] = present
        params = None
        if args.get("bounded"):
            if bound is None:
                bound = self.query(ops.compose("max_key", {"schema": present[0][0], "table": present[0][1],
                                                            "key": args["key"]}))[0][0]
            params = {"bound": bound}
        row = self.query(ops.compose("checksum", args), params, timeout_s=self.policy.long_timeout_s)[0]
        return f"rows={row[0]} sum={row[1]}", bound


def _reverse_selection(reverse: list[FixStep], completed: set[int]) -> list[int]:
    return [i for i, r in enumerate(reverse)
            if all(x in completed for x in r.requires) and not any(x in completed for x in r.unless)]


class FixSession:
    """One connection to the target holding the fix lock, one to the store. Use as a context manager."""

    def __init__(self, target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None, *,
                 run_id: str | None = None, lock_wait_s: float | None = None):
        self.target_dsn = target_dsn
        self.store_dsn = store_dsn or target_dsn
        self.policy = policy or Policy()
        self.run_id = run_id
        self.lock_wait_s = self.policy.fix_lock_wait_s if lock_wait_s is None else lock_wait_s
        self.conn: psycopg.Connection | None = None
        self.store: psycopg.Connection | None = None
        self.locked = False

    def __enter__(self) -> "FixSession":
        from ..store import open_store

        self.store = open_store(self.store_dsn)
        self.conn = connect(self.target_dsn, purpose="target database", autocommit=True)
        self.conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
        try:
            self.conn.execute("SET client_connection_check_interval = '1s'")
        except psycopg.Error:  # PostgreSQL < 14
            pass
        self.conn.execute("SELECT set_config('lock_timeout', %s, false)", (_ms(self.policy.lock_timeout_s),))
        deadline = time.monotonic() + max(0.0, self.lock_wait_s)
        while True:
            if self.conn.execute("SELECT pg_try_advisory_lock(%s)", (FIX_LOCK_KEY,)).fetchone()[0]:
                self.locked = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: Any) -> None:
        for c in (self.conn, self.store):
            if c is not None:
                try:
                    c.close()  # closing the session releases the advisory lock
                except psycopg.Error:
                    pass

    # ---- helpers ---------------------------------------------------------------------
    def _snapshot(self, target_db: str) -> Snapshot:
        from ..introspect.snapshot import take_snapshot

        return take_snapshot(self.target_dsn, target_db=target_db)

    def _history_gate(self, plan: FixPlan, approve: bool) -> str | None:
        assert self.store is not None
        n, last = history.attempts(self.store, plan.target_db, plan.fingerprint)
        if n >= self.policy.max_attempts:
            return (f"quarantined: {n} attempt(s) already (max_attempts {self.policy.max_attempts}); "
                    "see heal.fix_history")
        if last is not None and self.policy.cooldown_s and not approve:
            age = (_now() - last).total_seconds()
            if age < self.policy.cooldown_s:
                return f"cooldown: last attempt {int(age)}s ago (cooldown {int(self.policy.cooldown_s)}s)"
        for dep in plan.depends_on:
            if not history.is_verified(self.store, plan.target_db, dep):
                return f"waiting for {dep} to be fixed and verified first"
        return None

    # ---- apply -----------------------------------------------------------------------
    def apply(self, plan: FixPlan, *, approve: bool = False, redetect: Redetect | None = None) -> FixResult:
        reason = self.policy.gate(plan, approve=approve)
        if reason:
            return _skipped(plan, reason)
        reason = self._history_gate(plan, approve)
        if reason:
            return _skipped(plan, reason)
        if not self.locked:
            return _skipped(plan, "another heal run holds the fix lock")
        assert self.conn is not None and self.store is not None
        history.mark_interrupted(self.store, plan.target_db, f"run {self.run_id}")
        if plan.code_edits:
            return self._apply_code(plan, approve, redetect)
        reason = self._relint(plan)
        if reason:
            return _skipped(plan, reason)
        return self._apply_sql(plan, approve, redetect)

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

    def _apply_sql(self, plan: FixPlan, approve: bool, redetect: Redetect | None) -> FixResult:
        assert self.conn is not None and self.store is not None
        started = _now()
        t0 = time.monotonic()
        res = FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "failed", tier=plan.tier,
                        backup_ref=plan.backup_ref, started_at=started.isoformat())
        pj = plan_to_dict(plan)
        fix_id = history.insert_running(self.store, plan, run_id=self.run_id, approved=approve, plan_json=pj,
                                        reverse_json=pj["reverse"], started_at=started)
        res.fix_id = fix_id
        runner = Runner(self.conn, self.policy)
        completed: list[int] = []
        fields: dict[str, Any] = {}
        try:
            before_snap = self._snapshot(plan.target_db)
            fields["schema_hash_before"] = before_snap.content_hash()
            runner.run(plan.prechecks, "prechecks")
            res.checksum_before, bound = runner.checksum(plan.checksum_before)
            fields["checksum_bound"] = None if bound is None else str(bound)
            if plan.checksum_original is not None:
                fields["checksum_original"], _ = runner.checksum(plan.checksum_original, bound)
            else:
                fields["checksum_original"] = res.checksum_before
            runner.run(plan.backup_steps, "backup")
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
            res.status = "verified"
        except (StepFailed, HealError, psycopg.Error) as exc:
            res.status = "failed"
            res.reason = str(exc) if isinstance(exc, (StepFailed, HealError)) else first_line(exc)
            res.reverted = self._revert(runner, plan, completed)
            if completed and not res.reverted:
                res.reason += " — REVERT FAILED, manual attention needed (see heal.fix_history steps)"
            elif completed:
                res.reason += " — reverted"
        res.steps = runner.records
        res.finished_at = _now().isoformat()
        res.seconds = round(time.monotonic() - t0, 3)
        history.update(self.store, fix_id, status=res.status, steps=res.steps, completed_steps=completed,
                       checksum_before=res.checksum_before, checksum_after=res.checksum_after,
                       error=res.reason, finished_at=_now(), backup_ref=plan.backup_ref, **fields)
        return res

    def _revert(self, runner: Runner, plan: FixPlan, completed: list[int]) -> bool:
        if not completed:
            return False
        if self.conn is None or self.conn.closed or self.conn.broken:
            return False
        sel = _reverse_selection(plan.reverse, set(completed))
        try:
            runner.run(plan.reverse, "revert", select=sel)
            return True
        except (StepFailed, psycopg.Error):
            return False

    def _apply_code(self, plan: FixPlan, approve: bool, redetect: Redetect | None) -> FixResult:
        assert self.store is not None
        started = _now()
        t0 = time.monotonic()
        res = FixResult(plan.fingerprint, plan.issue_type, plan.target_db, "failed", tier=plan.tier,
                        started_at=started.isoformat())
        why = codefix.check_unchanged(plan.code_edits)
        if why:
            return _skipped(plan, why + " (re-plan)")
        pj = plan_to_dict(plan)
        fix_id = history.insert_running(self.store, plan, run_id=self.run_id, approved=approve, plan_json=pj,
                                        reverse_json=[], started_at=started)
        res.fix_id = fix_id
        backups = {e["path"]: Path(e["path"]).read_text(encoding="utf-8") for e in plan.code_edits}
        history.update(self.store, fix_id, code_backups=backups)  # durable before any write
        res.backup_ref = f"heal.fix_history({fix_id}).code_backups"
        records = []
        written: dict[str, str] = {}
        try:
            for e in plan.code_edits:
                t1 = time.monotonic()
                p = Path(e["path"])
                codefix.write_atomic(p, e["after"])
                written[e["path"]] = backups[e["path"]]
                err = codefix.parses(p)
                records.append({"list": "steps", "index": 0, "description": f"write {e.get('file')}",
                                "kind": "code", "ok": err is None, "error": err,
                                "seconds": round(time.monotonic() - t1, 4),
                                "sha256_after": codefix.sha(e["after"])})
                if err:
                    raise StepFailed(f"the edited file does not parse: {err}")
            # re-detection of code issues needs a new code scan (the next scheduled run does it); here
            # the files must parse and hold exactly the codemod's output. ``redetect`` is not called:
            # a detector over the stored (pre-fix) code scan would always still see the cast.
            for e in plan.code_edits:
                if codefix.sha(Path(e["path"]).read_text(encoding="utf-8")) != codefix.sha(e["after"]):
                    raise StepFailed(f"{e.get('file')} changed while it was being written")
            res.status = "verified"
        except (StepFailed, OSError) as exc:
            res.reason = str(exc)
            errors = codefix.restore(written)
            res.reverted = not errors
            res.reason += " — files restored" if not errors else f" — RESTORE FAILED: {errors}"
        res.steps = records
        res.finished_at = _now().isoformat()
        res.seconds = round(time.monotonic() - t0, 3)
        history.update(self.store, fix_id, status=res.status, steps=records, error=res.reason,
                       finished_at=_now(), backup_ref=res.backup_ref, completed_steps=[0] if res.ok else [])
        return res

    # ---- rollback --------------------------------------------------------------------
    def rollback(self, fix_id: int) -> FixResult:
        assert self.store is not None
        row = history.load(self.store, fix_id)
        if row is None:
            raise HealError(f"no fix {fix_id} in heal.fix_history")
        base = FixResult(row["fingerprint"], row["issue_type"], row["target_db"], "skipped", tier=row["tier"],
                         rollback_of=fix_id)
        now = _now().isoformat()
        base.started_at = base.finished_at = now
        if row["rollback_of"] is not None:
            base.reason = f"fix {fix_id} is itself a rollback (of fix {row['rollback_of']})"
            return base
        if row["rolled_back_by"] is not None:
            base.reason = f"fix {fix_id} was already rolled back by fix {row['rolled_back_by']}"
            return base
        if row["status"] != "verified":
            base.reason = (f"fix {fix_id} has status {row['status']}"
                           + (" (its reverse steps already ran)" if row["status"] == "failed" else "")
                           + ": nothing to roll back")
            return base
        if not self.locked:
            base.reason = "another heal run holds the fix lock"
            return base
        plan = plan_from_dict(row["plan"])
        started = _now()
        t0 = time.monotonic()
        rid = self.store.execute(
            """INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, run_id, tier, status, summary,
                                              approved, rollback_of, started_at, plan, reverse)
               VALUES (%s, %s, %s, %s, %s, 'running', %s, true, %s, %s, %s, '[]')
               RETURNING fix_id""",
            (row["fingerprint"], row["issue_type"], row["target_db"], self.run_id, row["tier"],
             f"rollback of fix {fix_id}: {row['summary']}", fix_id, started,
             history._j(row["plan"]))).fetchone()[0]
        res = FixResult(row["fingerprint"], row["issue_type"], row["target_db"], "failed", tier=row["tier"],
                        fix_id=rid, rollback_of=fix_id, started_at=started.isoformat(),
                        backup_ref=row["backup_ref"])
        fields: dict[str, Any] = {}
        if row["code_backups"]:
            records = []
            for path, original in row["code_backups"].items():
                p = Path(path)
                edit = next((e for e in plan.code_edits if e["path"] == path), None)
                current = p.read_text(encoding="utf-8") if p.is_file() else None
                if edit is not None and current is not None and codefix.sha(current) != codefix.sha(edit["after"]):
                    res.reason = f"{path} changed since fix {fix_id}: not overwritten"
                    break
                records.append({"description": f"restore {path}", "kind": "code", "ok": True})
            else:
                errors = codefix.restore(row["code_backups"])
                if errors:
                    res.reason = f"restore failed: {errors}"
                else:
                    res.status = "rolled_back"
            res.steps = records
        else:
            runner = Runner(self.conn, self.policy)  # type: ignore[arg-type]
            reverse = [step_from_dict(r) for r in row["reverse"] or []]
            sel = _reverse_selection(reverse, set(row["completed_steps"] or []))
            try:
                from ..plan.lint import lint_steps, pg_version_arg

                for s in reverse:  # lint what will run: rebuilt from op/args, never the stored text
                    s.sql = ops.compose_step(s).as_string(self.conn) if s.op else ""
                bad = [f for f in lint_steps([reverse[i] for i in sel], "reverse",
                                             pg_version_arg(self._server_version_num()), self.policy.lock_timeout_s,
                                             self.policy.statement_timeout_s) if not f["allowed"]]
                if bad:
                    raise StepFailed(f"blocked: squawk {bad[0]['rule']} on a reverse step: {bad[0]['message']}")
                runner.run(reverse, "rollback", select=sel)
                snap = self._snapshot(row["target_db"])
                fields["schema_hash_after"] = snap.content_hash()
                res.schema_restored = (row["schema_hash_before"] is not None
                                       and snap.content_hash() == row["schema_hash_before"])
                check = plan.checksum_original or plan.checksum_before
                if check is not None and row["checksum_original"] is not None:
                    # the same key bound the fix used (rows inserted since then do not count)
                    res.checksum_after, _ = runner.checksum(check, row["checksum_bound"])
                    res.checksum_before = row["checksum_original"]
                    if res.checksum_after != row["checksum_original"]:
                        raise StepFailed(f"data not restored: checksum {res.checksum_after} != pre-fix "
                                         f"{row['checksum_original']}")
                res.status = "rolled_back"
                if not res.schema_restored:
                    # data verified, structure not: said plainly (other DDL since the fix, or a no-op reverse)
                    res.reason = ("reverse steps ran and the data checksum matches, but the schema differs "
                                  "from its state before the fix (other changes since, or a fix with no "
                                  "structural reverse)")
            except (StepFailed, HealError, psycopg.Error) as exc:
                res.reason = str(exc) if not isinstance(exc, psycopg.Error) else first_line(exc)
            res.steps = runner.records
        res.finished_at = _now().isoformat()
        res.seconds = round(time.monotonic() - t0, 3)
        history.update(self.store, rid, status=res.status, steps=res.steps, error=res.reason, finished_at=_now(),
                       checksum_before=res.checksum_before, checksum_after=res.checksum_after, **fields)
        if res.status == "rolled_back":
            history.update(self.store, fix_id, rolled_back_by=rid)
        return res


def apply_plan(plan: FixPlan, target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None,
               run_id: str | None = None, *, approve: bool = False, redetect: Redetect | None = None,
               lock_wait_s: float | None = None) -> FixResult:
    """Apply one plan (see the module docstring). Never raises for a failed fix: read ``status``."""
    policy = policy or Policy()
    reason = policy.gate(plan, approve=approve)
    if reason:
        return _skipped(plan, reason)
    with FixSession(target_dsn, store_dsn, policy, run_id=run_id, lock_wait_s=lock_wait_s) as s:
        return s.apply(plan, approve=approve, redetect=redetect)


def apply_plans(plans: list[FixPlan], target_dsn: str, store_dsn: str | None = None, policy: Policy | None = None,
                run_id: str | None = None, *, approve: set[str] | bool = False,
                redetect: Callable[[FixPlan], Redetect | None] | None = None,
                lock_wait_s: float | None = None) -> list[FixResult]:
    """Apply several plans under one fix lock, in order (a plan whose ``depends_on`` verified earlier
    in the list goes through). ``approve``: True for all, or the set of approved fingerprints."""
    policy = policy or Policy()
    out: list[FixResult] = []

    def approved(p: FixPlan) -> bool:
        return approve is True or (isinstance(approve, (set, frozenset, list, tuple)) and p.fingerprint in approve)

    todo = [p for p in plans if not policy.gate(p, approve=approved(p))]
    todo_ids = {id(p) for p in todo}
    skipped = {id(p): _skipped(p, policy.gate(p, approve=approved(p)) or "") for p in plans
               if id(p) not in todo_ids}
    if todo:
        with FixSession(target_dsn, store_dsn, policy, run_id=run_id, lock_wait_s=lock_wait_s) as s:
            done = {id(p): s.apply(p, approve=approved(p), redetect=redetect(p) if redetect else None) for p in todo}
    else:
        done = {}
    for p in plans:
        out.append(done.get(id(p)) or skipped[id(p)])
    return out


def rollback_fix(fix_id: int, target_dsn: str, store_dsn: str | None = None, *, policy: Policy | None = None,
                 run_id: str | None = None, lock_wait_s: float | None = None) -> FixResult:
    """Restore the state before fix ``fix_id`` (its reverse steps, rebuilt from ``op``/``args``), verify it
    (structure hash and data checksum against the pre-fix values), and record a ``rolled_back`` row."""
    with FixSession(target_dsn, store_dsn, policy or Policy(), run_id=run_id, lock_wait_s=lock_wait_s) as s:
        return s.rollback(fix_id)
