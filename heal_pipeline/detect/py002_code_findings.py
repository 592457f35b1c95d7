"""unsafe_sql, query_in_loop, unparsed_sql: code-side findings that are issues as found."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register


class _FromFindings(Check):
    needs = ("code",)
    finding_kind: str = ""

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        if ctx.code is None:
            ctx.not_checked(self.issue_type, "code not scanned")
            return
        seen: set[tuple[str, int]] = set()
        for f in ctx.code.findings:
            if f.kind != self.finding_kind or (f.file, f.line) in seen:
                continue
            seen.add((f.file, f.line))
            ev = {k: v for k, v in f.evidence.items()}
            ev.setdefault("col", f.col)
            if f.function:
                ev.setdefault("function", f.function)
            yield ctx.issue(self.issue_type, self.severity, f"{f.file}:{f.line}: {f.detail}",
                            file=f.file, line=f.line, evidence=ev)


@register
class UnsafeSql(_FromFindings):
    """SQL text composed from runtime values instead of bound parameters — an injection risk.

    f-strings, ``%``-formatting, ``.format()`` or ``+`` that put a runtime value into the SQL text.
    Holes that resolve to constant strings, and ``psycopg.sql`` composition, are not reported.

    Anti-pattern::

        await conn.fetch(f"SELECT * FROM users WHERE email = '{email}'")

    Best practice::

        await conn.fetch("SELECT * FROM users WHERE email = $1", email)
    """

    issue_type = "unsafe_sql"
    code = "PY002"
    name = "code.unsafe_sql"
    severity = "critical"
    finding_kind = "unsafe_sql"


@register
class QueryInLoop(_FromFindings):
    """A query executed once per row of another query (the N+1 pattern).

    Each iteration is a round trip; 1,000 rows make 1,001 queries.

    Anti-pattern::

        for row in await conn.fetch("SELECT id FROM orders"):
            await conn.fetchrow("SELECT * FROM users WHERE id = $1", row["user_id"])

    Best practice::

        await conn.fetch("SELECT … FROM orders o JOIN users u ON u.id = o.user_id")
    """

    issue_type = "query_in_loop"
    code = "PY003"
    name = "code.query_in_loop"
    severity = "warning"
    finding_kind = "query_in_loop"


@register
class UnparsedSql(_FromFindings):
    """SQL in the code that the PostgreSQL parser rejects.

    It fails at run time every time it runs (or it is not SQL heal can check): either way it is
    reported with the parser's message instead of being silently skipped.

    Anti-pattern::

        await conn.execute("SELEC id FROM users")

    Best practice::

        await conn.execute("SELECT id FROM users")
    """

    issue_type = "unparsed_sql"
    code = "PY004"
    name = "code.unparsed_sql"
    severity = "info"
    finding_kind = "unparsed_sql"
