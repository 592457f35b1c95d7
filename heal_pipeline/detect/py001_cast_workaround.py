"""cast_workaround: code casts that exist because of a real type mismatch."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register
from .coderefs import resolver


@register
class CastWorkaround(Check):
    """Code that casts to paper over a type mismatch between two related columns.

    The scanner reports every cast candidate (SQL casts in predicates and assignments, Python
    ``str()``/``int()``/``uuid.UUID()`` around bound arguments, helper functions that only cast an
    id and their call sites); this check keeps those bound to a column of a real ``type_mismatch``
    and links each to that mismatch's fingerprint. Casts that bridge no mismatch
    (``created_at::date``, ``int(limit)``) are not reported, nor casts against a mismatch that needs
    none (``text`` vs ``varchar(n)``), nor a cast of a value generated on the spot
    (``str(uuid.uuid4())``: value generation, not a workaround — the scanner drops it). The fix removes the cast with a LibCST
    codemod, after the schema fix it depends on has verified.

    Anti-pattern::

        await conn.fetch("SELECT … FROM sessions WHERE user_id = $1", str(user_id))

    Best practice::

        await conn.fetch("SELECT … FROM sessions WHERE user_id = $1", user_id)  # once the types match
    """

    issue_type = "cast_workaround"
    code = "PY001"
    name = "code.cast_workaround"
    severity = "warning"
    fixable = True
    needs = ("code",)

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        if ctx.code is None:
            ctx.not_checked("cast_workaround", "code not scanned")
            return
        from . import issues_of  # the type_mismatch issues of this run (memoised)

        mismatches = issues_of(ctx, "type_mismatch")
        cols: dict[tuple[str, str, str], Issue] = {}
        for m in mismatches:
            if m.evidence.get("cast_free"):
                continue  # text vs varchar(n): nothing to work around, no cast is needed
            cols[(m.schema_name, m.table_name, m.column_name)] = m
            p = m.evidence.get("parent") or {}
            cols[(p.get("schema"), p.get("table"), p.get("column"))] = m
        if not cols:
            return
        r = resolver(ctx)

        def resolve(schema, table, column):
            if not table or not column:
                return None
            rel = r.table(schema, table)
            return (rel[0], rel[1], column) if rel else None

        def resolve_dotted(text):
            if not text:
                return None
            parts = text.split(".")
            if len(parts) == 3:
                return resolve(*parts)
            if len(parts) == 2:
                return resolve(None, *parts)
            return None

        seen: set[tuple[str, int]] = set()
        for f in ctx.code.findings:
            if f.kind != "cast_workaround":
                continue
            bound = resolve(f.schema, f.table, f.column)
            m = cols.get(bound) if bound else None
            if m is None:
                continue
            pair = {(m.schema_name, m.table_name, m.column_name),
                    tuple((m.evidence.get("parent") or {}).get(k) for k in ("schema", "table", "column"))}
            other = resolve_dotted(f.evidence.get("compared_with"))
            form = f.evidence.get("form") or f.evidence.get("kind")
            if form in ("sql", "sql_cast") and other is not None and other not in pair:
                continue  # a cast between a mismatch column and something unrelated
            if (f.file, f.line) in seen:
                continue
            seen.add((f.file, f.line))
            kind = {"sql": "sql_cast", "python": "python_cast", "helper": "helper",
                    "helper_call": "helper_call"}.get(form, form or "python_cast")
            yield ctx.issue(
                "cast_workaround", self.severity,
                f"{f.detail} — works around type_mismatch {m.fingerprint} "
                f"({m.schema_name}.{m.table_name}.{m.column_name} {m.evidence.get('child_type')} vs "
                f"{(m.evidence.get('parent') or {}).get('data_type')})",
                schema_name=bound[0], table_name=bound[1], column_name=bound[2],
                file=f.file, line=f.line,
                evidence={"mismatch": m.fingerprint, "kind": kind, "cast": f.evidence.get("cast"),
                          "function": f.evidence.get("helper") or f.function,
                          "bound_to": ".".join(bound), "col": f.col,
                          "scanner": {k: v for k, v in f.evidence.items() if k != "sql"}})

    # identity for cast_workaround is (file, line); schema/table/column are informative only
