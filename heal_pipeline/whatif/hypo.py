"""What-if with HypoPG: the planner's cost of each statement with and without an index.

* :func:`whatif_create_index` — ``hypopg_create_index`` on a hypothetical index, ``EXPLAIN`` of every
  statement before and after: cost change per statement, and whether the plan uses the index.
* :func:`whatif_drop_index` — ``hypopg_hide_index`` (HypoPG ≥ 1.4) on a real index: no plan may get worse.
* :func:`whatif_rule` — a planning rule (same signature as ``heal_pipeline.plan.RULES``) that attaches
  the estimate to ``FixPlan.whatif`` and lowers an ``auto`` index build that no statement would use
  to ``approval``, and an index drop that makes a plan worse to ``approval``.

Plans are *generic* plans (parameters unknown): ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+, else
``PREPARE`` + ``SET LOCAL plan_cache_mode = force_generic_plan`` + ``EXPLAIN EXECUTE`` with NULL
arguments (a forced generic plan does not look at the values). Everything happens inside one
read-only transaction that is rolled back; hypothetical indexes live in the backend's memory only and
are reset. Where HypoPG is not installed in the target, the evidence says ``not estimated`` with the
reason and nothing else changes.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import psycopg
from psycopg import sql

from ..errors import first_line

NOT_ESTIMATED = "not estimated"
_PERCENT = re.compile(r"%\((\w+)\)s|%s")
_QMARK = re.compile(r"\?")
WORSE_PCT = 1.0  # a plan more than this much costlier without the index counts as "worse"


@dataclass
class StatementCost:
    query: str
    source: str  # "code" | "pg_stat_statements"
    cost_before: float | None = None
    cost_after: float | None = None
    uses_index: bool = False
    error: str | None = None

    @property
    def change_pct(self) -> float | None:
        if self.cost_before is None or self.cost_after is None or not self.cost_before:
            return None
        return round(100.0 * (self.cost_after - self.cost_before) / self.cost_before, 2)


@dataclass
class IndexWhatIf:
    status: str  # "estimated" | "not estimated"
    reason: str | None = None
    action: str = "create"  # create | drop
    index: str | None = None
    statements: list[StatementCost] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def used_by(self) -> int:
        return sum(s.uses_index for s in self.statements)

    @property
    def worse(self) -> list[StatementCost]:
        return [s for s in self.statements if s.change_pct is not None and s.change_pct > WORSE_PCT]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for s, row in zip(self.statements, d["statements"]):
            row["change_pct"] = s.change_pct
            row["query"] = row["query"][:300]
        d["used_by"], d["worse"] = self.used_by, len(self.worse)
        return d


def hypopg_status(conn: psycopg.Connection) -> tuple[bool, str | None, str | None]:
    """(usable, version, reason): HypoPG must be installed in the target database (never created by heal)."""
    row = conn.execute(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'hypopg'), "
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')").fetchone()
    version, available = row
    if version:
        return True, version, None
    if available:
        return False, None, "HypoPG is available on the server but not installed in this database " \
                            "(CREATE EXTENSION hypopg)"
    return False, None, "HypoPG is not available on this server"


def to_dollar_params(text: str) -> str:
    """Driver placeholders (``%s``, ``%(name)s``, ``?``) as ``$n`` (pg_stat_statements texts already are)."""
    if "$1" in text:
        return text
    names: dict[str, int] = {}
    counter = [0]

    def repl(m: re.Match) -> str:
        if m.group(0) == "%s" or m.group(0) == "?":
            counter[0] += 1
            return f"${counter[0]}"
        name = m.group(1)
        if name not in names:
            counter[0] += 1
            names[name] = counter[0]
        return f"${names[name]}"

    out = _PERCENT.sub(repl, text)
    return out if counter[0] or "?" not in out else _QMARK.sub(repl, out)


def _plan_cost(conn: psycopg.Connection, query: str, version_num: int) -> tuple[float, list[str]]:
    """Total cost of the generic plan and the index names it uses."""
    if version_num >= 160000:
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON, GENERIC_PLAN) {}").format(sql.SQL(query))).fetchone()
    else:
        conn.execute(sql.SQL("PREPARE heal_whatif AS {}").format(sql.SQL(query)))
        try:
            n = conn.execute("SELECT coalesce(array_length(parameter_types, 1), 0) FROM pg_prepared_statements "
                             "WHERE name = 'heal_whatif'").fetchone()[0]
            args = sql.SQL("({})").format(sql.SQL(", ").join([sql.SQL("NULL")] * n)) if n else sql.SQL("")
            row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE heal_whatif{}").format(args)).fetchone()
        finally:
            conn.execute("DEALLOCATE heal_whatif")
    plan = row[0][0]["Plan"]
    names: list[str] = []

    def walk(node: dict) -> None:
        if "Index Name" in node:
            names.append(node["Index Name"])
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    return float(plan["Total Cost"]), names


def _costs(conn: psycopg.Connection, items: list[StatementCost], version_num: int, which: str,
           index_name: str | None) -> None:
    for s in items:
        if s.error:
            continue
        conn.execute("SAVEPOINT heal_whatif_stmt")
        try:
            cost, names = _plan_cost(conn, s.query, version_num)
            conn.execute("RELEASE SAVEPOINT heal_whatif_stmt")
        except psycopg.Error as exc:
            conn.execute("ROLLBACK TO SAVEPOINT heal_whatif_stmt")
            s.error = f"EXPLAIN failed: {first_line(exc)}"
            continue
        if which == "before":
            s.cost_before = cost
            if index_name is not None and which == "before":
                s.uses_index = index_name in names  # drop: the real index is used today
        else:
            s.cost_after = cost
            if index_name is not None and which == "after":
                s.uses_index = index_name in names


def _statements(statements: Iterable[tuple[str, str]], limit: int) -> list[StatementCost]:
    out: list[StatementCost] = []
    seen: set[str] = set()
    for query, source in statements:
        q = to_dollar_params((query or "").strip().rstrip(";"))
        if not q or q in seen or ";" in q:
            continue
        seen.add(q)
        out.append(StatementCost(q, source))
        if len(out) >= limit:
            break
    return out


def _in_rolled_back_transaction(conn: psycopg.Connection, work) -> Any:
    """Run ``work(server_version_num)`` in a read-only transaction (or savepoint) that is rolled back."""
    out: list[Any] = []
    with conn.transaction() as tx:
        conn.execute("SELECT set_config('transaction_read_only', 'on', true)")
        conn.execute("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
        conn.execute("SELECT set_config('statement_timeout', '5s', true)")
        vnum = int(conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0])
        try:
            out.append(work(vnum))
        finally:
            conn.execute("SELECT hypopg_reset()")
        raise psycopg.Rollback(tx)
    return out[0] if out else None


def whatif_create_index(conn: psycopg.Connection, schema: str, table: str, columns: list[str],
                        statements: Iterable[tuple[str, str]], *, limit: int = 50) -> IndexWhatIf:
    """Estimate ``CREATE INDEX ON schema.table (columns)`` over ``statements`` ((query, source) pairs)."""
    t0 = time.perf_counter()
    ok, _version, reason = hypopg_status(conn)
    if not ok:
        return IndexWhatIf(NOT_ESTIMATED, reason)
    items = _statements(statements, limit)
    if not items:
        return IndexWhatIf(NOT_ESTIMATED, f"no statement touches {schema}.{table}")
    ddl = sql.SQL("CREATE INDEX ON {} ({})").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)).as_string(conn)
    def work(vnum: int) -> str:
        _costs(conn, items, vnum, "before", None)
        name = conn.execute("SELECT indexname FROM hypopg_create_index(%s)", (ddl,)).fetchone()[0]
        _costs(conn, items, vnum, "after", name)
        return name

    try:
        name = _in_rolled_back_transaction(conn, work)
    except psycopg.Error as exc:
        return IndexWhatIf(NOT_ESTIMATED, f"HypoPG failed: {first_line(exc)}")
    return IndexWhatIf("estimated", None, "create", name, items, round(time.perf_counter() - t0, 4))


def whatif_drop_index(conn: psycopg.Connection, schema: str, index: str,
                      statements: Iterable[tuple[str, str]], *, limit: int = 50) -> IndexWhatIf:
    """Estimate dropping ``schema.index``: ``hypopg_hide_index`` (HypoPG ≥ 1.4), plans with and without."""
    t0 = time.perf_counter()
    ok, version, reason = hypopg_status(conn)
    if not ok:
        return IndexWhatIf(NOT_ESTIMATED, reason, "drop", index)
    has_hide = conn.execute("SELECT to_regproc('hypopg_hide_index') IS NOT NULL").fetchone()[0]
    if not has_hide:
        return IndexWhatIf(NOT_ESTIMATED, f"HypoPG {version} has no hypopg_hide_index (needs 1.4+)", "drop", index)
    items = _statements(statements, limit)
    if not items:
        return IndexWhatIf(NOT_ESTIMATED, "no statement to compare", "drop", index)
    oid = conn.execute("SELECT to_regclass(%s)::oid", (sql.Identifier(schema, index).as_string(conn),)).fetchone()[0]
    if oid is None:
        return IndexWhatIf(NOT_ESTIMATED, f"index {schema}.{index} does not exist", "drop", index)

    def work(vnum: int) -> None:
        _costs(conn, items, vnum, "before", index)
        conn.execute("SELECT hypopg_hide_index(%s)", (oid,))
        try:
            _costs(conn, items, vnum, "after", None)
        finally:
            conn.execute("SELECT hypopg_unhide_all_indexes()")

    try:
        _in_rolled_back_transaction(conn, work)
    except psycopg.Error as exc:
        return IndexWhatIf(NOT_ESTIMATED, f"HypoPG failed: {first_line(exc)}", "drop", index)
    return IndexWhatIf("estimated", None, "drop", index, items, round(time.perf_counter() - t0, 4))


# ---- the planning rule ----------------------------------------------------------------


def statements_touching(snap: Any, code_statements: Iterable[Any], schema: str, table: str,
                        *, top: int = 50) -> list[tuple[str, str]]:
    """Code statements whose tables include ``schema.table`` (unqualified names match), then the top
    pg_stat_statements entries (by total time) whose text names the table."""
    return _Touching(snap, code_statements, top=top).of(schema, table)


class _Touching:
    """:func:`statements_touching` for many tables: the code statements indexed by table name and the
    pg_stat_statements entries ranked once (planning 500 index plans read them 500 times otherwise)."""

    def __init__(self, snap: Any, code_statements: Iterable[Any], *, top: int = 50) -> None:
        self.by_name: dict[str, list[Any]] = {}
        for st in code_statements or ():
            if st.parse_error or st.dynamic or (st.statement_kind or "") == "DDL":
                continue
            for name in dict.fromkeys(t.name for t in st.tables):
                self.by_name.setdefault(name, []).append(st)
        self.ranked = [s for s in sorted(getattr(snap, "statements", []) or [], key=lambda s: -s.total_ms)[:top * 4]
                       if not (s.query or "").lstrip().startswith("/* heal")]

    def of(self, schema: str, table: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for st in self.by_name.get(table, ()):
            if any(t.name == table and (t.schema is None or (t.schema or "public") == schema) for t in st.tables):
                out.append((st.sql, "code"))
        pat = re.compile(rf'(^|[\s."]){re.escape(table)}([\s"]|$)', re.I)
        out.extend((s.query, "pg_stat_statements") for s in self.ranked if pat.search(s.query or ""))
        return out


def whatif_rule(plan: Any, issue: Any, snap: Any, ctx: Any) -> None:
    """Attach the estimate of an index build/drop to ``plan.whatif``; adjust the tier (see module doc).

    Needs ``ctx.conn`` (the planner's read-only connection); code statements come from
    ``ctx.code_statements`` when the caller set it (else only pg_stat_statements entries count).
    """
    conn = getattr(ctx, "conn", None)
    build = next((s for s in plan.steps if s.op == "create_index"), None)
    drop = next((s for s in plan.steps if s.op == "drop_index"), None) if plan.issue_type in (
        "unused_index", "duplicate_index") else None
    if conn is None or (build is None and drop is None) or plan.blocked:
        return
    a = (build or drop).args
    schema = a.get("schema")
    table = a.get("table") or issue.table_name
    # once per planning pass (ctx lives for one pass): HypoPG's presence and the statements by table
    status = ctx.pass_memo.get("hypopg_status")
    if status is None:
        status = ctx.pass_memo["hypopg_status"] = hypopg_status(conn)
    if not status[0]:
        w = (IndexWhatIf(NOT_ESTIMATED, status[2]) if build is not None
             else IndexWhatIf(NOT_ESTIMATED, status[2], "drop", a.get("name")))
        plan.whatif = w.to_dict()
        plan.notes.append(f"what-if: {NOT_ESTIMATED} ({w.reason})")
        return
    touching = ctx.pass_memo.get("whatif_touching")
    if touching is None:
        touching = ctx.pass_memo["whatif_touching"] = _Touching(snap, getattr(ctx, "code_statements", ()))
    stmts = touching.of(schema, table)
    if build is not None:
        w = whatif_create_index(conn, schema, table, list(a.get("columns") or []), stmts)
        if w.status == "estimated" and w.used_by == 0 and plan.tier == "auto":
            plan.tier = "approval"
            plan.notes.append(f"what-if: no statement of {len(w.statements)} would use the new index — "
                              "not applied automatically")
    else:
        w = whatif_drop_index(conn, schema, a.get("name"), stmts)
        if w.status == "estimated" and w.worse and plan.tier == "auto":
            plan.tier = "approval"
            plan.notes.append(f"what-if: {len(w.worse)} statement plan(s) get worse without the index")
    plan.whatif = w.to_dict()
    if w.status != "estimated":
        plan.notes.append(f"what-if: {NOT_ESTIMATED} ({w.reason})")


def annotate_plans(plans: list[Any], issues: list[Any], snap: Any, ctx: Any,
                   code_statements: Iterable[Any] = ()) -> int:
    """:func:`whatif_rule` over every plan (the caller's hook until it is one of the planning RULES);
    returns how many plans got an estimate ("estimated" or "not estimated")."""
    by_fp = {i.fingerprint: i for i in issues}
    if not hasattr(ctx, "code_statements"):
        ctx.code_statements = list(code_statements)
    n = 0
    for p in plans:
        issue = by_fp.get(p.fingerprint)
        if issue is None:
            continue
        try:
            whatif_rule(p, issue, snap, ctx)
        except psycopg.Error as exc:  # never fails planning: the estimate is evidence, not a gate
            p.whatif = {"status": NOT_ESTIMATED, "reason": f"what-if failed: {first_line(exc)}"}
        n += bool(p.whatif)
    return n
