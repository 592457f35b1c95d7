"""Change sets: a schema fix and every code edit that depends on it are one unit.

* **Sets** are the connected components of ``depends_on`` among the plans (a cast fix depends on the type
  fix that makes the cast unnecessary). Approving any member approves the whole set (:func:`expand_approval`),
  and the result of every member says which set it belonged to.
* **Order**: sets by their most severe member (critical first), then inside a set topologically over
  ``depends_on`` (the schema fix before the casts it makes wrong), ties by severity, then fingerprint.
* **Verification**: while the schema fix runs, the application's statements touching its tables are
  checked by the server on the new schema inside the fix transaction; the statements of files the set's
  code edits rewrite are checked in their *edited* form (so the type fix passes exactly when its cast
  fixes land with it).
* **All or nothing**: if a code edit of the set fails after the schema fix committed, the schema fix is
  rolled back (without overwriting application writes) and every member is reported ``failed``.
"""

from __future__ import annotations

from typing import Any, Callable

from pathlib import Path

from ..model import FixPlan
from . import code as codefix
from .policy import Policy

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def _severity(p: FixPlan) -> int:
    return SEVERITY_RANK.get((p.issue or {}).get("severity") or "info", 3)


def change_sets(plans: list[FixPlan]) -> list[list[FixPlan]]:
    """Connected components over ``depends_on``; each ordered topologically (dependencies first)."""
    by_fp = {p.fingerprint: p for p in plans}
    parent = {p.fingerprint: p.fingerprint for p in plans}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in plans:
        for d in p.depends_on:
            if d in by_fp:
                parent[find(p.fingerprint)] = find(d)
    groups: dict[str, list[FixPlan]] = {}
    for p in plans:
        groups.setdefault(find(p.fingerprint), []).append(p)
    out = []
    for members in groups.values():
        out.append(_topological(members))
    out.sort(key=lambda m: (min(_severity(p) for p in m), m[0].fingerprint))
    return out


def _topological(members: list[FixPlan]) -> list[FixPlan]:
    fps = {p.fingerprint for p in members}
    pending = sorted(members, key=lambda p: (_severity(p), p.fingerprint))
    done: list[FixPlan] = []
    placed: set[str] = set()
    while pending:
        for p in pending:
            if all(d in placed or d not in fps for d in p.depends_on):
                done.append(p)
                placed.add(p.fingerprint)
                pending.remove(p)
                break
        else:  # a cycle (should not happen): keep the rest in severity order
            done.extend(pending)
            break
    return done


def expand_approval(plans: list[FixPlan], approved: set[str]) -> set[str]:
    """Approving any member of a change set approves all of it."""
    out = set(approved)
    for members in change_sets(plans):
        if any(p.fingerprint in approved for p in members):
            out |= {p.fingerprint for p in members}
    return out


def _merged_edits(members: list[FixPlan]) -> tuple[dict[str, str], dict[str, str]]:
    originals: dict[str, str] = {}
    merged: dict[str, str] = {}
    for p in members:
        for e in p.code_edits:
            path = e["path"]
            if path not in originals:
                text = Path(path).read_text(encoding="utf-8")
                if codefix.sha(text) != e["sha256_before"]:
                    raise ValueError(f"{e.get('file') or path} changed since the plan was made")
                originals[path] = merged[path] = text
            merged[path] = codefix.merge3(originals[path], merged[path], e["after"])
    return originals, merged


def _rebase(plan: FixPlan, originals: dict[str, str]) -> None:
    """Re-aim a member's edits at the current file (earlier members of the set may have edited it)."""
    for e in plan.code_edits:
        current = Path(e["path"]).read_text(encoding="utf-8")
        if codefix.sha(current) == e["sha256_before"]:
            continue
        e["after"] = codefix.merge3(originals[e["path"]], current, e["after"])
        e["sha256_before"] = codefix.sha(current)


