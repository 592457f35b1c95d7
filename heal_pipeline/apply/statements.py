"""The application's statements as the verification of a schema change (server-side, never executed).

:class:`StatementGuard` is the ``verifier`` of a fix's :class:`~heal_pipeline.apply.runner.Runner`. When it
is built (before the change) it asks the server which of the application's statements that touch the
plan's tables are valid today (:func:`heal_pipeline.verify.verify_statements`). Inside the fix transaction,
after the DDL and before COMMIT, a ``verify`` step calls it again on the uncommitted schema
(:func:`heal_pipeline.verify.verify_in_transaction`). Every statement that was accepted before and is
rejected now is a problem, unless its file is rewritten by a code edit of the same change set — then the
*edited* file's statements are the ones checked, and they must all be accepted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import psycopg


def _plan_tables(plan) -> set[tuple[str, str]]:
    out = set()
    for t in plan.tables or []:
        schema, _, table = t.partition(".")
        if table:
            out.add((schema, table))
    return out


def _rescan(edits: dict[str, str], statements: list) -> tuple[set[str], list]:
    """Statements of the edited files in their new form: (relative files replaced, new statements)."""
    from ..codescan.scanner import scan

    replaced: set[str] = set()
    if not edits:
        return replaced, []
    rel_of: dict[str, str] = {}
    files = {s.file for s in statements}
    for path in edits:
        posix = Path(path).as_posix()
        for f in files:
            if posix == f or posix.endswith("/" + f):
                rel_of[path] = f
    if not rel_of:
        return replaced, []
    with tempfile.TemporaryDirectory(prefix="heal-edits-") as tmp:
        for path, rel in rel_of.items():
            dest = Path(tmp) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(edits[path], encoding="utf-8")
            replaced.add(rel)
        new = scan([tmp]).statements
    return replaced, new


class StatementGuard:
    """``guard(conn, tables) -> problems``; ``guard.report()`` for the audit row."""

    def __init__(self, session, plan):
        from ..verify import statements_touching, verify_statements

        self.tables = _plan_tables(plan)
        all_statements = list(session.statements)
        self.relevant = list(statements_touching(all_statements, self.tables)) if self.tables else []
        replaced, edited = _rescan(dict(session.pending_edits), self.relevant)
        self.kept = [s for s in self.relevant if s.file not in replaced]
        self.edited = list(statements_touching(edited, self.tables)) if self.tables else list(edited)
        self.replaced = replaced
        self.before = verify_statements(session.conn, self.relevant) if self.relevant else []
        self.before_ok = {c.statement_id for c in self.before if c.status == "ok"}
        self.after: list = []

    def __call__(self, conn: psycopg.Connection, tables: list[tuple[str, str]]) -> list[dict[str, Any]]:
        from ..verify import verify_in_transaction

        todo = self.kept + self.edited
        if not todo:
            return []
        self.after = verify_in_transaction(conn, todo)
        problems = []
        edited_ids = {s.statement_id for s in self.edited}
        for c in self.after:
            if c.status != "rejected":
                continue
            if c.statement_id in self.before_ok or c.statement_id in edited_ids:
                problems.append({"file": c.file, "line": c.line, "col": c.col, "sqlstate": c.sqlstate,
                                 "message": c.message, "sql": (c.sql or "")[:300],
                                 "edited": c.statement_id in edited_ids})
        return problems

    def report(self) -> dict[str, Any]:
        def counts(checks) -> dict[str, int]:
            out: dict[str, int] = {}
            for c in checks:
                out[c.status] = out.get(c.status, 0) + 1
            return out

        return {"tables": sorted(".".join(t) for t in self.tables), "statements": len(self.relevant),
                "before": counts(self.before), "after": counts(self.after),
                "edited_files": sorted(self.replaced)}
