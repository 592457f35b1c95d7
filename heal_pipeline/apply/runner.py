"""Run fix steps on the target: timeouts, retries, a journal before and after every unit, fault points.

A *unit* is what commits on its own: a transaction (consecutive transactional steps of one ``group``,
including the ``check``/``probe``/``verify`` steps of that group, which run *inside* it), a statement
that must run outside a transaction (``CREATE INDEX CONCURRENTLY``), or a batched backfill (each batch
its own transaction; re-running it is idempotent).

The journal (``heal.fix_history.journal``) gets, for every unit:

* ``intent``  — before it starts (recovery runs the unit's ``on_retry`` cleanup: an INVALID index a
  killed concurrent build left);
* ``commit``  — inside a transaction, just before ``COMMIT``, with the target's transaction id
  (``pg_current_xact_id``): after a crash, ``pg_xact_status`` on the target tells whether it committed;
* ``done``    — after it committed.

``fault(name)`` marks every boundary. With ``HEAL_FAULT_KILL_AT=N`` in the environment (tests only) the
process SIGKILLs itself at the N-th boundary it reaches, so the fault-injection suite can stop a fix or a
rollback at each point and prove that the next run converges.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from typing import Any, Callable

import psycopg
from psycopg import sql

from ..errors import first_line
from ..model import FixStep
from ..plan import ops
from .policy import Policy

RETRY_SQLSTATES = ("55P03", "40P01")  # lock_not_available, deadlock_detected
IN_TRANSACTION_KINDS = ("check", "probe", "verify")  # may join a transaction group

Journal = Callable[[dict[str, Any]], None]
# statement verifier inside the fix transaction: (tables) -> list of problems (one line each)
Verifier = Callable[[psycopg.Connection, list[tuple[str, str]]], list[dict[str, Any]]]

_FAULTS = {"n": 0}


def fault(name: str) -> None:
    """A step boundary. Tests set ``HEAL_FAULT_KILL_AT=N`` to SIGKILL this process at the N-th one
    (``HEAL_FAULT_LOG`` names a file that gets one line per boundary, to enumerate them)."""
    _FAULTS["n"] += 1
    log = os.environ.get("HEAL_FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{_FAULTS['n']} {name}\n")
    at = os.environ.get("HEAL_FAULT_KILL_AT")
    if at and at.isdigit() and int(at) == _FAULTS["n"]:
        os.kill(os.getpid(), signal.SIGKILL)


class StepFailed(Exception):
    def __init__(self, message: str, *, lock_timeout: bool = False, problems: list[dict] | None = None):
        super().__init__(message)
        self.lock_timeout = lock_timeout
        self.problems = problems or []


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ms(seconds: float) -> str:
    return str(max(1, int(seconds * 1000)))


def _matches(value: Any, expect: Any) -> bool:
    return value in expect if isinstance(expect, list) else value == expect


class Runner:
    """Runs steps on the fix session with timeouts, retries, a journal and a record of what happened."""

    def __init__(self, conn: psycopg.Connection, policy: Policy, *, journal: Journal | None = None,
                 verifier: Verifier | None = None):
        self.conn = conn
        self.policy = policy
        self.records: list[dict[str, Any]] = []
        self.journal = journal or (lambda entry: None)
        self.verifier = verifier
        self.probes: dict[str, Any] = {}  # probe step description -> value (e.g. conflicting keys)

    # ---- primitives ------------------------------------------------------------------
    def _session_timeouts(self, statement_s: float | None) -> None:
        p = self.policy
        self.conn.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                          (ms(p.lock_timeout_s), ms(statement_s or p.statement_timeout_s)))

    def _local_timeouts(self, statement_s: float | None) -> None:
        p = self.policy
        self.conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                          (ms(p.lock_timeout_s), ms(statement_s or p.statement_timeout_s)))

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(30.0, self.policy.retry_backoff_s * (2 ** (attempt - 1))))

    def query(self, composed: sql.Composable, params: Any = None, timeout_s: float | None = None) -> list[tuple]:
        self._session_timeouts(timeout_s)
        cur = self.conn.execute(composed, params)
        return cur.fetchall() if cur.description else []

    def _record(self, idx: int | None, s: FixStep, which: str, started: dt.datetime, t0: float, *, ok: bool,
                attempts: int = 1, rows: int | None = None, error: str | None = None, value: Any = None) -> dict:
        rec = {"list": which, "index": idx, "description": s.description, "kind": s.kind, "lock": s.lock,
               "sql": ops.compose_step(s).as_string(self.conn) if s.op else "", "op": s.op,  # what actually ran
               "started_at": started.isoformat(), "seconds": round(time.monotonic() - t0, 4),
               "attempts": attempts, "rows": rows, "ok": ok, "error": error}
        if value is not None:
            rec["value"] = value
        self.records.append(rec)
        return rec

    def _unit(self, event: str, which: str, idxs: list[int], **extra: Any) -> None:
        self.journal({"event": event, "list": which, "idxs": list(idxs), "at": now().isoformat(), **extra})

    # ---- units -----------------------------------------------------------------------
    def check(self, idx: int | None, s: FixStep, which: str) -> None:
        started, t0 = now(), time.monotonic()
        try:
            rows = self.query(ops.compose_step(s), timeout_s=s.timeout_s)
        except psycopg.Error as exc:
            self._record(idx, s, which, started, t0, ok=False, error=first_line(exc))
            raise StepFailed(f"check '{s.description}' failed: {first_line(exc)}") from None
        value = rows[0][0] if rows else None
        ok = _matches(value, s.expect)
        self._record(idx, s, which, started, t0, ok=ok, value=value,
                     error=None if ok else f"expected {s.expect!r}, found {value!r}")
        if not ok:
            raise StepFailed(f"check '{s.description}' failed: expected {s.expect!r}, found {value!r}")

    def _in_transaction(self, s: FixStep) -> Any:
        """One step inside the open transaction; returns its row count (or a check/probe value)."""
        if s.kind == "verify":
            if self.verifier is None:
                return None  # no code statements known: nothing to re-check (said in the result)
            tables = [tuple(t) for t in s.args.get("tables") or []]
            problems = self.verifier(self.conn, tables)  # type: ignore[arg-type]
            if problems:
                first = problems[0]
                raise StepFailed(
                    f"{len(problems)} application statement(s) the server accepted before would be rejected "
                    f"after this change, e.g. {first.get('file')}:{first.get('line')} "
                    f"[{first.get('sqlstate')}] {first.get('message')}", problems=problems)
            return 0
        cur = self.conn.execute(ops.compose_step(s))
        if s.kind in ("check", "probe"):
            row = cur.fetchone()
            value = row[0] if row else None
            if s.kind == "probe":
                self.probes[s.description] = value
                return value
            if not _matches(value, s.expect):
                raise StepFailed(f"check '{s.description}' failed: expected {s.expect!r}, found {value!r}")
            return value
        return cur.rowcount if cur.rowcount >= 0 else None

    def transaction(self, idxs: list[int], steps: list[FixStep], which: str) -> None:
        group = [steps[i] for i in idxs]
        timeout = max((s.timeout_s or self.policy.statement_timeout_s) for s in group)
        attempt = 0
        started, t0 = now(), time.monotonic()
        self._unit("intent", which, idxs)
        fault(f"{which}:{idxs[0]}:before")
        while True:
            attempt += 1
            counts: list[Any] = []
            current = group[0]
            try:
                with self.conn.transaction():
                    self._local_timeouts(timeout)
                    for s in group:
                        current = s
                        counts.append(self._in_transaction(s))
                    xid = self.conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
                    self._unit("commit", which, idxs, xid=xid)
                    fault(f"{which}:{idxs[0]}:commit")
                break
            except psycopg.Error as exc:
                if getattr(exc, "sqlstate", None) in RETRY_SQLSTATES and attempt <= self.policy.lock_retries:
                    self._backoff(attempt)
                    continue
                lock = getattr(exc, "sqlstate", None) in RETRY_SQLSTATES
                self._failed_group(idxs, group, current, which, started, t0, attempt, first_line(exc))
                msg = (f"gave up after {attempt} attempt(s) on lock timeouts (lock_timeout "
                       f"{self.policy.lock_timeout_s:g}s): {first_line(exc)}" if lock else first_line(exc))
                raise StepFailed(f"'{current.description}': {msg}", lock_timeout=lock) from None
            except StepFailed as exc:
                self._failed_group(idxs, group, current, which, started, t0, attempt, str(exc))
                raise
        fault(f"{which}:{idxs[0]}:committed")
        for i, s, n in zip(idxs, group, counts):
            rec = self._record(i, s, which, started, t0, ok=True, attempts=attempt,
                               rows=n if s.kind not in ("check", "probe") else None,
                               value=n if s.kind in ("check", "probe") else None)
            rec["in_transaction"] = len(group) > 1
        self._unit("done", which, idxs)

    def _failed_group(self, idxs, group, current, which, started, t0, attempt, error) -> None:
        for i, s in zip(idxs, group):
            # the step that failed carries the error; the others say they were rolled back with it
            self._record(i, s, which, started, t0, ok=False, attempts=attempt,
                         error=error if s is current else f"rolled back (failure in '{current.description}')")

    def autocommit(self, idx: int, s: FixStep, which: str) -> None:
        attempt = 0
        started, t0 = now(), time.monotonic()
        self._unit("intent", which, [idx])
        fault(f"{which}:{idx}:before")
        while True:
            attempt += 1
            try:
                self._session_timeouts(s.timeout_s)
                cur = self.conn.execute(ops.compose_step(s))
                self._record(idx, s, which, started, t0, ok=True, attempts=attempt,
                             rows=cur.rowcount if cur.rowcount >= 0 else None)
                break
            except psycopg.Error as exc:
                state = getattr(exc, "sqlstate", None)
                cleaned = self.cleanup(s)
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
        fault(f"{which}:{idx}:committed")
        self._unit("done", which, [idx])

    def cleanup(self, s: FixStep) -> bool:
        """``on_retry`` steps (e.g. drop the INVALID index a failed concurrent build left); True if all ran."""
        ok = True
        for c in s.on_retry:
            started, t0 = now(), time.monotonic()
            try:
                self._session_timeouts(c.timeout_s)
                self.conn.execute(ops.compose_step(c))
                self._record(None, c, "cleanup", started, t0, ok=True)
            except psycopg.Error as exc:
                ok = False
                self._record(None, c, "cleanup", started, t0, ok=False, error=first_line(exc))
        return ok

    def backfill(self, idx: int, s: FixStep, which: str) -> None:
        started, t0 = now(), time.monotonic()
        self._unit("intent", which, [idx])
        fault(f"{which}:{idx}:before")
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
            if batches == 1:
                fault(f"{which}:{idx}:batch")
            if pause:
                time.sleep(pause)
        rec = self._record(idx, s, which, started, t0, ok=True, rows=total, attempts=1 + retries)
        rec["batches"], rec["upto"] = batches, upto
        self._unit("done", which, [idx])

    # ---- step lists ------------------------------------------------------------------
    def run(self, steps: list[FixStep], which: str, *, completed: list[int] | None = None,
            select: list[int] | None = None) -> None:
        """Run ``steps`` (or the ``select``ed indexes) in order; ``completed`` collects what committed."""
        order = select if select is not None else list(range(len(steps)))
        k = 0
        while k < len(order):
            i = order[k]
            s = steps[i]
            if s.kind == "check" and s.group is None:
                self.check(i, s, which)
                k += 1
            elif s.kind in ("checksum", "code") or (s.kind in ("probe", "verify") and s.group is None):
                k += 1
            elif s.kind == "backfill":
                self.backfill(i, s, which)
                if completed is not None:
                    completed.append(i)
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
                       and steps[order[k + 1]].kind not in ("checksum", "backfill", "code")):
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


def reverse_selection(reverse: list[FixStep], completed: set[int]) -> list[int]:
    return [i for i, r in enumerate(reverse)
            if all(x in completed for x in r.requires) and not any(x in completed for x in r.unless)]