def apply_change_sets(plans: list[FixPlan], target_dsn: str, store_dsn: str | None, policy: Policy,
                      run_id: str | None, *, approve: set[str] | bool = False,
                      redetect: Callable[[FixPlan], Any] | None = None, lock_wait_s: float | None = None,
                      statements: list | None = None, target_name: str | None = None) -> list:
    from .executor import FixSession, _skipped

    if isinstance(approve, bool):
        approved_fps = {p.fingerprint for p in plans} if approve else set()
    else:
        approved_fps = expand_approval(plans, set(approve))
    results: dict[int, Any] = {}
    sets = change_sets(plans)

    def gate(p: FixPlan) -> str | None:
        return policy.gate(p, approve=p.fingerprint in approved_fps)

    runnable = [m for m in sets if any(gate(p) is None for p in m)]
    for m in sets:
        for p in m:
            if gate(p) is not None:
                results[id(p)] = _skipped(p, gate(p) or "")
    if runnable:
        with FixSession(target_dsn, store_dsn, policy, run_id=run_id, lock_wait_s=lock_wait_s,
                        statements=statements, target_name=target_name) as s:
            for members in runnable:
                _apply_set(s, members, approved_fps, redetect, results)
    return [results[id(p)] for p in plans]


def _apply_set(session, members: list[FixPlan], approved: set[str], redetect, results: dict[int, Any]) -> None:
    from .executor import _skipped

    fps = [p.fingerprint for p in members]
    label = fps if len(members) > 1 else None
    # a blocked leaf (nothing in the set depends on it, e.g. a helper removal waiting for its callers)
    # is reported and left out; a blocked member others depend on blocks the set
    needed = {d for p in members for d in p.depends_on}
    for p in list(members):
        why = session.policy.gate(p, approve=p.fingerprint in approved)
        if why and p.fingerprint not in needed and len(members) > 1:
            results[id(p)] = _skipped(p, why)
            results[id(p)].change_set = fps
            members = [m for m in members if m is not p]
    blocked = [p for p in members if session.policy.gate(p, approve=p.fingerprint in approved)]
    if blocked and len(members) > 1:
        why = session.policy.gate(blocked[0], approve=blocked[0].fingerprint in approved)
        for p in members:
            results[id(p)] = results.get(id(p)) or _skipped(
                p, f"change set {fps}: member {blocked[0].fingerprint} cannot be applied ({why})")
            results[id(p)].change_set = fps
        return
    # the code edits of the set, merged per file (each was planned against the original file): the schema
    # fix's statement check reads these files in their new form, and each code member is rebased on the
    # file as the members before it left it
    try:
        originals, merged = _merged_edits(members)
    except (codefix.MergeConflict, OSError, ValueError) as exc:
        for p in members:
            results[id(p)] = _skipped(p, f"change set {fps}: its code edits cannot be combined: {exc} (re-plan)")
            results[id(p)].change_set = fps
        return
    session.pending_edits = merged
    applied = []
    try:
        for p in members:
            if p.code_edits:
                try:
                    _rebase(p, originals)
                except codefix.MergeConflict as exc:
                    results[id(p)] = _skipped(p, f"its edit conflicts with an earlier member's: {exc} (re-plan)")
                    break
            r = session.apply(p, approve=p.fingerprint in approved,
                              redetect=redetect(p) if redetect else None, change_set=label)
            r.change_set = fps if label else []
            results[id(p)] = r
            if r.status != "verified":
                break
            applied.append(r)
    finally:
        session.pending_edits = {}
    failed = [results[id(p)] for p in members if id(p) in results and results[id(p)].status != "verified"]
    if not failed or len(members) == 1:
        return
    # all or nothing: undo what verified (newest first), and say why on every member
    cause = f"{failed[0].fingerprint}: {failed[0].status}: {failed[0].reason}"
    for r in reversed(applied):
        rb = session.rollback(r.fix_id)
        r.status = "failed"
        r.reason = (f"change set member {cause}; this fix was rolled back ({rb.status}"
                    + (f": {rb.reason}" if rb.reason else "") + ")")
    for p in members:
        if id(p) not in results:
            results[id(p)] = _skipped(p, f"change set member {cause}")
            results[id(p)].change_set = fps
