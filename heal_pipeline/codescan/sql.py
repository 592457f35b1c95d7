"""SQL analysis: SQL text in, parsed facts out (language-neutral).

The code scanners (Python today, TypeScript later) hand this module the SQL text an
application runs plus the parameter style, and get back :class:`SqlFacts`: statement kind,
tables (CTEs, aliases and set-returning functions resolved), columns per clause, join
predicates, casts, parameter bindings. Parsing uses pglast (libpg_query, the real PostgreSQL
18 grammar) through ``pglast.parser.parse_sql_json``: the same parser as ``pglast.parse_sql``
but it skips building Python node objects, which makes it about six times faster; the tree
is walked as plain dicts.

Driver placeholders are converted before parsing (pglast only understands ``$n``):
``%s``/``%b``/``%t`` (psycopg "format"), ``%(name)s`` (psycopg "named", one number per
distinct name), ``:name`` (SQLAlchemy ``text()``, only when asked) and ``?`` (qmark, only
when asked; ``?`` is also a jsonb operator). Every location reported back (casts) is an
offset into the *original* text.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pglast import parser as _pg

from heal_pipeline.model import ColumnRef, DdlTarget, JoinPredicate, ParamBinding, SqlCast, TableRef

__all__ = ["SqlFacts", "analyze", "to_parseable", "HOLE_PREFIX", "parses"]

#: placeholders the template renderer puts where a runtime value was (see template.py)
HOLE_PREFIX = "_heal_hole_"

_COMPARE_OPS = {"=", "<>", "!=", "<", ">", "<=", ">=", "~~", "~~*", "!~~", "!~~*"}
_COMPARE_KINDS = {"AEXPR_LIKE", "AEXPR_ILIKE", "AEXPR_SIMILAR", "AEXPR_DISTINCT",
                  "AEXPR_NOT_DISTINCT", "AEXPR_OP_ANY", "AEXPR_OP_ALL"}
_DROP_KINDS = {"OBJECT_TABLE": "table", "OBJECT_VIEW": "view", "OBJECT_MATVIEW": "matview",
               "OBJECT_FOREIGN_TABLE": "table"}
_DDL_PREFIXES = ("Create", "Alter", "Drop", "Rename", "Comment", "Grant", "Index", "View",
                 "Define", "Reindex", "Cluster", "Sec", "AlterTable")


@dataclass
class SqlFacts:
    """What one SQL text says. JSON round-trippable (the scanner caches it)."""

    statement_kind: str | None = None
    tables: list[TableRef] = field(default_factory=list)
    columns: list[ColumnRef] = field(default_factory=list)
    joins: list[JoinPredicate] = field(default_factory=list)
    casts: list[SqlCast] = field(default_factory=list)
    # parallel to ``casts``: offset of the cast in the original text, and whether the cast
    # sits in a predicate ("compare"), an INSERT value ("insert") or an UPDATE SET ("set")
    cast_offsets: list[int] = field(default_factory=list)
    cast_contexts: list[str | None] = field(default_factory=list)
    params: list[ParamBinding] = field(default_factory=list)
    functions_called: list[str] = field(default_factory=list)
    ctes: list[str] = field(default_factory=list)
    ddl: list[DdlTarget] = field(default_factory=list)  # relations this SQL creates / drops
    param_style: str | None = None
    param_names: dict[int, str] = field(default_factory=dict)  # index -> name (named styles)
    param_count: int = 0
    parse_error: str | None = None
    error_offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.statement_kind,
            "t": [[t.schema, t.name, t.alias] for t in self.tables],
            "c": [[c.table, c.schema, c.column, c.clause] for c in self.columns],
            "j": [[j.left_schema, j.left_table, j.left_column, j.right_schema, j.right_table,
                   j.right_column] for j in self.joins],
            "x": [[c.target_type, c.schema, c.table, c.column, c.param, c.compared_schema,
                   c.compared_table, c.compared_column] for c in self.casts],
            "xo": self.cast_offsets,
            "xc": self.cast_contexts,
            "p": [[p.index, p.style, p.schema, p.table, p.column, p.role, p.cast, p.name]
                  for p in self.params],
            "f": self.functions_called,
            "w": self.ctes,
            "d": [[d.action, d.kind, d.schema, d.name, d.temporary, d.conditional] for d in self.ddl],
            "ps": self.param_style,
            "pn": {str(k): v for k, v in self.param_names.items()},
            "pc": self.param_count,
            "e": self.parse_error,
            "eo": self.error_offset,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SqlFacts":
        return cls(
            statement_kind=d["k"],
            tables=[TableRef(*t) for t in d["t"]],
            columns=[ColumnRef(*c) for c in d["c"]],
            joins=[JoinPredicate(*j) for j in d["j"]],
            casts=[SqlCast(*c) for c in d["x"]],
            cast_offsets=list(d["xo"]),
            cast_contexts=list(d["xc"]),
            params=[ParamBinding(*p) for p in d["p"]],
            functions_called=list(d["f"]),
            ctes=list(d["w"]),
            ddl=[DdlTarget(*x) for x in d.get("d", ())],
            param_style=d["ps"],
            param_names={int(k): v for k, v in d["pn"].items()},
            param_count=d["pc"],
            parse_error=d["e"],
            error_offset=d["eo"],
        )


# --------------------------------------------------------------------------------------
# placeholder conversion
# --------------------------------------------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_NAMED = re.compile(r"%\(([^)]+)\)[sbt]")
_COLON = re.compile(r":([A-Za-z_][A-Za-z_0-9]*)")


def to_parseable(sql: str, hint: str | None = None
                 ) -> tuple[str, str | None, dict[int, str], list[tuple[int, int]], int]:
    """Rewrite driver placeholders to ``$n``.

    Returns (text, style, names, anchors, count): ``anchors`` are (new_offset, old_offset)
    pairs, sorted, to map a location in ``text`` back to ``sql``; ``names`` maps the
    number of a named placeholder to its name; ``count`` is the number of distinct params.
    ``hint`` is ``"colon"`` (``:name``) or ``"qmark"`` (``?``) when the caller knows.
    """
    out: list[str] = []
    anchors: list[tuple[int, int]] = []
    names: dict[int, str] = {}
    by_name: dict[str, int] = {}
    style: str | None = None
    n = 0  # positional counter
    max_dollar = 0
    i = 0
    L = len(sql)
    new_len = 0

    start = 0  # start of the pending verbatim chunk

    def replace(pos: int, end: int, text: str) -> int:
        """Copy the verbatim chunk before ``pos``, put ``text`` for ``sql[pos:end]``; returns ``end``."""
        nonlocal new_len, start
        out.append(sql[start:pos])
        new_len += pos - start
        anchors.append((new_len, pos))
        out.append(text)
        new_len += len(text)
        start = end
        anchors.append((new_len, end))
        return end

    def slot(name: str) -> str:
        """``$n`` of a named placeholder (the same name always gets the same number)."""
        nonlocal n
        if name not in by_name:
            n += 1
            by_name[name] = n
            names[n] = name
        return f"${by_name[name]}"

    while i < L:
        ch = sql[i]
        if ch == "'" or ch == '"':
            j = i + 1
            while j < L:
                if sql[j] == ch:
                    if j + 1 < L and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                if sql[j] == "\\" and ch == "'" and i > 0 and sql[i - 1] in "eE":
                    j += 2
                    continue
                j += 1
            i = j + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = L if j < 0 else j + 1
            continue
        if ch == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = L if j < 0 else j + 2
            continue
        if ch == "$":
            m = _DOLLAR_TAG.match(sql, i)
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                tag = m.group(0)
                j = sql.find(tag, m.end())
                i = L if j < 0 else j + len(tag)
                continue
            j = i + 1
            while j < L and sql[j].isdigit():
                j += 1
            if j > i + 1:
                style = style or "dollar"
                max_dollar = max(max_dollar, int(sql[i + 1:j]))
            i = max(j, i + 1)
            continue
        if ch == "%" and i + 1 < L:
            nxt = sql[i + 1]
            if nxt == "%":
                i = replace(i, i + 2, "%")
                continue
            if nxt in "sbt":
                n += 1
                style = "format" if style in (None, "format") else style
                i = replace(i, i + 2, f"${n}")
                continue
            if nxt == "(":
                m = _NAMED.match(sql, i)
                if m:
                    style = "named"
                    i = replace(i, m.end(), slot(m.group(1)))
                    continue
        if ch == ":" and hint == "colon":
            if sql.startswith("::", i):
                i += 2
                continue
            m = _COLON.match(sql, i)
            if m and (i == 0 or sql[i - 1] not in ":\\"):
                style = "named"
                i = replace(i, m.end(), slot(m.group(1)))
                continue
        if ch == "?" and hint == "qmark":
            nxt = sql[i + 1:i + 2]
            if nxt in ("|", "&") or sql[i + 1:].lstrip()[:1] == "'":
                i += 1  # jsonb ``?|`` / ``?&`` / ``data ? 'key'``: an operator, not a placeholder
                continue
            n += 1
            style = "qmark"
            i = replace(i, i + 1, f"${n}")
            continue
        i += 1
    out.append(sql[start:])
    text = "".join(out)
    if not anchors:
        anchors = [(0, 0)]
    elif anchors[0][0] != 0:
        anchors.insert(0, (0, 0))
    count = max(n, max_dollar)
    return text, style, names, anchors, count


def _map_back(anchors: list[tuple[int, int]], keys: list[int], pos: int) -> int:
    k = bisect.bisect_right(keys, pos) - 1
    if k < 0:
        return pos
    new, old = anchors[k]
    return old + (pos - new)


def parses(sql: str) -> bool:
    """True when pglast accepts ``sql`` (driver placeholders converted first)."""
    text = to_parseable(sql)[0]
    try:
        _pg.parse_sql_json(text)
    except Exception:  # noqa: BLE001 - any parser complaint means "does not parse"
        return False
    return True


# --------------------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------------------


def analyze(sql: str, hint: str | None = None) -> SqlFacts:
    """Parse ``sql`` and collect the facts. Never raises: errors land in ``parse_error``."""
    text, style, names, anchors, count = to_parseable(sql, hint)
    facts = SqlFacts(param_style=style, param_names=names, param_count=count)
    try:
        tree = json.loads(_pg.parse_sql_json(text))
    except _pg.ParseError as exc:
        msg = exc.args[0] if exc.args else str(exc)
        loc = exc.args[1] if len(exc.args) > 1 else None
        facts.parse_error = str(msg)
        if isinstance(loc, int) and loc >= 0:
            facts.error_offset = _map_back(anchors, [a[0] for a in anchors], _byte_to_char(text, loc))
        return facts
    except Exception as exc:  # noqa: BLE001 - the scan must never abort on one statement
        facts.parse_error = f"{type(exc).__name__}: {exc}"
        return facts
    stmts = tree.get("stmts") or []
    if not stmts:
        facts.statement_kind = "OTHER"
        return facts
    a = _Analyzer(style)
    kinds = []
    for raw in stmts:
        node = raw.get("stmt") or {}
        kinds.append(a.statement(node, None))
    facts.statement_kind = kinds[0]
    a.finish(count, names)
    facts.tables = list(a.tables.values())
    facts.columns = list(a.columns.values())
    facts.joins = list(a.joins.values())
    bytes_mode = not text.isascii()
    keys = [x[0] for x in anchors]
    for cast, loc, ctx in a.casts:
        facts.casts.append(SqlCast(**cast))
        pos = _byte_to_char(text, loc) if bytes_mode else loc
        facts.cast_offsets.append(_map_back(anchors, keys, pos) if loc >= 0 else -1)
        facts.cast_contexts.append(ctx)
    facts.params = a.bindings()
    facts.functions_called = list(a.functions)
    facts.ctes = list(a.ctes)
    facts.ddl = list(a.ddl.values())
    return facts


def _byte_to_char(text: str, loc: int) -> int:
    if text.isascii():
        return loc
    return len(text.encode("utf-8")[:loc].decode("utf-8", errors="ignore"))


class _Scope:
    __slots__ = ("items", "order", "parent", "ctes", "outputs")

    def __init__(self, parent: "_Scope | None", ctes: set[str] | None = None):
        self.items: dict[str, tuple] = {}  # alias/name -> ("table", schema, name) | ("other",)
        self.order: list[tuple] = []
        self.parent = parent
        self.ctes: set[str] = set(ctes if ctes is not None else (parent.ctes if parent else ()))
        self.outputs: set[str] = set()

    def add(self, key: str | None, item: tuple) -> None:
        if key:
            self.items[key] = item
        self.order.append(item)

    def lookup(self, qual: str, schema: str | None = None) -> tuple | None:
        s: _Scope | None = self
        while s is not None:
            it = s.items.get(qual)
            if it is not None and (schema is None or (it[0] == "table" and it[1] == schema)):
                return it
            s = s.parent
        return None

    def single(self) -> tuple | None:
        """The one FROM item of the nearest scope that has any, or None."""
        s: _Scope | None = self
        while s is not None:
            if s.order:
                return s.order[0] if len(s.order) == 1 else ("ambiguous",)
            s = s.parent
        return None


# a "side" of a comparison: ("col", schema, table, column) | ("param", n) | None,
# plus the casts wrapped around it (indexes into _Analyzer.casts)
_Side = tuple


class _Analyzer:
    def __init__(self, style: str | None):
        self.style = style or "dollar"
        self.tables: dict[tuple, TableRef] = {}
        self.columns: dict[tuple, ColumnRef] = {}
        self.joins: dict[tuple, JoinPredicate] = {}
        self.casts: list[tuple[dict, int, str | None]] = []
        self.bound: dict[tuple, dict] = {}
        self.params_seen: dict[int, str | None] = {}  # n -> cast seen on it
        self.functions: dict[str, None] = {}
        self.ctes: dict[str, None] = {}
        self.ddl: dict[tuple, DdlTarget] = {}
        self.created: set[tuple] = set()

    # ---- results ---------------------------------------------------------------------
    def finish(self, count: int, names: dict[int, str]) -> None:
        self.count = count
        self.names = names

    def bindings(self) -> list[ParamBinding]:
        out = []
        covered = set()
        for key, b in self.bound.items():
            covered.add(b["index"])
            out.append(ParamBinding(index=b["index"], style=self.style, schema=b["schema"],
                                    table=b["table"], column=b["column"], role=b["role"],
                                    cast=b["cast"], name=self.names.get(b["index"])))
        for n in sorted(set(self.params_seen) | set(range(1, self.count + 1))):
            if n not in covered:
                out.append(ParamBinding(index=n, style=self.style, schema=None, table=None,
                                        column=None, role="other",
                                        cast=self.params_seen.get(n), name=self.names.get(n)))
        out.sort(key=lambda p: (p.index, p.role, p.table or "", p.column or ""))
        return out

    # ---- statements ------------------------------------------------------------------
    def statement(self, node: dict, outer: _Scope | None) -> str:
        if not node:
            return "OTHER"
        (kind, body), = node.items()
        if kind == "SelectStmt":
            self.select(body, outer)
            return "SELECT"
        if kind == "InsertStmt":
            self.insert(body, outer)
            return "INSERT"
        if kind == "UpdateStmt":
            self.update(body, outer)
            return "UPDATE"
        if kind == "DeleteStmt":
            self.delete(body, outer)
            return "DELETE"
        if kind == "MergeStmt":
            self.merge(body, outer)
            return "OTHER"
        if kind == "CopyStmt":
            scope = _Scope(outer)
            if body.get("relation"):
                t = self.range_var(body["relation"], scope)
                for f in body.get("attlist") or ():
                    col = _sval(f)
                    if col and t and t[0] == "table":
                        self.add_column(t[1], t[2], col, "other")
            if body.get("query"):
                self.statement(body["query"], outer)
            return "COPY"
        if kind == "ExplainStmt":
            return self.statement(body.get("query") or {}, outer)
        # the relation a statement creates or drops is no reference to an existing one: it is
        # recorded in ``ddl`` ("defined in code"); later statements of the same text that use it
        # resolve to it (a temp table created, filled, read and dropped in one execute)
        if kind == "CreateStmt":
            rel = body.get("relation") or {}
            self.define("create", "table", rel, bool(body.get("if_not_exists")))  # first: self-FKs
            self.generic(body, _Scope(outer), "other", skip=("relation",))
            return "DDL"
        if kind == "CreateTableAsStmt":
            self.statement(body.get("query") or {}, outer)
            self.generic(body, _Scope(outer), "other", skip=("query", "into"))
            rel = (body.get("into") or {}).get("rel") or {}
            self.define("create", "matview" if body.get("objtype") == "OBJECT_MATVIEW" else "table",
                        rel, bool(body.get("if_not_exists")))
            return "DDL"
        if kind == "ViewStmt":
            self.statement(body.get("query") or {}, outer)
            self.generic(body, _Scope(outer), "other", skip=("query", "view"))
            self.define("create", "view", body.get("view") or {}, bool(body.get("replace")))
            return "DDL"
        if kind == "DropStmt":
            rkind = _DROP_KINDS.get(body.get("removeType"))
            if rkind:
                for obj in body.get("objects") or ():
                    parts = [_sval(x) for x in (obj.get("List", {}).get("items") or ())]
                    parts = [p for p in parts if p]
                    if parts:
                        self.define("drop", rkind, {"schemaname": parts[-2] if len(parts) > 1 else None,
                                                    "relname": parts[-1]}, bool(body.get("missing_ok")))
            return "DDL"
        scope = _Scope(outer)
        self.generic(body, scope, "other")
        if kind.startswith(_DDL_PREFIXES) or kind in ("TruncateStmt",):
            return "DDL" if kind != "TruncateStmt" else "OTHER"
        return "OTHER"

    def with_clause(self, body: dict, scope: _Scope) -> None:
        w = body.get("withClause")
        if not w:
            return
        recursive = bool(w.get("recursive"))
        for c in w.get("ctes") or ():
            cte = c.get("CommonTableExpr") or {}
            name = cte.get("ctename")
            if recursive and name:
                scope.ctes.add(name)
            q = cte.get("ctequery")
            if q:
                self.statement(q, _Scope(scope.parent, scope.ctes))
            if name:
                scope.ctes.add(name)
                self.ctes[name] = None

    def select(self, body: dict, outer: _Scope | None) -> tuple[list, _Scope]:
        """Returns the sides of the target list (for INSERT ... SELECT and IN (SELECT ...))."""
        scope = _Scope(outer)
        self.with_clause(body, scope)
        op = body.get("op")
        if op and op != "SETOP_NONE":
            left, _ = self.select(body.get("larg") or {}, scope)
            self.select(body.get("rarg") or {}, scope)
            for s in body.get("sortClause") or ():
                self.expr(s.get("SortBy", {}).get("node"), scope, "order_by")
            return left, scope
        for row in body.get("valuesLists") or ():
            for v in row.get("List", {}).get("items") or ():
                self.expr(v, scope, "other")
        for item in body.get("fromClause") or ():
            self.from_item(item, scope, outer)
        into = (body.get("intoClause") or {}).get("rel")
        if into:  # SELECT … INTO new_table creates it
            self.define("create", "table", into, False)
        sides = []
        for t in body.get("targetList") or ():
            rt = t.get("ResTarget") or {}
            if rt.get("name"):
                scope.outputs.add(rt["name"])
            sides.append(self.expr(rt.get("val"), scope, "select"))
        for d in body.get("distinctClause") or ():
            if d:
                self.expr(d, scope, "select")
        self.expr(body.get("whereClause"), scope, "where")
        for g in body.get("groupClause") or ():
            self.expr(g, scope, "group_by")
        self.expr(body.get("havingClause"), scope, "other")
        for w in body.get("windowClause") or ():
            self.generic(w, scope, "other")
        for s in body.get("sortClause") or ():
            self.expr(s.get("SortBy", {}).get("node"), scope, "order_by")
        self.expr(body.get("limitCount"), scope, "other")
        self.expr(body.get("limitOffset"), scope, "other")
        return sides, scope

    def insert(self, body: dict, outer: _Scope | None) -> None:
        scope = _Scope(outer)
        self.with_clause(body, scope)
        target = self.range_var(body.get("relation") or {}, scope)
        tschema, tname = (target[1], target[2]) if target and target[0] == "table" else (None, None)
        cols = [(c.get("ResTarget") or {}).get("name") for c in body.get("cols") or ()]
        for c in cols:
            if c and tname:
                self.add_column(tschema, tname, c, "insert")
        sel = (body.get("selectStmt") or {}).get("SelectStmt")
        if sel:
            if sel.get("valuesLists") and not sel.get("fromClause"):
                vscope = _Scope(outer, scope.ctes)
                for row in sel.get("valuesLists") or ():
                    for i, v in enumerate(row.get("List", {}).get("items") or ()):
                        side = self.expr(v, vscope, "other")
                        col = cols[i] if i < len(cols) else None
                        self.assign(side, tschema, tname, col, "insert")
            else:
                sides, _ = self.select(sel, _Scope(outer, scope.ctes))
                for i, side in enumerate(sides):
                    col = cols[i] if i < len(cols) else None
                    self.assign(side, tschema, tname, col, "insert")
        occ = body.get("onConflictClause")
        if occ:
            cscope = _Scope(scope)
            if target:
                cscope.add("excluded", target)
            infer = occ.get("infer") or {}
            for e in infer.get("indexElems") or ():
                ie = e.get("IndexElem") or {}
                if ie.get("name") and tname:
                    self.add_column(tschema, tname, ie["name"], "insert")
                elif ie.get("expr"):
                    self.expr(ie["expr"], scope, "other")
            self.expr(infer.get("whereClause"), scope, "where")
            self.set_list(occ.get("targetList") or (), cscope, tschema, tname)
            self.expr(occ.get("whereClause"), cscope, "where")
        self.returning(body, scope)

    def set_list(self, targets, scope: _Scope, tschema, tname) -> None:
        for t in targets:
            if "MultiAssignRef" in (t.get("ResTarget", {}).get("val") or {}):
                self.expr(t["ResTarget"]["val"], scope, "other")
                if tname and t["ResTarget"].get("name"):
                    self.add_column(tschema, tname, t["ResTarget"]["name"], "update")
                continue
            rt = t.get("ResTarget") or {}
            col = rt.get("name")
            if col and tname:
                self.add_column(tschema, tname, col, "update")
            side = self.expr(rt.get("val"), scope, "other")
            self.assign(side, tschema, tname, col, "set")

    def update(self, body: dict, outer: _Scope | None) -> None:
        scope = _Scope(outer)
        self.with_clause(body, scope)
        target = self.range_var(body.get("relation") or {}, scope)
        for item in body.get("fromClause") or ():
            self.from_item(item, scope, outer)
        tschema, tname = (target[1], target[2]) if target and target[0] == "table" else (None, None)
        self.set_list(body.get("targetList") or (), scope, tschema, tname)
        self.expr(body.get("whereClause"), scope, "where")
        self.returning(body, scope)

    def delete(self, body: dict, outer: _Scope | None) -> None:
        scope = _Scope(outer)
        self.with_clause(body, scope)
        self.range_var(body.get("relation") or {}, scope)
        for item in body.get("usingClause") or ():
            self.from_item(item, scope, outer)
        self.expr(body.get("whereClause"), scope, "where")
        self.returning(body, scope)

    def merge(self, body: dict, outer: _Scope | None) -> None:
        scope = _Scope(outer)
        self.with_clause(body, scope)
        target = self.range_var(body.get("relation") or {}, scope)
        if body.get("sourceRelation"):
            self.from_item(body["sourceRelation"], scope, outer)
        self.expr(body.get("joinCondition"), scope, "join")
        tschema, tname = (target[1], target[2]) if target and target[0] == "table" else (None, None)
        for w in body.get("mergeWhenClauses") or ():
            mw = w.get("MergeWhenClause") or {}
            self.expr(mw.get("condition"), scope, "where")
            if mw.get("commandType") == "CMD_UPDATE":
                self.set_list(mw.get("targetList") or (), scope, tschema, tname)
            elif mw.get("commandType") == "CMD_INSERT":
                cols = [(c.get("ResTarget") or {}).get("name") for c in mw.get("targetList") or ()]
                for c in cols:
                    if c and tname:
                        self.add_column(tschema, tname, c, "insert")
                for i, v in enumerate(mw.get("values") or ()):
                    side = self.expr(v, scope, "other")
                    self.assign(side, tschema, tname, cols[i] if i < len(cols) else None, "insert")
        self.returning(body, scope)

    def returning(self, body: dict, scope: _Scope) -> None:
        rc = body.get("returningClause") or {}
        exprs = rc.get("exprs") if isinstance(rc, dict) else None
        if exprs is None:
            exprs = body.get("returningList") or ()
        for t in exprs:
            rt = t.get("ResTarget") or {}
            self.expr(rt.get("val"), scope, "returning")

    # ---- FROM ------------------------------------------------------------------------
    def range_var(self, rv: dict, scope: _Scope) -> tuple | None:
        if "RangeVar" in rv:
            rv = rv["RangeVar"]
        name = rv.get("relname")
        if not name:
            return None
        schema = rv.get("schemaname")
        alias = (rv.get("alias") or {}).get("aliasname")
        if schema is None and name in scope.ctes:
            item = ("other", "cte", name)
            scope.add(alias or name, item)
            return item
        if HOLE_PREFIX in name or (schema and HOLE_PREFIX in schema):
            # a name composed at run time (f"{schema}.users", f"events_{suffix}"): no reference
            item = ("other", "hole", name)
            scope.add(alias or name, item)
            return item
        if self.created and self.created_here(schema, name):
            item = ("other", "created", name)
            scope.add(alias or name, item)
            return item
        if schema is None and name.startswith("pg_"):
            schema = "pg_catalog"
        self.add_table(schema, name, alias)
        item = ("table", schema, name)
        scope.add(alias or name, item)
        if alias:
            # PostgreSQL hides the table name behind an alias; tolerate it anyway
            scope.items.setdefault(name, item)
        return item

    def from_item(self, node: dict, scope: _Scope, outer: _Scope | None) -> None:
        if not node:
            return
        (kind, body), = node.items()
        if kind == "RangeVar":
            self.range_var(body, scope)
        elif kind == "JoinExpr":
            left = self.from_item_side(body.get("larg"), scope, outer)
            right = self.from_item_side(body.get("rarg"), scope, outer)
            self.expr(body.get("quals"), scope, "join")
            using = [_sval(u) for u in body.get("usingClause") or ()]
            for col in using:
                if not col:
                    continue
                for side in (left, right):
                    if side and side[0] == "table":
                        self.add_column(side[1], side[2], col, "join")
                if left and right and left[0] == "table" and right[0] == "table":
                    self.add_join(("col", left[1], left[2], col), ("col", right[1], right[2], col))
            alias = (body.get("alias") or {}).get("aliasname")
            if alias:
                scope.items[alias] = ("other", "join", alias)
        elif kind == "RangeSubselect":
            lateral = body.get("lateral")
            sub = body.get("subquery") or {}
            self.statement_in(sub, scope if lateral else _Scope(outer, scope.ctes))
            alias = (body.get("alias") or {}).get("aliasname")
            scope.add(alias, ("other", "derived", alias))
        elif kind == "RangeFunction":
            for fl in body.get("functions") or ():
                for f in fl.get("List", {}).get("items") or ():
                    if f:
                        self.expr(f, scope, "other")
            alias = (body.get("alias") or {}).get("aliasname")
            scope.add(alias, ("other", "function", alias))
        else:
            alias = (body.get("alias") or {}).get("aliasname") if isinstance(body, dict) else None
            self.generic(body, scope, "other")
            scope.add(alias, ("other", kind, alias))

    def from_item_side(self, node: dict | None, scope: _Scope, outer: _Scope | None) -> tuple | None:
        if not node:
            return None
        before = len(scope.order)
        self.from_item(node, scope, outer)
        added = scope.order[before:]
        return added[0] if len(added) == 1 else None

    def statement_in(self, node: dict, scope: _Scope) -> list:
        """A nested query; returns its target sides when it is a SELECT."""
        if "SelectStmt" in node:
            sides, _ = self.select(node["SelectStmt"], scope)
            return sides
        self.statement(node, scope)
        return []

    # ---- bookkeeping -----------------------------------------------------------------
    def add_table(self, schema, name, alias) -> None:
        key = (schema, name, alias)
        if key not in self.tables:
            self.tables[key] = TableRef(schema=schema, name=name, alias=alias)

    def define(self, action: str, kind: str, rv: dict, conditional: bool) -> None:
        """A relation this SQL creates or drops (``CREATE TABLE``, ``DROP VIEW IF EXISTS`` …)."""
        name = rv.get("relname")
        schema = rv.get("schemaname")
        if not name or HOLE_PREFIX in name or (schema and HOLE_PREFIX in schema):
            return
        temp = rv.get("relpersistence") == "t" or schema == "pg_temp"
        if schema == "pg_temp":
            schema = None
        key = (action, kind, schema, name)
        if key not in self.ddl:
            self.ddl[key] = DdlTarget(action=action, kind=kind, schema=schema, name=name,
                                      temporary=temp, conditional=conditional)
        if action == "create":
            self.created.add((schema, name))

    def created_here(self, schema, name) -> bool:
        """Was ``schema.name`` created by an earlier statement of this same SQL text?"""
        return any(n == name and (schema is None or s is None or s == schema) for s, n in self.created)

    def add_column(self, schema, table, column, clause) -> None:
        if HOLE_PREFIX in column:
            return
        key = (table, schema, column, clause)
        if key not in self.columns:
            self.columns[key] = ColumnRef(table=table, schema=schema, column=column, clause=clause)

    def add_join(self, left: tuple, right: tuple) -> None:
        if left[2] is None or right[2] is None or left[1:] == right[1:]:
            return
        key = (left[1], left[2], left[3], right[1], right[2], right[3])
        if key not in self.joins:
            self.joins[key] = JoinPredicate(left[1], left[2], left[3], right[1], right[2], right[3])

    def bind(self, n: int, schema, table, column, role: str, cast: str | None) -> None:
        key = (n, schema, table, column, role, cast)
        if key not in self.bound:
            self.bound[key] = {"index": n, "schema": schema, "table": table, "column": column,
                               "role": role, "cast": cast}

    def assign(self, side, tschema, tname, col, role: str) -> None:
        """``side`` is written into ``tname.col`` (INSERT value or UPDATE SET)."""
        if side is None:
            return
        base, casts = side
        for ci in casts:
            c = self.casts[ci][0]
            c["compared_schema"], c["compared_table"], c["compared_column"] = tschema, tname, col
            self.casts[ci] = (c, self.casts[ci][1], role)
        if base and base[0] == "param":
            cast = self.casts[casts[0]][0]["target_type"] if casts else None
            self.bind(base[1], tschema, tname, col, role, cast)

    def compare(self, left, right, op: str) -> None:
        if left is None or right is None:
            return
        lb, lc = left
        rb, rc = right
        if lb and lb[0] == "row" and rb and rb[0] == "row":
            for a, b in zip(lb[1], rb[1]):
                self.compare(a, b, op)
            return
        for casts, other in ((lc, rb), (rc, lb)):
            for ci in casts:
                c, loc, _ = self.casts[ci]
                if other and other[0] == "col":
                    c["compared_schema"], c["compared_table"], c["compared_column"] = other[1:]
                self.casts[ci] = (c, loc, "compare")
        if lb and rb and lb[0] == "col" and rb[0] == "col" and op == "=":
            self.add_join(lb, rb)
        for pb, pc, ob in ((lb, lc, rb), (rb, rc, lb)):
            if pb and pb[0] == "param" and ob and ob[0] == "col":
                cast = self.casts[pc[0]][0]["target_type"] if pc else None
                self.bind(pb[1], ob[1], ob[2], ob[3], "compare", cast)

    # ---- expressions -----------------------------------------------------------------
    def expr(self, node, scope: _Scope, clause: str):
        """Walk an expression; return its side (base, [cast indexes]) or None."""
        if not node:
            return None
        if isinstance(node, list):
            for x in node:
                self.expr(x, scope, clause)
            return None
        (kind, body), = node.items()
        if kind == "ColumnRef":
            return (self.column_ref(body, scope, clause), [])
        if kind == "ParamRef":
            n = body.get("number", 0)
            self.params_seen.setdefault(n, None)
            return (("param", n), [])
        if kind == "TypeCast":
            inner = self.expr(body.get("arg"), scope, clause)
            tname = _type_name(body.get("typeName") or {})
            base, casts = inner if inner else (None, [])
            cast = {"target_type": tname, "schema": None, "table": None, "column": None,
                    "param": None, "compared_schema": None, "compared_table": None,
                    "compared_column": None}
            if base and base[0] == "col":
                cast["schema"], cast["table"], cast["column"] = base[1:]
            elif base and base[0] == "param":
                cast["param"] = base[1]
                if self.params_seen.get(base[1]) is None:
                    self.params_seen[base[1]] = tname
            else:
                return None
            self.casts.append((cast, body.get("location", -1), None))
            return (base, [len(self.casts) - 1] + casts)
        if kind == "A_Expr":
            k = body.get("kind")
            op = _sval((body.get("name") or [{}])[-1]) or ""
            left = self.expr(body.get("lexpr"), scope, clause)
            rex = body.get("rexpr")
            if k == "AEXPR_OP":
                right = self.expr(rex, scope, clause)
                if op in _COMPARE_OPS:
                    self.compare(left, right, op)
                return None
            if k in ("AEXPR_IN", "AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM",
                     "AEXPR_NOT_BETWEEN_SYM"):
                items = (rex or {}).get("List", {}).get("items") if isinstance(rex, dict) else None
                if items is None:
                    items = rex if isinstance(rex, list) else [rex]
                for it in items:
                    self.compare(left, self.expr(it, scope, clause), "=" if k == "AEXPR_IN" else op)
                return None
            right = self.expr(rex, scope, clause)
            if k in _COMPARE_KINDS:
                self.compare(left, right, "=" if k in ("AEXPR_OP_ANY", "AEXPR_NOT_DISTINCT",
                                                       "AEXPR_DISTINCT") and op == "=" else op)
            return None
        if kind == "BoolExpr":
            for a in body.get("args") or ():
                self.expr(a, scope, clause)
            return None
        if kind == "FuncCall":
            name = ".".join(filter(None, (_sval(x) for x in body.get("funcname") or ())))
            if name.startswith("pg_catalog."):
                name = name[len("pg_catalog."):]
            if name:
                self.functions[name] = None
            for a in body.get("args") or ():
                self.expr(a, scope, clause)
            for o in body.get("agg_order") or ():
                self.expr(o.get("SortBy", {}).get("node"), scope, clause)
            self.expr(body.get("agg_filter"), scope, clause)
            over = body.get("over") or {}
            for p in over.get("partitionClause") or ():
                self.expr(p, scope, "other")
            for o in over.get("orderClause") or ():
                self.expr(o.get("SortBy", {}).get("node"), scope, "other")
            return None
        if kind == "SubLink":
            st = body.get("subLinkType")
            sub = body.get("subselect") or {}
            sides = self.statement_in(sub, _Scope(scope))
            if body.get("testexpr"):
                left = self.expr(body.get("testexpr"), scope, clause)
                if st in ("ANY_SUBLINK", "ALL_SUBLINK") and len(sides) == 1:
                    ops = [_sval(x) for x in body.get("operName") or ()]
                    self.compare(left, sides[0], (ops[-1] if ops else "=") or "=")
            return None
        if kind == "RowExpr":
            return (("row", [self.expr(a, scope, clause) for a in body.get("args") or ()]), [])
        if kind == "CollateClause":
            return self.expr(body.get("arg"), scope, clause)
        if kind == "A_Const":
            return (("const",), [])
        if kind == "SortBy":
            return self.expr(body.get("node"), scope, clause)
        if kind == "ResTarget":
            return self.expr(body.get("val"), scope, clause)
        if kind in ("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"):
            self.statement(node, scope)
            return None
        if kind == "RangeVar":
            self.range_var(body, scope)
            return None
        self.generic(body, scope, clause)
        return None

    def generic(self, body, scope: _Scope, clause: str, skip: tuple = ()) -> None:
        """Walk children of a node this analyzer has no special rule for."""
        if isinstance(body, list):
            for x in body:
                if isinstance(x, dict):
                    self._generic_node(x, scope, clause)
            return
        if not isinstance(body, dict):
            return
        for key, val in body.items():
            if key in skip:
                continue
            if isinstance(val, dict):
                self._generic_node(val, scope, clause)
            elif isinstance(val, list):
                for x in val:
                    if isinstance(x, dict):
                        self._generic_node(x, scope, clause)

    def _generic_node(self, node: dict, scope: _Scope, clause: str) -> None:
        if "relname" in node:  # a RangeVar in a typed field is not wrapped in {"RangeVar": ...}
            self.range_var(node, scope)
            return
        if len(node) == 1:
            (k, v), = node.items()
            if k[:1].isupper() and isinstance(v, dict):
                if k == "Constraint" and v.get("pktable"):
                    self.range_var(v["pktable"], scope)
                    self.generic(v, scope, clause, skip=("pktable",))
                    return
                if k in ("String", "Integer", "Float", "Boolean", "BitString", "A_Star"):
                    return
                self.expr(node, scope, clause)
                return
        self.generic(node, scope, clause)

    def column_ref(self, body: dict, scope: _Scope, clause: str):
        fields = body.get("fields") or ()
        names = [_sval(f) for f in fields]
        if not names or names[-1] is None:  # A_Star
            return None
        col = names[-1]
        if HOLE_PREFIX in col:
            return None
        if len(names) == 1:
            if clause in ("order_by", "group_by") and col in scope.outputs:
                return None
            item = scope.single()
            if item is None:
                return None
            if item[0] == "table":
                self.add_column(item[1], item[2], col, clause)
                return ("col", item[1], item[2], col)
            if item[0] == "ambiguous":
                self.add_column(None, None, col, clause)
                return ("col", None, None, col)
            return None
        qual = names[-2]
        schema = names[-3] if len(names) >= 3 else None
        if qual is None or HOLE_PREFIX in qual:
            return None
        item = scope.lookup(qual, schema)
        if item is None:
            self.add_column(None, None, col, clause)
            return ("col", None, None, col)
        if item[0] != "table":
            return None
        self.add_column(item[1], item[2], col, clause)
        return ("col", item[1], item[2], col)


def _sval(node) -> str | None:
    if not isinstance(node, dict):
        return None
    s = node.get("String")
    if s is not None:
        return s.get("sval", "")
    return None


def _type_name(tn: dict) -> str:
    names = [_sval(x) for x in tn.get("names") or ()]
    names = [n for n in names if n]
    if names and names[0] == "pg_catalog" and len(names) > 1:
        names = names[1:]
    name = ".".join(names) or "?"
    if tn.get("arrayBounds"):
        name += "[]"
    return name
