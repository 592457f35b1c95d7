"""Data flow the Python extractor follows beyond one call (issue 12 item 5), as a mixin of it.

- *wrappers*: a function whose parameter is the SQL of an execute-like call inside it
  (``async def fetch(query, *args): return await pool.fetch(query, *args)``) is recorded in the
  module record (``wrappers``); calls elsewhere that pass SQL-looking text at that position are
  candidate sites (``wrapper_candidate``) that the scanner's post-pass keeps once it knows the
  wrapper exists (``scanner._PostPass.wrapper_callers``);
- lists of bound parameters built step by step (``params.append(x)``, ``.extend``, ``+=``);
- ORM table declarations: SQLAlchemy ``Table("t", metadata, …)`` and ``__tablename__``
  (module record ``tables`` → code finding ``table_declaration``).

Also home of the binding-op constants and small AST helpers the extractor shares with it.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from heal_pipeline.codescan import template as T

if TYPE_CHECKING:  # annotations only (the extractor imports this module)
    from heal_pipeline.codescan.python import _Scope, _Site

# binding ops
_EQ, _ADD, _PARAM, _RUNTIME, _IMPORT, _DEF, _CLASS = "=", "+=", "param", "runtime", "import", "def", "class"

_SQL_START = re.compile(r"\s*\(?\s*(select|insert|update|delete|with|copy|create|alter|drop|"
                        r"truncate|merge|values|explain|call|lock|grant|revoke|comment|refresh)\b",
                        re.IGNORECASE)


class DataFlow:
    """Methods of ``python._Extractor`` for the data flow above (it provides resolve, find_binding…)."""

    def built_items(self, name: str, scope: _Scope, pos) -> list:
        """Values appended to the list ``name`` before ``pos`` (``.append(v)``, ``.extend([..])``, ``+= [..]``)."""
        out = []
        events = [(p, v) for p, v in scope.appends.get(name, ()) if p < pos]
        events += [(b[0], b[2]) for b in scope.bindings.get(name, ()) if b[1] == _ADD and b[0] < pos]
        for _p, v in sorted(events, key=lambda e: e[0]):
            if type(v) in (ast.List, ast.Tuple):
                out.extend(e for e in v.elts if type(e) is not ast.Starred)
            elif v is not None:
                out.append(v)
        return out

    # ---- ORM declarations: SQLAlchemy Table("users", metadata, …) / __tablename__ = "users" --
    def orm_model(self, node, cs: _Scope) -> None:
        b = cs.bindings["__tablename__"][-1]
        value = b[2]
        if b[1] != _EQ or type(value) is not ast.Constant or not isinstance(value.value, str):
            return
        schema = None
        args = cs.bindings.get("__table_args__")
        if args and args[-1][1] == _EQ:
            a = args[-1][2]
            if type(a) is ast.Tuple and a.elts and type(a.elts[-1]) is ast.Dict:
                a = a.elts[-1]
            if type(a) is ast.Dict:
                for k, v in zip(a.keys, a.values):
                    if type(k) is ast.Constant and k.value == "schema" and type(v) is ast.Constant:
                        schema = v.value if isinstance(v.value, str) else None
        self.tables.append({"name": value.value, "schema": schema, "line": b[0][0],
                            "col": self.col(b[0][0], b[0][1]), "via": "__tablename__", "class": node.name})

    def table_call(self, call, scope: _Scope) -> None:
        q = self.qualified(call.func) or ""
        first = call.args[0]
        if "sqlalchemy" not in q and not q.endswith((".Table",)) or len(call.args) < 2:
            return  # Table(...) of another library: needs sqlalchemy's (name, metadata, ...) shape
        if type(first) is not ast.Constant or not isinstance(first.value, str):
            return
        schema = _kw(call, "schema")
        self.tables.append({"name": first.value,
                            "schema": schema.value if type(schema) is ast.Constant and isinstance(
                                schema.value, str) else None,
                            "line": call.lineno, "col": self.col(call.lineno, call.col_offset),
                            "via": "Table()", "class": None})

    # ---- wrappers: def fetch(query, *args): return pool.fetch(query, *args) -----------------
    def wrapper_of(self, arg, call, arg_index: int, scope: _Scope, pos) -> dict | None:
        """Record ``scope``'s function as a wrapper when the SQL argument is its own parameter."""
        if type(arg) is not ast.Name or scope.node is None or type(scope.node) not in (
                ast.FunctionDef, ast.AsyncFunctionDef):
            return None
        b = self.find_binding(arg.id, scope, pos)
        if b is None or b[0] != _PARAM or b[2] is not scope:
            return None
        fn = scope.node
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        if scope.cls is not None and params and not _is_static(fn):
            params = params[1:]  # self / cls
        if arg.id not in params:
            return None
        w = {"name": fn.name, "qualname": scope.qualname, "sql_index": params.index(arg.id), "sql_kw": arg.id,
             "line": fn.lineno, "call": call.func.attr if type(call.func) is ast.Attribute else None}
        self.wrappers.append(w)
        return w

    def wrapper_call(self, cand: _Site) -> dict | None:
        """A call that passes SQL text to what may be a wrapper: a candidate site (see run())."""
        call, scope, k = cand.call, cand.scope, cand.wrapper_index
        pos = (call.lineno, call.col_offset)
        self.reason = None
        arg = _kw(call, k[3:]) if isinstance(k, str) else call.args[k]
        parts = self.resolve(arg, scope, pos, set(), 0, top=True)
        head = T.constant_text(parts[:1]) if parts else None
        if not parts or not head or not _SQL_START.match(head):
            return None
        out = {"line": call.lineno, "col": self.col(call.lineno, call.col_offset), "call": cand.name,
               "function": scope.qualname if scope.kind != "module" else None, "_id": id(call),
               "kind": self.source_kind(arg, scope, pos), "parts": parts,
               "hint": "colon" if self._text_hint else None, "loop": cand.loop,
               "args": self.bound_args(call, k, scope, pos, cand.name) if isinstance(k, int) else [],
               "wrapper_candidate": k}
        if cand.dialect is not None:
            out["dialect"] = cand.dialect
        return out


def _kw(call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _is_static(node) -> bool:
    for d in node.decorator_list:
        if type(d) is ast.Name and d.id == "staticmethod":
            return True
    return False


_SQL_NAMES = frozenset({"sql", "query", "q", "stmt", "statement", "sql_text"})


def _sqlish_arg(args) -> int | None:
    """Index (0-2) of an argument that looks like SQL text, cheaply, without resolving names."""
    for k, a in enumerate(args[:3]):
        t = type(a)
        if t is ast.Constant:
            if isinstance(a.value, str) and _SQL_START.match(a.value):
                return k
        elif t is ast.JoinedStr:
            v = a.values[0] if a.values else None
            if type(v) is ast.Constant and isinstance(v.value, str) and _SQL_START.match(v.value):
                return k
        elif t is ast.Name:
            if a.id in _SQL_NAMES or (a.id.isupper() and len(a.id) > 2):
                return k
        elif t is ast.BinOp and type(a.op) is ast.Add and type(a.left) is ast.Constant \
                and isinstance(a.left.value, str) and _SQL_START.match(a.left.value):
            return k
    return None
