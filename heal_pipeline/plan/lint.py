"""squawk lints every DDL statement heal would run, before it may run.

Each execution unit is linted as it will execute:

* a transactional group: ``BEGIN; SET LOCAL lock_timeout …; SET LOCAL statement_timeout …; <stmts>; COMMIT;``
* an autocommit step (``CONCURRENTLY``): ``SET lock_timeout …; SET statement_timeout …; <stmt>;``

``--pg-version`` comes from the snapshot. Findings for a rule in the step's ``lint_allow`` are kept
(``allowed: true``) but do not block; any other finding blocks the plan (``FixPlan.blocked``).

Globally excluded rules (``EXCLUDE``), and why:

* ``prefer-robust-stmts`` — wants ``IF NOT EXISTS`` everywhere. heal checks names and state explicitly
  (check steps before and after each statement); ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` would
  silently accept an INVALID leftover of the same name, which is exactly what must not happen.
* ``prefer-bigint-over-int``, ``prefer-bigint-over-smallint``, ``prefer-identity``,
  ``prefer-timestamptz``, ``ban-char-field``, ``prefer-text-field`` — schema-design advice. heal
  reproduces the type the application declared (migration, parent key) and does not redesign it.
* ``require-timeout-settings`` — deprecated duplicate of the two timeout rules, which stay on.

Per-step exceptions (``FixStep.lint_allow``) are documented where they are set: ``changing-column-type``
on the small-table type change, renames/drops of the expand/contract swap, ``ban-set-schema`` for
archiving, drops in reverse steps of objects heal itself created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from ..errors import HealError
from ..model import FixPlan, FixStep

EXCLUDE = ("prefer-robust-stmts", "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
           "prefer-timestamptz", "ban-char-field", "prefer-text-field", "require-timeout-settings")
LINTED_KINDS = ("ddl", "dml", "backfill", "backup")


def squawk_binary() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "squawk")
    if os.path.exists(here):
        return here
    found = shutil.which("squawk")
    if not found:
        raise HealError("squawk not found (pip install squawk-cli): generated DDL cannot be linted")
    return found


def pg_version_arg(server_version_num: int) -> str:
    n = int(server_version_num)
    if n >= 100000:
        return f"{n // 10000}.{n % 100}"
    return f"{n // 10000}.{n // 100 % 100}"


def run_squawk(text: str, pg_version: str, *, name: str = "heal-fix.sql") -> list[dict[str, Any]]:
    cmd = [squawk_binary(), "--reporter", "json", "--stdin-filepath", name, f"--pg-version={pg_version}",
           "--exclude=" + ",".join(EXCLUDE)]
    with tempfile.TemporaryDirectory() as cwd:  # no stray .squawk.toml is picked up
        p = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=60, cwd=cwd)
    if p.returncode not in (0, 1):
        raise HealError(f"squawk failed (rc={p.returncode}): {p.stderr.strip()[:200]}")
    try:
        return json.loads(p.stdout or "[]")
    except json.JSONDecodeError:
        raise HealError(f"squawk output unreadable: {p.stderr.strip()[:200] or p.stdout[:200]}") from None


def _text(s: FixStep) -> str:
    # bound parameters of batched steps (%(after)s) read as $1 for the parser
    return s.sql.replace("\n", " ").replace("%(after)s", "$1").replace("%(bound)s", "$2").replace("%(upto)s", "$3") + ";"


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def units(steps: list[FixStep], lock_timeout_s: float, statement_timeout_s: float):
    """(step indexes, SQL text, first statement line) for each execution unit of a step list."""
    i = 0
    out = []
    while i < len(steps):
        s = steps[i]
        if s.kind not in LINTED_KINDS or not s.sql:
            i += 1
            continue
        if s.transactional:
            j = i
            group = [i]
            while (s.group is not None and j + 1 < len(steps) and steps[j + 1].group == s.group
                   and steps[j + 1].transactional and steps[j + 1].kind in LINTED_KINDS):
                j += 1
                group.append(j)
            timeout = max(steps[k].timeout_s or statement_timeout_s for k in group)
            head = ["BEGIN;", f"SET LOCAL lock_timeout = '{_ms(lock_timeout_s)}';",
                    f"SET LOCAL statement_timeout = '{_ms(timeout)}';"]
            body = [_text(steps[k]) for k in group]
            out.append((group, "\n".join(head + body + ["COMMIT;"]) + "\n", len(head)))
            i = j + 1
        else:
            head = [f"SET lock_timeout = '{_ms(lock_timeout_s)}';",
                    f"SET statement_timeout = '{_ms(s.timeout_s or statement_timeout_s)}';"]
            out.append(([i], "\n".join(head + [_text(s)]) + "\n", len(head)))
            i += 1
    return out


def _finding(f: dict[str, Any], which: str, steps: list[FixStep], idxs: list[int], first: int) -> dict[str, Any]:
    line = int(f.get("line", 0))
    k = line - first
    step_index = idxs[k] if 0 <= k < len(idxs) else idxs[0]
    rule = f.get("rule_name")
    return {"list": which, "step": step_index, "rule": rule, "level": f.get("level"),
            "message": f.get("message"), "help": f.get("help"), "line": line + 1,
            "allowed": rule in steps[step_index].lint_allow, "statement": steps[step_index].sql[:300]}


def lint_steps(steps: list[FixStep], which: str, pg_version: str, lock_timeout_s: float,
               statement_timeout_s: float) -> list[dict[str, Any]]:
    findings = []
    for idxs, text, first in units(steps, lock_timeout_s, statement_timeout_s):
        for f in run_squawk(text, pg_version):
            findings.append(_finding(f, which, steps, idxs, first))
    return findings


def run_squawk_files(texts: list[str], pg_version: str) -> list[list[dict[str, Any]]]:
    """Lint many execution units in ONE squawk process: one file per unit, so each unit is linted
    exactly as alone (squawk lints files independently); findings come back per unit, in order."""
    if not texts:
        return []
    out: list[list[dict[str, Any]]] = [[] for _ in texts]
    with tempfile.TemporaryDirectory() as cwd:  # also: no stray .squawk.toml is picked up
        names = [f"u{i:06d}.sql" for i in range(len(texts))]
        for name, text in zip(names, texts):
            with open(os.path.join(cwd, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        cmd = [squawk_binary(), "--reporter", "json", f"--pg-version={pg_version}",
               "--exclude=" + ",".join(EXCLUDE), *names]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)
    if p.returncode not in (0, 1):
        raise HealError(f"squawk failed (rc={p.returncode}): {p.stderr.strip()[:200]}")
    try:
        found = json.loads(p.stdout or "[]")
    except json.JSONDecodeError:
        raise HealError(f"squawk output unreadable: {p.stderr.strip()[:200] or p.stdout[:200]}") from None
    index = {name: i for i, name in enumerate(names)}
    for f in found:
        i = index.get(os.path.basename(str(f.get("file", ""))))
        if i is None:
            raise HealError(f"squawk reported an unknown file {f.get('file')!r}: cannot map its finding")
        out[i].append(f)
    return out


def _block(plan: FixPlan, findings: list[dict[str, Any]]) -> None:
    plan.lint = findings
    bad = [f for f in findings if not f["allowed"]]
    if bad and not plan.blocked:
        f = bad[0]
        plan.blocked = (f"squawk {f['rule']} on {f['list']} step {f['step']}: {f['message']}"
                        + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""))


LISTS = (("steps", "steps"), ("backup", "backup_steps"), ("reverse", "reverse"))


def lint_plan(plan: FixPlan, server_version_num: int, *, lock_timeout_s: float = 2.0,
              statement_timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Lint steps, backup steps and reverse steps; block the plan on any finding not allowed."""
    lint_plans([plan], server_version_num, lock_timeout_s=lock_timeout_s,
               statement_timeout_s=statement_timeout_s)
    return plan.lint


def lint_plans(plans: list[FixPlan], server_version_num: int, *, lock_timeout_s: float = 2.0,
               statement_timeout_s: float = 300.0) -> None:
    """:func:`lint_plan` for many plans with one squawk process for all their execution units.

    Same findings, same ``blocked`` as linting each plan alone: each unit is its own file. A squawk
    failure raises :class:`HealError` (the caller blocks every plan it was linting)."""
    pg = pg_version_arg(server_version_num)
    jobs: list[tuple[int, str, list[FixStep], list[int], int]] = []
    texts: list[str] = []
    for n, plan in enumerate(plans):
        for which, attr in LISTS:
            steps = getattr(plan, attr)
            for idxs, text, first in units(steps, lock_timeout_s, statement_timeout_s):
                jobs.append((n, which, steps, idxs, first))
                texts.append(text)
    per_plan: list[list[dict[str, Any]]] = [[] for _ in plans]
    for (n, which, steps, idxs, first), found in zip(jobs, run_squawk_files(texts, pg)):
        per_plan[n].extend(_finding(f, which, steps, idxs, first) for f in found)
    for plan, findings in zip(plans, per_plan):
        _block(plan, findings)


