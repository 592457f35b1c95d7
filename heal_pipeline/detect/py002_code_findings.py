"""unsafe_sql, query_in_loop, unparsed_sql: code-side findings that are issues as found."""

from __future__ import annotations

import re
from typing import Iterable

from ..model import CodeFinding, Issue
from .base import Check, DetectContext, register

HOLE = re.compile(r"_heal_hole_(\d+)")  # the scanner's placeholder for the N-th runtime value
#: a composed value that is an identifier already quoted by the driver: quote_ident(x, conn),
#: conn.quote_ident(x), Escaping(conn).escape_identifier(x), psycopg.sql.Identifier(x).as_string(conn)
QUOTED_IDENT = re.compile(
    r"^\s*(?:[\w.]+\.)?(?:quote_ident|escape_identifier)\s*\("
    r"|^\s*(?:[\w.]+\.)?Identifier\s*\(.*\)\s*\.\s*as_string\s*\(", re.S)


def _literal_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of the single-quoted string literals of a SQL text ('' is an escaped quote)."""
    spans, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                if text[j] == "'":
                    break
                j += 1
            spans.append((i, j))
            i = j + 1
        else:
            i += 1
    return spans


def hole_positions(rendered: str, count: int) -> list[str]:
    """Per runtime value (1-based placeholder order): ``identifier`` when its placeholder stands bare
    where a name goes, ``value`` inside a string literal (where the scanner puts values), ``unknown``
    when the renderer dropped it."""
    spans = _literal_spans(rendered)
    out = ["unknown"] * count
    for m in HOLE.finditer(rendered):
        k = int(m.group(1)) - 1
        if 0 <= k < count and out[k] == "unknown":
            inside = any(a < m.start() < b for a, b in spans)
            out[k] = "value" if inside else "identifier"
    return out


def judge_unsafe(f: CodeFinding) -> tuple[bool, str, dict]:
    """(unsafe?, detail, evidence additions) for one unsafe_sql finding of the scanner.

    Not unsafe: every runtime value is an identifier already quoted by the driver (``quote_ident()``,
    ``sql.Identifier(...).as_string()``) and stands where a name goes. The advice follows the
    position: a name → ``psycopg.sql.Identifier`` (a name cannot be a bound parameter), a value →
    bound parameters."""
    ev = f.evidence or {}
    values = ev.get("values")
    rendered = ev.get("sql")
    if not isinstance(values, list) or not values or not isinstance(rendered, str):
        return True, f.detail, {}  # not the Python scanner's shape (e.g. JS): as found
    pos = hole_positions(rendered, len(values))
    quoted = [bool(QUOTED_IDENT.search(str(v))) for v in values]
    if all(q and p == "identifier" for q, p in zip(quoted, pos)):
        return False, f.detail, {}
    idents = [v for v, q, p in zip(values, quoted, pos) if p == "identifier" and not q]
    plain = [v for v, p in zip(values, pos) if p == "value"]
    other = [v for v, p in zip(values, pos) if p == "unknown"]

    def names(vs: list) -> str:
        return ", ".join(f"`{v}`" for v in vs[:5])

    advice = []
    if idents:
        advice.append(f"compose {names(idents)} with psycopg.sql.Identifier "
                      "(a table or column name is not a value a query parameter can carry)")
    if plain:
        advice.append(f"pass {names(plain)} as bound parameters")
    if other:
        advice.append(f"compose {names(other)} with psycopg.sql (sql.SQL from a fixed set of keywords)")
    how = ev.get("reason") or "composed from runtime values"
    detail = (f"SQL text of {ev.get('call') or 'the call'}() is {how}: "
              + ", ".join(f"`{v}`" for v in values[:5]) + "; " + " and ".join(advice))
    return True, detail, {"positions": pos, "quoted_identifiers": [v for v, q in zip(values, quoted) if q],
                          "advice": [k for k, vs in (("identifier", idents), ("parameter", plain), ("composition", other)) if vs]}


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
            keep, detail, extra = self.judge(f)
            if not keep:
                continue
            seen.add((f.file, f.line))
            ev = {k: v for k, v in f.evidence.items()}
            ev.update(extra)
            ev.setdefault("col", f.col)
            if f.function:
                ev.setdefault("function", f.function)
            yield ctx.issue(self.issue_type, self.severity, f"{f.file}:{f.line}: {detail}",
                            file=f.file, line=f.line, evidence=ev)

    def judge(self, f: CodeFinding) -> tuple[bool, str, dict]:
        return True, f.detail, {}


@register
class UnsafeSql(_FromFindings):
    """SQL text composed from runtime values instead of bound parameters — an injection risk.

    f-strings, ``%``-formatting, ``.format()`` or ``+`` that put a runtime value into the SQL text.
    Holes that resolve to constant strings, and ``psycopg.sql`` composition, are not reported; nor
    are identifiers the driver already quoted (``quote_ident(t, conn)``,
    ``sql.Identifier(t).as_string(conn)``) standing where a name goes. The advice follows the
    position: a value → bound parameters; a table/column name → ``psycopg.sql.Identifier``.

    Anti-pattern::

        await conn.fetch(f"SELECT * FROM users WHERE email = '{email}'")
        cur.execute(f"SELECT count(*) FROM {table}")

    Best practice::

        await conn.fetch("SELECT * FROM users WHERE email = $1", email)
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    """

    issue_type = "unsafe_sql"
    code = "PY002"
    name = "code.unsafe_sql"
    severity = "critical"
    finding_kind = "unsafe_sql"

    def judge(self, f: CodeFinding) -> tuple[bool, str, dict]:
        return judge_unsafe(f)


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
