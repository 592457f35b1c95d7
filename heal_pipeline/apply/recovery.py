"""Crash recovery: settle every fix another heal process left ``running``, from its journal.

Called by every entry point that takes the fix lock (``heal_apply``, ``heal rollback``, the scan's
auto-apply), before anything else runs. For each row:

1. **Which units committed.** ``completed_steps`` (journaled after each commit) plus every ``commit``
   entry whose transaction id the target reports as committed (``pg_xact_status``) — the window between
   COMMIT and the journal write is closed this way.
2. **The unit in flight** (an ``intent`` without ``done``): its ``on_retry`` cleanup runs (the INVALID
   index a killed ``CREATE INDEX CONCURRENTLY`` leaves).
3. **Forward fix**: every forward unit committed → the change is in effect; the trailing checks re-run
   and the row becomes ``verified`` (it can be rolled back like any other); otherwise the reverse steps of
   what committed run (dropping sync triggers, helper columns, indexes) and the row becomes ``failed``.
4. **Rollback**: resumed — the reverse units that did not commit run, then the usual verification.
5. **Code set**: temp files removed, every file that holds heal's edit restored; ``failed``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import HealError, first_line
from ..plan import plan_from_dict, step_from_dict
from . import code as codefix
from . import history
from .runner import StepFailed, now


def committed_units(conn: psycopg.Connection, row: dict[str, Any], which: str) -> set[int]:
    # completed_steps tracks the row's own list ("steps" of a fix, "rollback" of a rollback row)
    done = set(row.get("completed_steps") or []) if which in ("steps", "rollback") else set()
    for e in row.get("journal") or []:
        if e.get("list") != which:
            continue
        if e.get("event") == "done":
            done.update(e.get("idxs") or [])
            continue
        if e.get("event") != "commit" or not e.get("xid"):
            continue
        try:
            status = conn.execute("SELECT pg_xact_status(%s::xid8)", (e["xid"],)).fetchone()[0]
        except psycopg.Error:
            status = None
        if status == "committed":
            done.update(e.get("idxs") or [])
    return done


def in_flight(row: dict[str, Any], which: str) -> list[int]:
    """Step indexes whose unit was started (intent) but never journaled done."""
    started: dict[tuple, list[int]] = {}
    for e in row.get("journal") or []:
        if e.get("list") != which:
            continue
        k = tuple(e.get("idxs") or [])
        if e.get("event") == "intent":
            started[k] = list(k)
        elif e.get("event") == "done":
            started.pop(k, None)
    return [i for k in started.values() for i in k]


def _forward_units(steps) -> set[int]:
    return {i for i, s in enumerate(steps) if s.kind not in ("check", "checksum", "code", "probe", "verify")
            or s.group is not None and s.kind != "check"}


def _trailing_checks(steps) -> list[int]:
    out: list[int] = []
    for i in range(len(steps) - 1, -1, -1):
        if steps[i].kind == "check" and steps[i].group is None:
            out.append(i)
        else:
            break
    return sorted(out)


def recover_interrupted(session) -> list[dict[str, Any]]:
    store, conn = session.store, session.conn
    assert store is not None and conn is not None
    out = []
    for target in {r["target_db"] for r in _all_running(store)}:
        if session.target_name is not None and target != session.target_name:
            continue  # a fleet shares one store: other targets recover in their own runs
        for row in history.running(store, target):
            if session.target_name is None and not _looks_like_this_target(session, plan_from_dict(row["plan"])):
                continue
            try:
                out.append(_recover_row(session, row))
            except (HealError, psycopg.Error, OSError, KeyError, ValueError) as exc:
                msg = str(exc) if not isinstance(exc, psycopg.Error) else first_line(exc)
                history.update(store, row["fix_id"], status="failed", finished_at=now(), recovered_at=now(),
                               error=f"interrupted; recovery could not complete: {msg} — manual attention needed")
                out.append({"fix_id": row["fix_id"], "status": "failed", "note": msg})
    return out


def _all_running(store) -> list[dict[str, Any]]:
    cur = store.execute("SELECT DISTINCT target_db FROM heal.fix_history WHERE status = 'running'")
    return [{"target_db": r[0]} for r in cur.fetchall()]


def _recover_row(session, row: dict[str, Any]) -> dict[str, Any]:
    store, conn = session.store, session.conn
    fix_id = row["fix_id"]
    note = "interrupted: the heal process died mid-fix"
    if row["rollback_of"] is not None:
        from .rollback import rollback

        res = rollback(session, row["rollback_of"], resume_row=row)
        history.update(store, fix_id, recovered_at=now(),
                       error=f"{note} (rollback resumed by run {session.run_id}); {res.reason or 'completed'}")
        return {"fix_id": fix_id, "status": res.status, "note": "rollback resumed"}
    plan = plan_from_dict(row["plan"])
    if row.get("code_backups") or plan.code_edits:
        notes = codefix.recover_set(row.get("journal") or [], row.get("code_backups"), plan.code_edits)
        history.update(store, fix_id, status="failed", finished_at=now(), recovered_at=now(),
                       error=f"{note} (code set; found by run {session.run_id}): "
                             + ("; ".join(notes) or "no file had been changed"))
        return {"fix_id": fix_id, "status": "failed", "note": notes}
    done = committed_units(conn, row, "steps")
    runner = session.runner(fix_id, "revert")
    for i in in_flight(row, "steps"):
        if i < len(plan.steps) and i not in done:
            runner.cleanup(plan.steps[i])
    units = _forward_units(plan.steps)
    if units and units <= done:
        try:
            runner.run(plan.steps, "recheck", select=_trailing_checks(plan.steps))
            history.update(store, fix_id, status="verified", finished_at=now(), recovered_at=now(),
                           completed_steps=sorted(done), steps=(row.get("steps") or []) + runner.records,
                           error=f"{note} after its last step committed; the change is in effect and its "
                                 f"checks passed on recovery (run {session.run_id})")
            return {"fix_id": fix_id, "status": "verified", "note": "in effect, re-checked"}
        except (StepFailed, psycopg.Error) as exc:
            reason = f"{note}; its checks failed on recovery: {exc}"
    else:
        reason = f"{note} before its change was complete"
    already = committed_units(conn, row, "revert")
    reverted = session.revert(runner, plan, done, already) if done else True
    reason += ("; cleaned up (the committed steps were reversed)" if done and reverted else
               "; nothing had committed" if not done else "; CLEANUP FAILED — manual attention needed")
    history.update(store, fix_id, status="failed", finished_at=now(), recovered_at=now(),
                   completed_steps=sorted(done), steps=(row.get("steps") or []) + runner.records,
                   error=f"{reason} (found by run {session.run_id})")
    return {"fix_id": fix_id, "status": "failed", "note": reason}


def _looks_like_this_target(session, plan) -> bool:
    """A fleet shares one store: recover only fixes whose tables are in the database we hold the lock on."""
    conn = session.conn
    for t in plan.tables or []:
        schema, _, table = t.partition(".")
        if not table:
            continue
        found = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
                             (schema,)).fetchone()[0]
        if not found:
            return False
    return True


__all__ = ["recover_interrupted", "committed_units", "in_flight", "step_from_dict"]
