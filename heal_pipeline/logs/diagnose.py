"""What a failed query is about: the table, column or types behind its error message.

:func:`diagnose` reads the message (and DETAIL/HINT/CONTEXT) of a :class:`FailedQuery` with a few
patterns that match PostgreSQL's English messages, and, when the statement parses, uses the parse
tree (pglast) to make the answer exact: the error's ``cursor_position`` points at the node that
failed (the ``ColumnRef`` of a missing column, the ``RangeVar`` of a missing table, the operator of
an ``A_Expr`` whose operand types have no operator, the constant that failed input conversion), and
aliases are resolved through the FROM clauses that enclose that node (``u.last_login_at`` with
``FROM users u`` → table ``users``).

The result always has the keys ``kind``, ``sqlstate``, ``sqlstate_name``, ``schema``, ``table``,
``column``, ``types`` (a list); ``schema`` is None when the statement did not qualify the table
(search_path decides). Other keys appear when known: ``qualifier``, ``operator``, ``operands``
(one dict per operand: ``type`` plus ``schema/table/column``, ``param``, ``literal``, ``function``
or ``cast``), ``function``, ``constraint``, ``key_columns``, ``referenced_table``, ``value``,
``param``, ``suggestion``, ``candidates``, ``cte``, ``token``, ``reason``, ``object_kind``.

``kind`` is one of ``missing_table``, ``missing_column``, ``missing_schema``, ``missing_function``,
``type_mismatch``, ``invalid_input``, ``value_too_long``, ``out_of_range``, ``not_null_violation``,
``fk_violation``, ``unique_violation``, ``check_violation``, ``ambiguous_column``,
``bad_reference`` (``missing FROM-clause entry``), ``syntax_error``, ``permission_denied``,
``canceled``, ``lock_timeout``, ``deadlock``, ``serialization_failure`` or ``other``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pglast import parser as _pg

from .sqlstate import KINDS, sqlstate_name

__all__ = ["diagnose", "split_qualified"]

Node = dict[str, Any]
Parents = tuple[tuple[str, Node], ...]

_STMT_TYPES = frozenset({"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


# --------------------------------------------------------------------------------------
# the parsed statement
# --------------------------------------------------------------------------------------


class _Statement:
    def __init__(self, sql: str, tree: dict):
        self.sql = sql
        self.nodes: list[tuple[str, Node, Parents]] = []
        for item in tree.get("stmts", []):
            self._walk(item.get("stmt"), ())
        self.ctes = {n.get("ctename") for t, n, _ in self.nodes if t == "CommonTableExpr"}

    @classmethod
    def parse(cls, sql: str | None) -> "_Statement | None":
        if not sql:
            return None
        try:
            return cls(sql, json.loads(_pg.parse_sql_json(sql)))
        except Exception:  # noqa: BLE001  (does not parse: message-only diagnosis)
            return None

    def _walk(self, obj: Any, parents: Parents, key: str | None = None) -> None:
        if isinstance(obj, list):
            for x in obj:
                self._walk(x, parents)
            return
        if not isinstance(obj, dict):
            return
        if len(obj) == 1:
            ((k, v),) = obj.items()
            if k[:1].isupper() and isinstance(v, dict):
                self._node(k, v, parents)
                return
        if key in ("relation", "rel") and "relname" in obj:  # a bare RangeVar field
            self._node("RangeVar", obj, parents)
            return
        for fk, fv in obj.items():
            if isinstance(fv, (dict, list)):
                self._walk(fv, parents, fk)

    def _node(self, typ: str, node: Node, parents: Parents) -> None:
        self.nodes.append((typ, node, parents))
        inner = parents + ((typ, node),)
        for fk, fv in node.items():
            if isinstance(fv, (dict, list)):
                self._walk(fv, inner, fk)

    # -- positions ------------------------------------------------------------------------
    def byte_location(self, cursor_position: int | None) -> int | None:
        """PostgreSQL's 1-based *character* position → the parser's 0-based *byte* offset."""
        if not cursor_position or cursor_position < 1:
            return None
        return len(self.sql[:cursor_position - 1].encode("utf-8"))

    def at(self, loc: int | None, *types: str) -> list[tuple[str, Node, Parents]]:
        if loc is None:
            return []
        return [(t, n, p) for t, n, p in self.nodes if n.get("location") == loc and (not types or t in types)]

    def of_type(self, *types: str) -> list[tuple[str, Node, Parents]]:
        return [x for x in self.nodes if x[0] in types]

    # -- scopes ---------------------------------------------------------------------------
    def _entries(self, typ: str, node: Node) -> list[dict]:
        acc: list[dict] = []
        rel = node.get("relation")
        if isinstance(rel, dict):
            rel = rel.get("RangeVar", rel)
            if "relname" in rel:
                acc.append(self._rv_entry(rel))
        for key in ("fromClause", "usingClause"):
            self._from_items(node.get(key) or [], acc)
        if typ == "MergeStmt" and node.get("sourceRelation"):
            self._from_items([node["sourceRelation"]], acc)
        return acc

    def _rv_entry(self, rv: Node) -> dict:
        schema, name = rv.get("schemaname"), rv.get("relname")
        kind = "cte" if schema is None and name in self.ctes else "table"
        return {"kind": kind, "schema": schema, "table": name,
                "alias": (rv.get("alias") or {}).get("aliasname")}

    def _from_items(self, items: list, acc: list[dict]) -> None:
        for it in items:
            if not isinstance(it, dict) or len(it) != 1:
                continue
            ((k, v),) = it.items()
            if k == "RangeVar":
                acc.append(self._rv_entry(v))
            elif k == "JoinExpr":
                self._from_items([v.get("larg"), v.get("rarg")], acc)
            elif k in ("RangeSubselect", "RangeFunction", "RangeTableFunc"):
                alias = (v.get("alias") or {}).get("aliasname")
                acc.append({"kind": "subquery" if k == "RangeSubselect" else "function",
                            "schema": None, "table": None, "alias": alias})

    def scopes(self, parents: Parents | None) -> list[list[dict]]:
        """FROM-clause entries of the statements enclosing a node, innermost first, then all."""
        out: list[list[dict]] = []
        for typ, node in reversed(parents or ()):
            if typ in _STMT_TYPES:
                out.append(self._entries(typ, node))
        everything: list[dict] = []
        for typ, node, _ in self.nodes:
            if typ in _STMT_TYPES:
                everything.extend(self._entries(typ, node))
        out.append(everything)
        return out

    def resolve_qualifier(self, qualifier: str, parents: Parents | None = None) -> dict | None:
        for scope in self.scopes(parents):
            for e in scope:
                if e["alias"] is not None:
                    if e["alias"] == qualifier:
                        return e
                elif e["table"] == qualifier or (e["schema"] and f"{e['schema']}.{e['table']}" == qualifier):
                    return e
        return None

    def single_table(self, parents: Parents | None) -> tuple[dict | None, list[dict]]:
        """The only table in the innermost enclosing FROM (or None), and all candidates there."""
        scopes = self.scopes(parents)
        inner = scopes[0] if len(scopes) > 1 else scopes[-1]
        if len(inner) == 1 and inner[0]["kind"] == "table":
            return inner[0], inner
        return None, inner

    def target_relation(self) -> dict | None:
        """The INSERT/UPDATE/DELETE/MERGE target (first statement that has one)."""
        for typ, node, _ in self.nodes:
            if typ in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
                rel = node.get("relation")
                if isinstance(rel, dict):
                    return self._rv_entry(rel.get("RangeVar", rel))
        return None

    def find_relation(self, name: str) -> dict | None:
        """A RangeVar written as ``name`` (``schema.table`` or ``table``)."""
        for typ, node, _ in self.nodes:
            if typ == "RangeVar":
                full = f"{node['schemaname']}.{node['relname']}" if node.get("schemaname") else node.get("relname")
                if name in (full, node.get("relname")):
                    return self._rv_entry(node)
        return None

    # -- operands -------------------------------------------------------------------------
    def operand(self, node: Any, parents: Parents) -> dict:
        if not isinstance(node, dict) or len(node) != 1:
            return {}
        ((k, v),) = node.items()
        if k == "ColumnRef":
            return self.column_ref(v, parents)
        if k == "ParamRef":
            return {"param": v.get("number")}
        if k == "A_Const":
            return {"literal": _const_value(v)}
        if k == "TypeCast":
            inner = self.operand(v.get("arg"), parents)
            return {**inner, "cast": _type_name(v.get("typeName") or {})}
        if k == "FuncCall":
            return {"function": ".".join(_strings(v.get("funcname")))}
        return {"expression": k}

    def column_ref(self, ref: Node, parents: Parents) -> dict:
        fields = _strings(ref.get("fields"))
        if not fields:
            return {}
        column = fields[-1]
        qual = ".".join(fields[:-1]) or None
        out: dict[str, Any] = {"column": column, "qualifier": qual, "schema": None, "table": None}
        if qual:
            entry = self.resolve_qualifier(qual, parents)
            if entry is None and len(fields) >= 3:
                out["schema"], out["table"] = fields[-3], fields[-2]
            elif entry is not None:
                _apply_entry(out, entry)
        else:
            entry, _ = self.single_table(parents)
            if entry is not None:
                _apply_entry(out, entry)
        return out

    def insert_target_column(self, value_parents: Parents, value_node: Node) -> dict | None:
        """For a constant/parameter inside ``INSERT … VALUES (…)``: the target column."""
        ins = next((n for t, n in reversed(value_parents) if t == "InsertStmt"), None)
        lst = next((n for t, n in reversed(value_parents) if t == "List"), None)
        if ins is None or lst is None:
            return None
        items = lst.get("items") or []
        for idx, it in enumerate(items):
            if isinstance(it, dict) and next(iter(it.values()), None) is value_node:
                cols = ins.get("cols") or []
                if idx < len(cols):
                    name = (cols[idx].get("ResTarget") or {}).get("name")
                    rel = self.target_relation() or {}
                    return {"column": name, "schema": rel.get("schema"), "table": rel.get("table")}
                return None
        return None

    def compared_column(self, node: Node, parents: Parents) -> dict | None:
        """The column on the other side of the comparison (or assignment) holding ``node``."""
        for typ, anc in reversed(parents):
            if typ == "A_Expr":
                for side, other in (("lexpr", "rexpr"), ("rexpr", "lexpr")):
                    if _contains(anc.get(side), node):
                        op = self.operand(anc.get(other), parents)
                        if op.get("column"):
                            return op
                return None
            if typ == "ResTarget" and anc.get("name"):
                if not any(t == "UpdateStmt" for t, _ in parents):
                    return None  # a SELECT alias, not a column
                rel = self.target_relation() or {}  # UPDATE … SET col = value
                return {"column": anc["name"], "schema": rel.get("schema"), "table": rel.get("table")}
            if typ in _STMT_TYPES:
                return None
        return None


def _apply_entry(out: dict, entry: dict) -> None:
    if entry["kind"] == "table":
        out["schema"], out["table"] = entry["schema"], entry["table"]
    elif entry["kind"] == "cte":
        out["cte"] = entry["table"]


def _contains(obj: Any, target: Node) -> bool:
    if obj is target:
        return True
    if isinstance(obj, dict):
        return any(_contains(v, target) for v in obj.values() if isinstance(v, (dict, list)))
    if isinstance(obj, list):
        return any(_contains(v, target) for v in obj)
    return False


def _strings(items: Any) -> list[str]:
    out = []
    for it in items or []:
        if isinstance(it, dict) and "String" in it:
            out.append(it["String"].get("sval", ""))
    return out


def _type_name(tn: Node) -> str:
    names = [n for n in _strings(tn.get("names")) if n != "pg_catalog"]
    return ".".join(names)


def _const_value(c: Node) -> Any:
    for key in ("ival", "fval", "sval", "boolval", "bsval"):
        if key in c:
            v = c[key]
            return next(iter(v.values()), None) if isinstance(v, dict) and v else (0 if key == "ival" else v)
    return None if c.get("isnull") else None


# --------------------------------------------------------------------------------------
# message helpers
# --------------------------------------------------------------------------------------


def split_qualified(name: str) -> tuple[str | None, str]:
    """``billing.refunds`` → ("billing", "refunds"); ``refunds`` → (None, "refunds");
    ``db.billing.refunds`` → ("billing", "refunds")."""
    parts = name.split(".")
    if len(parts) == 1:
        return None, name
    return parts[-2], parts[-1]


_OPERATOR = re.compile(r"^operator does not exist: (?:(?P<l>.+?) )?(?P<op>[-+*/<>=~!@#%^&|`?]+) (?P<r>.+)$")
_FUNCTION = re.compile(r"^function (?P<name>.+?)\((?P<args>.*)\) does not exist$")
_REL_MISSING = re.compile(r'^(?:relation|table) "(?P<name>.+)" does not exist$')
_FROM_MISSING = re.compile(r'^missing FROM-clause entry for table "(?P<name>.+)"$')
_COL_OF_REL = re.compile(r'^column "(?P<col>.+)" of relation "(?P<rel>.+)" does not exist$')
_COL_QUOTED = re.compile(r'^column "(?P<col>.+)" does not exist$')
_COL_QUALIFIED = re.compile(r"^column (?P<ref>.+)\.(?P<col>[^.]+) does not exist$")
_RECORD_FIELD = re.compile(r'^record "(?P<rec>.+)" has no field "(?P<col>.+)"$')
_HINT_COLUMN = re.compile(r'Perhaps you meant to reference the column "(?P<ref>[^"]+)"')
_COL_TYPE = re.compile(r'^column "(?P<col>.+)" is of type (?P<t1>.+) but expression is of type (?P<t2>.+)$')
_ARG_TYPE = re.compile(r"^argument of (?P<what>.+) must be type (?P<t1>.+), not type (?P<t2>.+)$")
_TYPES_MATCH = re.compile(r"^(?P<what>.+) types (?P<t1>.+) and (?P<t2>.+) cannot be matched$")
_FK_TYPES = re.compile(r'^Key columns "(?P<c1>.+)" (?:of the referencing table )?and "(?P<c2>.+)" '
                       r'(?:of the referenced table )?are of incompatible types: (?P<t1>.+) and (?P<t2>.+)\.$')
_CAST = re.compile(r"^cannot cast type (?P<t1>.+) to (?P<t2>.+)$")
_INVALID_INPUT = re.compile(r'^invalid input (?:syntax|value) for (?:type|enum) (?P<type>.+?): "(?P<value>.*)"$')
_PORTAL_PARAM = re.compile(r"(?:unnamed portal|portal \".*\") parameter \$(?P<n>\d+)")
_TOO_LONG = re.compile(r"^value too long for type (?P<type>.+)$")
_OUT_OF_RANGE = re.compile(r"^(?P<type>smallint|integer|bigint|real|double precision)\b.*out of range")
_NOT_NULL = re.compile(r'^null value in column "(?P<col>.+)" of relation "(?P<rel>.+)" violates not-null constraint$')
_FK_INSERT = re.compile(r'^insert or update on table "(?P<rel>.+)" violates foreign key constraint "(?P<con>.+)"$')
_FK_DELETE = re.compile(r'^update or delete on table "(?P<rel>.+)" violates foreign key constraint '
                        r'"(?P<con>.+)" on table "(?P<ref>.+)"$')
_FK_DETAIL = re.compile(r'^Key \((?P<cols>.+?)\)=\((?P<vals>.*)\) is (?:not present in|still referenced from) '
                        r'table "(?P<ref>.+)"\.$')
_UNIQUE = re.compile(r'^duplicate key value violates unique constraint "(?P<con>.+)"$')
_KEY_DETAIL = re.compile(r"^Key \((?P<cols>.+?)\)=\((?P<vals>.*)\) already exists\.$")
_CHECK = re.compile(r'^new row for relation "(?P<rel>.+)" violates check constraint "(?P<con>.+)"$')
_AMBIGUOUS = re.compile(r'^column reference "(?P<col>.+)" is ambiguous$')
_SYNTAX = re.compile(r'^syntax error at (?:or near "(?P<tok>.*)"|end of input)$')
_PERMISSION = re.compile(r"^permission denied for (?P<kind>table|view|schema|sequence|function|"
                         r"materialized view|relation|database|procedure) (?P<name>.+)$")
_SCHEMA_MISSING = re.compile(r'^schema "(?P<name>.+)" does not exist$')
_CANCELED = re.compile(r"^canceling statement due to (?P<reason>.+)$")


# --------------------------------------------------------------------------------------
# diagnose
# --------------------------------------------------------------------------------------


def diagnose(failed) -> dict[str, Any]:
    """What ``failed`` (a :class:`FailedQuery` or a :class:`LogRecord`) is about; see the module doc."""
    code = getattr(failed, "sqlstate", None)
    msg = (getattr(failed, "message", None) or "").strip()
    out: dict[str, Any] = {"kind": KINDS.get(code or "", "other"), "sqlstate": code,
                           "sqlstate_name": sqlstate_name(code), "schema": None, "table": None,
                           "column": None, "types": []}
    stmt = _Statement.parse(getattr(failed, "statement", None))
    loc = stmt.byte_location(getattr(failed, "cursor_position", None)) if stmt else None
    ctx = _Ctx(failed, msg, stmt, loc)
    handler = _HANDLERS.get(code or "")
    if handler is not None:
        try:
            handler(out, ctx)
        except Exception as exc:  # noqa: BLE001  (a log line must never crash the asset)
            out["diagnose_error"] = f"{type(exc).__name__}: {exc}"
    return out


class _Ctx:
    def __init__(self, failed, msg: str, stmt: _Statement | None, loc: int | None):
        self.msg = msg
        self.detail = (getattr(failed, "detail", None) or "").strip()
        self.hint = (getattr(failed, "hint", None) or "").strip()
        self.context = (getattr(failed, "context", None) or "").strip()
        self.stmt = stmt
        self.loc = loc


def _table_from_name(out: dict, ctx: _Ctx, name: str) -> None:
    entry = ctx.stmt.find_relation(name) if ctx.stmt else None
    if entry is not None:
        out["schema"], out["table"] = entry["schema"], entry["table"]
    else:
        out["schema"], out["table"] = split_qualified(name)


def _target_table(out: dict, ctx: _Ctx, name: str | None = None) -> None:
    """Table of an INSERT/UPDATE target, or named in the message (schema from the statement)."""
    if name:
        _table_from_name(out, ctx, name)
        return
    rel = ctx.stmt.target_relation() if ctx.stmt else None
    if rel is not None:
        out["schema"], out["table"] = rel["schema"], rel["table"]


def _h_missing_table(out: dict, ctx: _Ctx) -> None:
    m = _REL_MISSING.match(ctx.msg)
    if m:
        hits = ctx.stmt.at(ctx.loc, "RangeVar") if ctx.stmt else []
        if hits:
            node = hits[0][1]
            out["schema"], out["table"] = node.get("schemaname"), node.get("relname")
        else:
            _table_from_name(out, ctx, m["name"])
        return
    m = _FROM_MISSING.match(ctx.msg)
    if m:
        out["kind"] = "bad_reference"
        out["qualifier"] = m["name"]


def _h_missing_column(out: dict, ctx: _Ctx) -> None:
    stmt = ctx.stmt
    m = _COL_OF_REL.match(ctx.msg)
    if m:
        out["column"] = m["col"]
        _table_from_name(out, ctx, m["rel"])
        return
    m = _RECORD_FIELD.match(ctx.msg)
    if m:
        out["column"], out["qualifier"] = m["col"], m["rec"]
        return
    hint = _HINT_COLUMN.search(ctx.hint)
    if hint:
        out["suggestion"] = hint["ref"].rsplit(".", 1)[-1]
    # the ColumnRef the error points at is exact (quoted names, dots, case)
    hits = stmt.at(ctx.loc, "ColumnRef") if stmt else []
    if hits:
        _, node, parents = hits[0]
        ref = stmt.column_ref(node, parents)
        out.update({k: v for k, v in ref.items() if v is not None or k in ("schema", "table")})
    else:
        parents = None
        m = _COL_QUOTED.match(ctx.msg)
        if m:
            out["column"], out["qualifier"] = m["col"], None
        else:
            m = _COL_QUALIFIED.match(ctx.msg)
            if m:
                out["column"], out["qualifier"] = m["col"], m["ref"]
        if stmt and out.get("qualifier"):
            entry = stmt.resolve_qualifier(out["qualifier"])
            if entry is not None:
                _apply_entry(out, entry)
            elif "." in out["qualifier"]:
                out["schema"], out["table"] = split_qualified(out["qualifier"])
        elif stmt and out.get("column"):
            entry, _ = stmt.single_table(None)
            if entry is not None:
                _apply_entry(out, entry)
        # without a statement a qualifier may be an alias or a table name: table stays None
    if out["table"] is None and out.get("cte") is None and stmt is not None:
        # unqualified and several tables in scope: PostgreSQL's hint names the likely one
        if hint and "." in hint["ref"]:
            entry = stmt.resolve_qualifier(hint["ref"].rsplit(".", 1)[0],
                                           hits[0][2] if hits else None)
            if entry is not None:
                _apply_entry(out, entry)
        if out["table"] is None:
            _, cands = stmt.single_table(hits[0][2] if hits else None)
            tables = [{"schema": e["schema"], "table": e["table"]} for e in cands if e["kind"] == "table"]
            if tables:
                out["candidates"] = tables
    if out.get("qualifier") is None:
        out.pop("qualifier", None)


def _h_undefined_function(out: dict, ctx: _Ctx) -> None:
    m = _OPERATOR.match(ctx.msg)
    if m:
        out["kind"] = "type_mismatch"
        out["operator"] = m["op"]
        out["types"] = [t for t in (m["l"], m["r"]) if t]
        hits = ctx.stmt.at(ctx.loc, "A_Expr") if ctx.stmt else []
        if hits:
            _, node, parents = hits[0]
            sides = [s for s in ("lexpr", "rexpr") if node.get(s) is not None]
            operands = []
            for side, typ in zip(sides, out["types"]):
                op = ctx.stmt.operand(node.get(side), parents + (("A_Expr", node),))
                operands.append({"type": typ, **{k: v for k, v in op.items() if v is not None}})
            out["operands"] = operands
            _first_column(out, operands)
        return
    m = _FUNCTION.match(ctx.msg)
    if m:
        out["kind"] = "missing_function"
        out["function"] = m["name"]
        out["types"] = _split_types(m["args"])
        hits = ctx.stmt.at(ctx.loc, "FuncCall") if ctx.stmt else []
        if hits:
            _, node, parents = hits[0]
            operands = []
            for arg, typ in zip(node.get("args") or [], out["types"]):
                op = ctx.stmt.operand(arg, parents + (("FuncCall", node),))
                operands.append({"type": typ, **{k: v for k, v in op.items() if v is not None}})
            out["operands"] = operands
            _first_column(out, operands)


def _first_column(out: dict, operands: list[dict]) -> None:
    for op in operands:
        if op.get("column"):
            out["schema"], out["table"], out["column"] = op.get("schema"), op.get("table"), op["column"]
            return


def _split_types(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _h_datatype_mismatch(out: dict, ctx: _Ctx) -> None:
    m = _COL_TYPE.match(ctx.msg)
    if m:
        out["column"], out["types"] = m["col"], [m["t1"], m["t2"]]
        _target_table(out, ctx)
        return
    m = _ARG_TYPE.match(ctx.msg) or _TYPES_MATCH.match(ctx.msg)
    if m:
        out["types"] = [m["t1"], m["t2"]]
        out["reason"] = m["what"]
        return
    m = _FK_TYPES.match(ctx.detail)
    if m:
        out["types"] = [m["t1"], m["t2"]]
        out["key_columns"] = [m["c1"], m["c2"]]


def _h_cannot_coerce(out: dict, ctx: _Ctx) -> None:
    m = _CAST.match(ctx.msg)
    if m:
        out["types"] = [m["t1"], m["t2"]]


def _h_invalid_input(out: dict, ctx: _Ctx) -> None:
    m = _INVALID_INPUT.match(ctx.msg)
    if not m:
        return
    out["types"], out["value"] = [m["type"]], m["value"]
    stmt = ctx.stmt
    if stmt is None:
        return
    targets: list[tuple[Node, Parents]] = []
    hits = stmt.at(ctx.loc, "A_Const")
    if hits:
        targets = [(h[1], h[2]) for h in hits]
    else:
        pm = _PORTAL_PARAM.search(ctx.context)
        if pm:
            out["param"] = int(pm["n"])
            targets = [(n, p) for t, n, p in stmt.of_type("ParamRef") if n.get("number") == out["param"]]
    for node, parents in targets:
        col = stmt.compared_column(node, parents) or stmt.insert_target_column(parents, node)
        if col and col.get("column"):
            out["schema"], out["table"], out["column"] = col.get("schema"), col.get("table"), col["column"]
            return


def _h_too_long(out: dict, ctx: _Ctx) -> None:
    m = _TOO_LONG.match(ctx.msg)
    if m:
        out["types"] = [m["type"]]
        _target_table(out, ctx)


def _h_out_of_range(out: dict, ctx: _Ctx) -> None:
    m = _OUT_OF_RANGE.match(ctx.msg)
    if m:
        out["types"] = [m["type"]]


def _h_not_null(out: dict, ctx: _Ctx) -> None:
    m = _NOT_NULL.match(ctx.msg)
    if m:
        out["column"] = m["col"]
        _table_from_name(out, ctx, m["rel"])


def _key_columns(cols: str) -> list[str]:
    return _split_types(cols)


def _h_fk(out: dict, ctx: _Ctx) -> None:
    m = _FK_INSERT.match(ctx.msg) or _FK_DELETE.match(ctx.msg)
    if m:
        out["constraint"] = m["con"]
        _table_from_name(out, ctx, m["rel"])
        if "ref" in m.groupdict() and m["ref"]:
            out["referencing_table"] = m["ref"]
    d = _FK_DETAIL.match(ctx.detail)
    if d:
        out["key_columns"] = _key_columns(d["cols"])
        out["value"] = d["vals"]
        if "is not present in" in ctx.detail:
            out["referenced_table"] = d["ref"]
        if len(out["key_columns"]) == 1:
            out["column"] = out["key_columns"][0]


def _h_unique(out: dict, ctx: _Ctx) -> None:
    m = _UNIQUE.match(ctx.msg)
    if m:
        out["constraint"] = m["con"]
    d = _KEY_DETAIL.match(ctx.detail)
    if d:
        out["key_columns"] = _key_columns(d["cols"])
        out["value"] = d["vals"]
        if len(out["key_columns"]) == 1:
            out["column"] = out["key_columns"][0]
    _target_table(out, ctx)


def _h_check(out: dict, ctx: _Ctx) -> None:
    m = _CHECK.match(ctx.msg)
    if m:
        out["constraint"] = m["con"]
        _table_from_name(out, ctx, m["rel"])


def _h_ambiguous(out: dict, ctx: _Ctx) -> None:
    m = _AMBIGUOUS.match(ctx.msg)
    if m:
        out["column"] = m["col"]
        if ctx.stmt:
            hits = ctx.stmt.at(ctx.loc, "ColumnRef")
            _, cands = ctx.stmt.single_table(hits[0][2] if hits else None)
            out["candidates"] = [{"schema": e["schema"], "table": e["table"]} for e in cands
                                 if e["kind"] == "table"]


def _h_syntax(out: dict, ctx: _Ctx) -> None:
    m = _SYNTAX.match(ctx.msg)
    if m:
        out["token"] = m["tok"]


def _h_permission(out: dict, ctx: _Ctx) -> None:
    m = _PERMISSION.match(ctx.msg)
    if m:
        out["object_kind"] = m["kind"]
        if m["kind"] == "schema":
            out["schema"] = m["name"]
        elif m["kind"] in ("table", "view", "materialized view", "relation", "sequence"):
            _table_from_name(out, ctx, m["name"])


def _h_schema(out: dict, ctx: _Ctx) -> None:
    m = _SCHEMA_MISSING.match(ctx.msg)
    if m:
        out["schema"] = m["name"]


def _h_canceled(out: dict, ctx: _Ctx) -> None:
    m = _CANCELED.match(ctx.msg)
    if m:
        out["reason"] = m["reason"]


_HANDLERS = {
    "42P01": _h_missing_table,
    "42703": _h_missing_column,
    "42883": _h_undefined_function,
    "42804": _h_datatype_mismatch,
    "42846": _h_cannot_coerce,
    "22P02": _h_invalid_input,
    "22007": _h_invalid_input,
    "22001": _h_too_long,
    "22003": _h_out_of_range,
    "23502": _h_not_null,
    "23503": _h_fk,
    "23505": _h_unique,
    "23514": _h_check,
    "42702": _h_ambiguous,
    "42601": _h_syntax,
    "42501": _h_permission,
    "3F000": _h_schema,
    "57014": _h_canceled,
    "55P03": _h_canceled,
}
