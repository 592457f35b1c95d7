"""Roll a fix back: its reverse steps (rebuilt from ``op``/``args``), journaled and resumable, never
overwriting a write heal did not make.

Reverse steps restore values only on rows that still hold what heal put there; ``probe`` steps in the
reverse list (``conflict_keys``) report the rows the application changed after the fix — those are kept
and listed, and the rollback's status is ``rolled_back_with_conflicts``. A rollback of a schema fix whose
change set also edited code first restores those files (newest first), so the code never runs against a
schema it was not written for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from ..errors import HealError, first_line
from ..plan import ops, plan_from_dict, step_from_dict
from . import code as codefix
from . import history
from .runner import StepFailed, fault, now, reverse_selection


def _conflicts(runner) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    for desc, value in runner.probes.items():
        if value:
            keys = list(value) if isinstance(value, (list, tuple)) else [value]
            found[desc] = {"count": len(keys), "keys": [str(k) for k in keys[:100]]}
    return found or None


def rollback(session, fix_id: int, *, resume_row: dict[str, Any] | None = None) -> Any:
    """Roll back ``fix_id`` (or, with ``resume_row``, finish an interrupted rollback row)."""
    from .executor import FixResult, ROLLED_BACK

    store, conn = session.store, session.conn
    assert store is not None
    row = history.load(store, fix_id)
    if row is None:
        raise HealError(f"no fix {fix_id} in heal.fix_history")
    base = FixResult(row["fingerprint"], row["issue_type"], row["target_db"], "skipped", tier=row["tier"],
                     rollback_of=fix_id)
    base.started_at = base.finished_at = now().isoformat()
    if resume_row is None:
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
        if not session.locked:
            base.reason = "another heal run holds the fix lock"
            return base
        # code edits of the same change set that depend on this schema fix go back first
        for member in history.set_members(store, row["target_db"], row["change_set"] or [], fix_id):
            if member["code_backups"]:
                sub = rollback(session, member["fix_id"])
                if sub.status not in ROLLED_BACK:
                    base.status = "failed"
                    base.reason = (f"the code fix {member['fix_id']} of the same change set could not be rolled "
                                   f"back first: {sub.reason}")
                    return base
    plan = plan_from_dict(row["plan"])
    started = now()
    t0 = time.monotonic()
    done: set[int] = set()
    if resume_row is not None:
        rid = resume_row["fix_id"]
        from .recovery import committed_units

        done = committed_units(conn, resume_row, "rollback")
    else:
        rid = store.execute(
            """INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, run_id, tier, status, summary,
                                              approved, rollback_of, started_at, plan, reverse, change_set)
               VALUES (%s, %s, %s, %s, %s, 'running', %s, true, %s, %s, %s, '[]', %s)
               RETURNING fix_id""",
            (row["fingerprint"], row["issue_type"], row["target_db"], session.run_id, row["tier"],
             f"rollback of fix {fix_id}: {row['summary']}", fix_id, started,
             history._j(row["plan"]), row["change_set"])).fetchone()[0]
    res = FixResult(row["fingerprint"], row["issue_type"], row["target_db"], "failed", tier=row["tier"],
                    fix_id=rid, rollback_of=fix_id, started_at=started.isoformat(),
                    backup_ref=row["backup_ref"], change_set=list(row["change_set"] or []))
    fields: dict[str, Any] = {}
    if row["code_backups"]:
        records = []
        for path, _original in row["code_backups"].items():
            edit = next((e for e in plan.code_edits if e["path"] == path), None)
            p = Path(path)
            current = p.read_text(encoding="utf-8") if p.is_file() else None
            if edit is not None and current is not None and codefix.sha(current) not in (
                    codefix.sha(edit["after"]), codefix.sha(_original)):
                res.reason = f"{path} changed since fix {fix_id}: not overwritten"
                break
            records.append({"description": f"restore {path}", "kind": "code", "ok": True})
        else:
            todo = [{"path": p, "after": t, "file": p} for p, t in row["code_backups"].items()
                    if not Path(p).is_file() or Path(p).read_text(encoding="utf-8") != t]
            try:
                codefix.write_set(todo, f"rb{rid}", session.journal_for(rid, None), fault)
                res.status = "rolled_back"
            except OSError as exc:
                res.reason = f"restore failed: {exc}"
        res.steps = records
    else:
        runner = session.runner(rid, "rollback")
        reverse = [step_from_dict(r) for r in row["reverse"] or []]
        if resume_row is not None:
            from .recovery import in_flight

            for i in in_flight(resume_row, "rollback"):
                if i < len(reverse) and i not in done:
                    runner.cleanup(reverse[i])  # e.g. the INVALID index a killed concurrent build left
        sel = [i for i in reverse_selection(reverse, set(row["completed_steps"] or [])) if i not in done]
        if done:  # resuming: the standalone checks before the last unit that committed already passed
            sel = [i for i in sel if not (reverse[i].kind == "check" and reverse[i].group is None
                                          and i < max(done))]
        try:
            from ..plan.lint import lint_steps, pg_version_arg

            for s in reverse:  # lint what will run: rebuilt from op/args, never the stored text
                s.sql = ops.compose_step(s).as_string(conn) if s.op else ""
            bad = [f for f in lint_steps([reverse[i] for i in sel], "reverse",
                                         pg_version_arg(session._server_version_num()), session.policy.lock_timeout_s,
                                         session.policy.statement_timeout_s) if not f["allowed"]]
            if bad:
                raise StepFailed(f"blocked: squawk {bad[0]['rule']} on a reverse step: {bad[0]['message']}")
            fault("rollback:start")
            runner.run(reverse, "rollback", select=sel)
            snap = session._snapshot(row["target_db"])
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
            res.conflicts = _conflicts(runner)
            res.status = "rolled_back_with_conflicts" if res.conflicts else "rolled_back"
            notes = []
            if res.conflicts:
                n = sum(c["count"] for c in res.conflicts.values())
                notes.append(f"{n} row(s) the application changed after the fix were kept, not overwritten "
                             f"(keys in conflicts)")
            if not res.schema_restored:
                notes.append("the schema differs from its state before the fix (other changes since, a column "
                             "order that moved, or a fix with no structural reverse)")
            res.reason = "; ".join(notes) or None
        except (StepFailed, HealError, psycopg.Error) as exc:
            res.reason = str(exc) if not isinstance(exc, psycopg.Error) else first_line(exc)
        res.steps = runner.records
    res.finished_at = now().isoformat()
    res.seconds = round(time.monotonic() - t0, 3)
    history.update(store, rid, status=res.status, steps=res.steps, error=res.reason, finished_at=now(),
                   checksum_before=res.checksum_before, checksum_after=res.checksum_after,
                   conflicts=res.conflicts, **fields)
    if res.status in ROLLED_BACK:
        history.update(store, fix_id, rolled_back_by=rid)
    return res
