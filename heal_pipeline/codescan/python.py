"""Python source -> module record: the SQL call sites of one module, traced with ``ast``.

Everything Python-specific lives here. The output is a plain JSON-able *module record*
(cached per file content by the scanner)::

    {
      "imports": {local_name: [level, module, name_or_None]},
      "star":    [[level, module], ...],                 # from m import *
      "exports": {NAME: template},                        # module-level string constants
      "helpers": {name: {line, col, cast, param, qualname}},  # def f(x): return str(x)
      "sites":   [site, ...],                             # execute-like calls with SQL
      "untraced": [{line, col, call, function, detail, reason}],
    }

A *site* is language-neutral (a TypeScript scanner emits the same)::

    {line, col, call, function, kind (source_kind), parts (template, see template.py),
     hint ("colon" for SQLAlchemy text(), else None), loop (line of the enclosing loop over
     another query's rows, or None), args: [{key, cast, line, col, via, helper, ref}]}

``args`` lists the bound arguments that are wrapped in a Python cast (``int(x)``), in a call
to a cast-only helper, or in a call to an imported function that may be one (``ref``);
``key`` is the 0-based position or the name of the parameter.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from typing import Any

from heal_pipeline.codescan import template as T
from heal_pipeline.codescan.dialect import branch_dialects, name_dialect
from heal_pipeline.codescan.flow import (_ADD, _CLASS, _DEF, _EQ, _IMPORT, _PARAM, _RUNTIME, _SQL_START,
                                         DataFlow, _is_static, _kw, _sqlish_arg)

DEFAULT_CALL_NAMES: frozenset[str] = frozenset({
    "execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchone", "fetchall",
    "copy", "copy_*", "text",
})

#: Python casts that can paper over a type mismatch, by qualified callee name
CASTS = {
    "int": "int", "str": "str", "float": "float", "uuid.UUID": "uuid.UUID",
    "decimal.Decimal": "decimal.Decimal",
}
#: modules whose calls generate a new value (uuid4(), token_hex(), now()): casting it is no workaround
_VALUE_MAKERS = {"uuid", "secrets", "random", "time", "datetime"}
#: keyword names that carry the SQL text
_SQL_KEYWORDS = ("query", "sql", "statement", "operation", "stmt")
#: keyword names that carry the bound parameters
_PARAM_KEYWORDS = ("params", "parameters", "args", "vars", "values", "variables")
#: copy variants whose first argument is a table name, not SQL (psycopg2 / asyncpg)
_COPY_TABLE = {"copy_from": "FROM STDIN", "copy_to": "TO STDOUT",
               "copy_to_table": "FROM STDIN", "copy_records_to_table": "FROM STDIN",
               "copy_from_table": "TO STDOUT"}
#: receivers that are stdlib modules, never database handles (``shutil.copy(a, b)``)
_NOT_DB_MODULES = {"copy", "shutil", "os", "subprocess", "asyncio", "pathlib", "itertools",
                   "functools", "operator", "concurrent", "multiprocessing", "threading",
                   "textwrap", "json", "re", "string"}
_PSYCOPG_SQL = {"psycopg.sql", "psycopg2.sql"}
#: calls whose result is rows of a query (besides the execute-like names)
_RESULT_ATTRS = {"fetchmany", "fetchall"}
#: calls that iterate a query given as their argument (asyncpg ``cursor``, psycopg ``stream``)
_CURSOR_ATTRS = {"cursor", "stream"}
_DEDENT = {"textwrap.dedent", "inspect.cleandoc"}
#: calls whose result is a generated token (no input can reach the SQL text through them)
_GENERATORS = {"uuid.uuid4", "uuid.uuid1", "uuid4", "uuid1", "secrets.token_hex", "secrets.token_urlsafe"}
_MAX_DEPTH = 24

_PY312 = sys.version_info >= (3, 12)


class CallNames:
    """Configured execute-like method names (exact names, or prefixes as ``copy_*``)."""

    def __init__(self, names: set[str] | frozenset[str] | None = None):
        names = set(DEFAULT_CALL_NAMES if names is None else names)
        self.exact = {n for n in names if not n.endswith("*")}
        self.prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
        alts = sorted(re.escape(n) for n in self.exact if n != "text")
        alts += [re.escape(p) + r"\w*" for p in self.prefixes]
        self._re = re.compile(rb"\b(?:" + "|".join(a for a in alts).encode() + rb")\s*\(") if alts else None
        self.signature = ",".join(sorted(names))

    def __contains__(self, name: str) -> bool:
        return name in self.exact or (bool(self.prefixes) and name.startswith(self.prefixes))

    def prefilter(self, data: bytes) -> bool:
        """Cheap test on raw bytes: could this file contain an execute-like call?"""
        if self._re is not None and self._re.search(data):
            return True
        if b"__tablename__" in data or b"Table(" in data:
            return True  # ORM table declarations (table references without SQL)
        return "text" in self.exact and b"sqlalchemy" in data and b"text" in data


# --------------------------------------------------------------------------------------
# decoding and bad input
# --------------------------------------------------------------------------------------

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_GENERATED = re.compile(
    r"(?i)(@generated\b|\bauto-?generated\b|\bgenerated\s+(by|from|automatically|code|file)\b|"
    r"\bcode\s+generated\b|\b(file|module)\s+(is|was)\s+(automatically\s+)?generated\b|"
    r"\bdo\s+not\s+edit\b)")


def decode_source(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason why the file is skipped)."""
    if b"\x00" in data[:8192]:
        return None, "binary file (NUL bytes)"
    encoding = "utf-8"
    for line in data.split(b"\n", 2)[:2]:
        m = _CODING.match(line)
        if m:
            encoding = m.group(1).decode("ascii", "replace")
            break
    try:
        text = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        if isinstance(exc, LookupError):
            return None, f"unknown source encoding {encoding!r}"
        return None, f"not valid {encoding}: byte {exc.start} (0x{data[exc.start]:02x})"
    return text, None


def generated_header(text: str, lines: int = 5) -> str | None:
    """The header line that marks a generated file, if any (comments/docstring on top)."""
    for line in text.split("\n", lines)[:lines]:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#") or s.startswith(('"""', "'''", '"', "'")) or not s[:1].isalpha():
            if _GENERATED.search(s):
                return s[:120]
    return None


# --------------------------------------------------------------------------------------
# scopes
# --------------------------------------------------------------------------------------

# binding ops


class _Scope:
    __slots__ = ("kind", "name", "qualname", "parent", "cls", "bindings", "executed", "node",
                 "helpers", "classes", "appends")

    def __init__(self, kind: str, name: str, qualname: str, parent: "_Scope | None", node=None):
        self.kind = kind
        self.name = name
        self.qualname = qualname
        self.parent = parent
        self.cls: _Scope | None = None  # for methods: the class scope
        self.bindings: dict[str, list[tuple]] = {}  # name -> [(pos, op, value)]
        self.executed: dict[str, tuple] = {}  # receiver name -> first pos of .execute(...)
        self.node = node
        self.helpers: dict[str, dict] = {}  # functions defined here that only cast
        self.classes: dict[str, _Scope] = {}
        self.appends: dict[str, list] = {}  # list name -> [(pos, value)] of .append/.extend

    def bind(self, name: str, pos: tuple, op: str, value=None) -> None:
        self.bindings.setdefault(name, []).append((pos, op, value))


class _Site:
    __slots__ = ("call", "scope", "loop", "name", "dialect", "wrapper_index")

    def __init__(self, call, scope, loop, name, dialect=None, wrapper_index=None):
        self.call = call
        self.scope = scope
        self.loop = loop
        self.name = name
        self.dialect = dialect  # see dialect.py: the engine the enclosing branch is written for
        # a call to a name that is no execute-like method, with SQL-looking text at this argument:
        # a site only if the post-pass finds a wrapper of that name (see wrappers in the record)
        self.wrapper_index = wrapper_index


# --------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------


def extract(source: str, call_names: CallNames, *, tree: ast.Module | None = None) -> dict[str, Any]:
    """Module record for ``source`` (raises SyntaxError/ValueError on unparsable source)."""
    if tree is None:
        tree = ast.parse(source)
    ex = _Extractor(source, call_names)
    return ex.run(tree)


class _Extractor(DataFlow):
    def __init__(self, source: str, names: CallNames):
        self.source = source
        self._lines: list[str] | None = None
        self.names = names
        self.imports: dict[str, list] = {}
        self.star: list[list] = []
        self.sites: list[_Site] = []
        self.consumed: set[int] = set()  # ids of text() calls used by an enclosing site
        self.module = _Scope("module", "", "", None)
        self.reason: str | None = None
        self.dialect: str | None = None  # of the branch being walked (``if db.is_sqlite:``)
        self.wrappers: list[dict] = []  # functions whose SQL is their own parameter
        self.tables: list[dict] = []  # ORM table declarations
        self.foreign_binds: set[tuple] = set()  # positions of assignments in another engine's branch

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.source.splitlines()
        return self._lines

    # ---- pass 1: scopes, bindings, candidate calls -----------------------------------
    def run(self, tree: ast.Module) -> dict[str, Any]:
        self.body(tree.body, self.module, None)
        record: dict[str, Any] = {"imports": self.imports, "star": self.star}
        # module exports: string-ish module-level constants (resolving them must not mark a
        # module-level text() call as consumed: only an execute-like call consumes it)
        exports = {}
        for name, binds in self.module.bindings.items():
            eqs = [b for b in binds if b[1] in (_EQ, _ADD)]
            if not eqs or not _stringish(eqs[-1][2] if eqs[-1][1] == _EQ else None, eqs):
                continue
            parts = self.lookup_in(name, self.module, None, set(), 0)
            if parts is not None:
                exports[name] = parts
        self.consumed.clear()
        record["exports"] = exports
        record["helpers"] = {k: v for k, v in self.module.helpers.items()}
        sites, untraced = [], []
        for cand in self.sites:
            try:
                out = self.site(cand)
            except RecursionError:
                raise
            except Exception as exc:  # noqa: BLE001 - lose one call, not the file
                out = {"line": cand.call.lineno, "col": self.col(cand.call.lineno, cand.call.col_offset),
                       "call": cand.name, "function": cand.scope.qualname or None, "_id": id(cand.call),
                       "detail": f"scanner error on this call: {type(exc).__name__}: {exc}",
                       "reason": "scanner error"}
            if out is None:
                continue
            (sites if "parts" in out else untraced).append(out)
        # text() calls that an enclosing execute() already reported are not sites of their own
        sites = [s for s in sites if s.pop("_id") not in self.consumed]
        for u in untraced:
            u.pop("_id", None)
        record["sites"] = sites
        record["untraced"] = untraced
        if self.wrappers:
            record["wrappers"] = self.wrappers
        if self.tables:
            record["tables"] = self.tables
        return record

    def body(self, stmts, scope: _Scope, loop) -> None:
        outer = self.dialect
        for st in stmts:
            self.stmt(st, scope, loop)
            if type(st) is ast.If and not st.orelse and st.body and \
                    type(st.body[-1]) in (ast.Return, ast.Raise, ast.Continue, ast.Break):
                # a guard: ``if not db.is_sqlite: return …`` — the rest of the block is the else
                no = branch_dialects(st.test)[1]
                if no is not None:
                    self.dialect = no
        self.dialect = outer

    def stmt(self, node, scope: _Scope, loop) -> None:
        t = type(node)
        if t is ast.Expr:
            self.expr(node.value, scope, loop)
        elif t is ast.Assign:
            self.expr(node.value, scope, loop)
            pos = (node.lineno, node.col_offset)
            if self.dialect not in (None, "postgresql"):
                self.foreign_binds.add(pos)  # GET = "… ?" under ``if IS_SQLITE:``
            for tgt in node.targets:
                self.bind_target(tgt, scope, pos, node.value)
        elif t is ast.AnnAssign:
            if node.value is not None:
                self.expr(node.value, scope, loop)
                self.bind_target(node.target, scope, (node.lineno, node.col_offset), node.value)
        elif t is ast.AugAssign:
            self.expr(node.value, scope, loop)
            if type(node.target) is ast.Name:
                op = _ADD if type(node.op) is ast.Add else _RUNTIME
                scope.bind(node.target.id, (node.lineno, node.col_offset), op, node.value)
        elif t is ast.Return:
            if node.value is not None:
                self.expr(node.value, scope, loop)
        elif t in (ast.FunctionDef, ast.AsyncFunctionDef):
            self.function(node, scope)
        elif t is ast.ClassDef:
            for d in node.decorator_list:
                self.expr(d, scope, loop)
            q = f"{scope.qualname}.{node.name}" if scope.qualname else node.name
            cs = _Scope("class", node.name, q, scope, node)
            scope.bind(node.name, (node.lineno, node.col_offset), _CLASS, cs)
            scope.classes[node.name] = cs
            outer = self.dialect
            self.dialect = name_dialect(node.name) or outer  # class SqliteDatabase: its SQL is SQLite's
            self.body(node.body, cs, None)
            self.dialect = outer
            if "__tablename__" in cs.bindings:
                self.orm_model(node, cs)
        elif t in (ast.For, ast.AsyncFor):
            self.expr(node.iter, scope, loop)
            pos = (node.lineno, node.col_offset)
            self.bind_runtime(node.target, scope, pos)
            inner = loop
            if self.is_query(node.iter, scope, pos):
                inner = node.lineno
            self.body(node.body, scope, inner)
            self.body(node.orelse, scope, loop)
        elif t is ast.If:
            self.expr(node.test, scope, loop)
            outer = self.dialect
            yes, no = branch_dialects(node.test)
            self.dialect = yes or outer
            self.body(node.body, scope, loop)
            self.dialect = no or outer
            self.body(node.orelse, scope, loop)
            self.dialect = outer
        elif t is ast.While:
            self.expr(node.test, scope, loop)
            self.body(node.body, scope, loop)
            self.body(node.orelse, scope, loop)
        elif t in (ast.With, ast.AsyncWith):
            for item in node.items:
                self.expr(item.context_expr, scope, loop)
                if item.optional_vars is not None:
                    self.bind_runtime(item.optional_vars, scope, (node.lineno, node.col_offset))
            self.body(node.body, scope, loop)
        elif t is ast.Try or t.__name__ == "TryStar":
            self.body(node.body, scope, loop)
            for h in node.handlers:
                if h.name:
                    scope.bind(h.name, (h.lineno, h.col_offset), _RUNTIME)
                self.body(h.body, scope, loop)
            self.body(node.orelse, scope, loop)
            self.body(node.finalbody, scope, loop)
        elif t is ast.Import:
            for a in node.names:
                if a.asname:
                    spec = [0, a.name, None]
                    local = a.asname
                else:
                    local = a.name.split(".", 1)[0]
                    spec = [0, local, None]
                self.imports[local] = spec
                scope.bind(local, (node.lineno, node.col_offset), _IMPORT, spec)
        elif t is ast.ImportFrom:
            mod = node.module or ""
            for a in node.names:
                if a.name == "*":
                    self.star.append([node.level or 0, mod])
                    continue
                spec = [node.level or 0, mod, a.name]
                local = a.asname or a.name
                self.imports[local] = spec
                scope.bind(local, (node.lineno, node.col_offset), _IMPORT, spec)
        elif t is ast.Match:
            self.expr(node.subject, scope, loop)
            for c in node.cases:
                self.body(c.body, scope, loop)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.stmt(child, scope, loop)
                elif isinstance(child, ast.expr):
                    self.expr(child, scope, loop)

    def function(self, node, scope: _Scope) -> None:
        for d in node.decorator_list:
            self.expr(d, scope, None)
        q = f"{scope.qualname}.{node.name}" if scope.qualname else node.name
        fs = _Scope("function", node.name, q, scope, node)
        fs.cls = scope if scope.kind == "class" else None
        scope.bind(node.name, (node.lineno, node.col_offset), _DEF, node)
        pos = (node.lineno, node.col_offset)
        args = node.args
        params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        if args.vararg:
            params.append(args.vararg.arg)
        if args.kwarg:
            params.append(args.kwarg.arg)
        for p in params:
            fs.bind(p, pos, _PARAM)
        helper = self.helper_of(node, scope)
        if helper is not None:
            helper["qualname"] = q
            scope.helpers[node.name] = helper
        self.body(node.body, fs, None)

    def helper_of(self, node, scope: _Scope) -> dict | None:
        """``def f(x): return str(x)`` -> {cast, param, line, col} (docstring allowed)."""
        body = node.body
        if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if len(body) != 1 or type(body[0]) is not ast.Return or body[0].value is None:
            return None
        params = [a.arg for a in node.args.posonlyargs + node.args.args]
        if scope.kind == "class" and params and not _is_static(node):
            params = params[1:]
        cast = self.cast_name(body[0].value, scope)
        if cast is None:
            return None
        arg = _cast_arg(body[0].value)
        if type(arg) is not ast.Name or arg.id not in params:
            return None
        return {"line": node.lineno, "col": self.col(node.lineno, node.col_offset),
                "cast": cast, "param": arg.id}

    def bind_target(self, tgt, scope: _Scope, pos, value) -> None:
        tt = type(tgt)
        if tt is ast.Name:
            scope.bind(tgt.id, pos, _EQ, value)
        elif tt in (ast.Tuple, ast.List):
            vals = value.elts if type(value) in (ast.Tuple, ast.List) and len(value.elts) == len(tgt.elts) else None
            for i, e in enumerate(tgt.elts):
                if vals is not None:
                    self.bind_target(e, scope, pos, vals[i])
                else:
                    self.bind_runtime(e, scope, pos)
        elif tt is ast.Attribute and type(tgt.value) is ast.Name and tgt.value.id == "self":
            fs = scope
            if fs.kind == "function" and fs.cls is not None:
                if fs.name == "__init__" or tgt.attr in fs.cls.bindings:
                    # set in __init__, or set again in another method (self._name = "" in __init__,
                    # then f"SP_{uuid}" before use): the latest assignment in the class wins
                    fs.cls.bind(tgt.attr, pos, _EQ, _InScope(value, fs))

    def bind_runtime(self, tgt, scope: _Scope, pos) -> None:
        for n in ast.walk(tgt):
            if type(n) is ast.Name:
                scope.bind(n.id, pos, _RUNTIME)

    def expr(self, node, scope: _Scope, loop) -> None:
        """Walk an expression looking for calls, comprehensions and walrus bindings."""
        stack = [node]
        while stack:
            n = stack.pop()
            t = type(n)
            if t is ast.Call:
                f = n.func
                ft = type(f)
                site = False
                name = None
                if ft is ast.Attribute:
                    name = f.attr
                    if name in ("append", "extend") and type(f.value) is ast.Name and len(n.args) == 1:
                        # a list of bound parameters built step by step (see built_items)
                        v = n.args[0]
                        if name == "append" or type(v) in (ast.List, ast.Tuple):
                            scope.appends.setdefault(f.value.id, []).append(((n.lineno, n.col_offset), v))
                    if name in self.names:
                        site = True
                        self.sites.append(_Site(n, scope, loop, name, self.dialect))
                        if type(f.value) is ast.Name:
                            scope.executed.setdefault(f.value.id, (n.lineno, n.col_offset))
                elif ft is ast.Name:
                    name = f.id
                    if name in self.names.exact:
                        site = True
                        if name != "copy":
                            # bare calls: SQLAlchemy's text(), or a configured wrapper (run_query(...))
                            self.sites.append(_Site(n, scope, loop, name, self.dialect))
                if name is not None and not site and (n.args or n.keywords):
                    if name == "Table" and n.args:
                        self.table_call(n, scope)
                    # a call that may go to a wrapper (def run_query(sql, *args)): SQL-looking argument
                    k = _sqlish_arg(n.args) if n.args else None
                    if k is None:
                        for kw in n.keywords:  # run_sql(conn, sql="SELECT …"): by the parameter's name
                            if kw.arg and _sqlish_arg([kw.value]) == 0:
                                k = "kw:" + kw.arg
                                break
                    if k is not None:
                        self.sites.append(_Site(n, scope, loop, name, self.dialect, k))
                stack.extend(reversed(n.args))
                stack.extend(k.value for k in n.keywords)
                stack.append(f)
            elif t in (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp):
                inner = loop
                for g in n.generators:
                    self.expr(g.iter, scope, inner)
                    pos = (g.iter.lineno, g.iter.col_offset)
                    self.bind_runtime(g.target, scope, pos)
                    if self.is_query(g.iter, scope, pos):
                        inner = g.iter.lineno
                    for c in g.ifs:
                        self.expr(c, scope, inner)
                if t is ast.DictComp:
                    self.expr(n.key, scope, inner)
                    self.expr(n.value, scope, inner)
                else:
                    self.expr(n.elt, scope, inner)
            elif t is ast.Lambda:
                self.expr(n.body, scope, None)
            elif t is ast.NamedExpr:
                stack.append(n.value)
                if type(n.target) is ast.Name:
                    scope.bind(n.target.id, (n.lineno, n.col_offset), _EQ, n.value)
            elif t in (ast.Constant, ast.Name):
                continue
            else:
                for c in ast.iter_child_nodes(n):
                    stack.append(c)

    def is_query(self, node, scope: _Scope, pos) -> bool:
        """Is ``node`` (a loop iterable) the result of a query?"""
        seen = 0
        while True:
            seen += 1
            if seen > 8:
                return False
            t = type(node)
            if t is ast.Await:
                node = node.value
                continue
            if t is ast.Call:
                f = node.func
                if type(f) is ast.Attribute:
                    if f.attr in self.names and f.attr != "text":
                        return True
                    if f.attr in _RESULT_ATTRS or (f.attr in _CURSOR_ATTRS and node.args):
                        return True
                    node = f.value
                    continue
                if type(f) is ast.Name and f.id in ("list", "tuple", "enumerate", "sorted",
                                                    "reversed", "iter") and node.args:
                    node = node.args[0]
                    continue
                return False
            if t is ast.Name:
                if node.id in scope.executed and scope.executed[node.id] < pos:
                    return True
                binds = scope.bindings.get(node.id)
                if not binds:
                    return False
                prior = [b for b in binds if b[0] < pos and b[1] == _EQ]
                if not prior:
                    return False
                node = prior[-1][2]
                continue
            if t is ast.Attribute:
                node = node.value
                continue
            return False

    # ---- helpers ---------------------------------------------------------------------
    def col(self, lineno: int, col_offset: int) -> int:
        """1-based character column from ast's UTF-8 byte offset."""
        try:
            line = self.lines[lineno - 1]
        except IndexError:
            return col_offset + 1
        if line.isascii():
            return col_offset + 1
        return len(line.encode("utf-8")[:col_offset].decode("utf-8", "ignore")) + 1

    def qualified(self, node, scope: _Scope | None = None) -> str | None:
        """Dotted name with the first component replaced by what it was imported as."""
        parts = []
        while type(node) is ast.Attribute:
            parts.append(node.attr)
            node = node.value
        if type(node) is not ast.Name:
            return None
        parts.append(node.id)
        parts.reverse()
        spec = self.imports.get(parts[0])
        if spec is not None:
            level, mod, name = spec
            base = mod if name is None else (f"{mod}.{name}" if mod else name)
            if level:
                base = "." * level + base
            parts[0] = base
        return ".".join(parts)

    def cast_name(self, node, scope: _Scope | None) -> str | None:
        """``int(x)`` -> "int" when ``node`` is a cast of one non-constant argument."""
        if type(node) is ast.JoinedStr:
            vals = node.values
            if len(vals) == 1 and type(vals[0]) is ast.FormattedValue and vals[0].format_spec is None:
                return "str"
            return None
        if type(node) is not ast.Call or len(node.args) != 1 or node.keywords:
            return None
        if type(node.args[0]) is ast.Constant or type(node.args[0]) is ast.Starred:
            return None
        if type(node.args[0]) is ast.Call and (self.qualified(node.args[0].func) or "").split(".")[0] in _VALUE_MAKERS \
                and not (self.qualified(node.args[0].func) or "").endswith(".UUID"):
            return None  # str(uuid.uuid4()): a value generated here, not a cast of an id (issue 12.7)
        q = self.qualified(node.func)
        if q is None:
            return None
        if q in CASTS:
            if "." not in q and scope is not None and self._shadowed(q, scope):
                return None
            return CASTS[q]
        if q.endswith(".UUID") and q.split(".")[-2] == "uuid":
            return "uuid.UUID"
        return None

    def _shadowed(self, name: str, scope: _Scope) -> bool:
        s: _Scope | None = scope
        while s is not None:
            if name in s.bindings:
                return True
            s = s.parent
        return False

    # ---- pass 2: sites ---------------------------------------------------------------
    def site(self, cand: _Site) -> dict | None:
        if cand.wrapper_index is not None:
            return self.wrapper_call(cand)
        call = cand.call
        name = cand.name
        scope = cand.scope
        f = call.func
        if type(f) is ast.Attribute:
            recv = f.value
            if type(recv) is ast.Name:
                spec = self.imports.get(recv.id)
                if spec is not None and spec[2] is None and spec[1].split(".")[0] in _NOT_DB_MODULES:
                    return None
            if name == "text":
                q = self.qualified(f)
                if not q or "sqlalchemy" not in q:
                    return None
        elif name == "text":
            q = self.qualified(f)
            if not q or "sqlalchemy" not in q:
                return None
        pos = (call.lineno, call.col_offset)
        base = {"line": call.lineno, "col": self.col(call.lineno, call.col_offset), "call": name,
                "function": scope.qualname if scope.kind != "module" else None, "_id": id(call)}
        arg = None
        arg_index = 0
        if call.args and type(call.args[0]) is ast.Starred:
            # cur.execute(*query) with query = ("SELECT …", (a, b)) bound earlier: its items
            inner = call.args[0].value
            b = self.find_binding(inner.id, scope, pos) if type(inner) is ast.Name else None
            if b is not None and b[0] == _EQ and type(b[1]) in (ast.Tuple, ast.List) and b[1].elts \
                    and not any(type(e) is ast.Starred for e in b[1].elts):
                call = ast.Call(func=call.func, args=list(b[1].elts) + call.args[1:], keywords=call.keywords,
                                lineno=call.lineno, col_offset=call.col_offset)
        if call.args:
            arg = call.args[0]
            if type(arg) is ast.Starred:
                return dict(base, reason="starred argument",
                            detail=f"SQL argument `{_label(arg, self.source)}` of {name}() is unpacked "
                                   "at run time and could not be traced to text")
        if arg is None:
            for k in call.keywords:
                if k.arg in _SQL_KEYWORDS or (name in _COPY_TABLE and k.arg in ("table", "table_name")):
                    arg = k.value
                    arg_index = -1
                    break
        if name in ("copy_from", "copy_to"):
            # psycopg2: copy_from(file, table, sep, null, size, columns)
            arg = call.args[1] if len(call.args) > 1 else _kw(call, "table")
            arg_index = -1
        if arg is None:
            return None  # cur.fetchall(), conn.execute() with nothing: not an SQL call
        if type(arg) is ast.Constant and not isinstance(arg.value, str):
            return None  # cur.fetchmany(10)
        self.reason = None
        kind = self.source_kind(arg, scope, pos)
        hint = None
        if name in _COPY_TABLE:
            parts = self.copy_table(call, arg, name, scope, pos)
        else:
            if name == "text":
                hint = "colon"
            parts = self.resolve(arg, scope, pos, set(), 0, top=True)
            if parts is not None and self._text_hint:
                hint = "colon"
            if parts is None and arg_index == 0:
                # a wrapper whose SQL is not the first argument (run_query(conn, "SELECT ..."))
                saved = self.reason
                for i, other in enumerate(call.args[1:], start=1):
                    if type(other) is ast.Starred:
                        break
                    alt = self.resolve(other, scope, pos, set(), 0, top=True)
                    head = T.constant_text(alt[:1]) if alt else None
                    if head and _SQL_START.match(head):
                        parts, arg, arg_index = alt, other, i
                        kind = self.source_kind(arg, scope, pos)
                        hint = "colon" if self._text_hint else hint
                        break
                self.reason = saved
        if parts is None or not parts:
            out = dict(base)
            detail = _label(arg, self.source)
            out["reason"] = self.reason or _reason(arg)
            out["detail"] = f"SQL argument `{detail}` of {name}() could not be traced to text"
            if out["reason"] == "parameter" and scope.kind == "function":
                w = self.wrapper_of(arg, call, arg_index, scope, pos)
                if w is not None:
                    out["wrapper"] = w["name"]  # dropped once callers of the wrapper are found
                out["detail"] += (f": it is a parameter of {scope.qualname}(); add "
                                  f"{scope.name!r} to the scanner's call names to trace its callers")
            return out
        out = dict(base)
        if cand.dialect is not None:
            out["dialect"] = cand.dialect
        out["kind"] = kind
        out["parts"] = parts
        out["hint"] = hint
        out["loop"] = cand.loop
        out["args"] = self.bound_args(call, arg_index, scope, pos, name)
        return out

    _text_hint = False

    def source_kind(self, arg, scope: _Scope, pos) -> str:
        t = type(arg)
        if t is ast.Constant:
            return "concat" if self._is_implicit_concat(arg) else "literal"
        if t is ast.JoinedStr:
            return "fstring"
        if t is ast.BinOp:
            return "percent" if type(arg.op) is ast.Mod else "concat"
        if t is ast.Call:
            f = arg.func
            if type(f) is ast.Attribute and f.attr == "format":
                q = self.qualified(f.value.func) if type(f.value) is ast.Call else None
                if q and q.rsplit(".", 1)[0] in _PSYCOPG_SQL | {"sql"} and q.endswith(".SQL"):
                    return "composed"
                return "format"
            q = self.qualified(f)
            if q and (q.endswith(".SQL") or q.endswith(".Composed")) and q.rsplit(".", 1)[0] in _PSYCOPG_SQL:
                return "composed"
            if arg.args:
                return self.source_kind(arg.args[0], scope, pos)
            return "literal"
        if t is ast.Name:
            s: _Scope | None = scope
            while s is not None:
                if arg.id in s.bindings:
                    return "name" if s.kind == "function" else "constant"
                s = s.parent
            return "constant"
        return "constant"

    def _is_implicit_concat(self, node) -> bool:
        seg = self._segment(node)
        if seg is None:
            return False
        body = seg.lstrip("rRbBuUfF")
        for q in ('"""', "'''", '"', "'"):
            if body.startswith(q):
                if body.endswith(q) and body.count(q) == 2 and "\\" not in body:
                    return False
                break
        try:
            toks = [t for t in tokenize.generate_tokens(io.StringIO(seg).readline)
                    if t.type == tokenize.STRING]
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return False
        return len(toks) > 1

    def _segment(self, node) -> str | None:
        try:
            lines = self.lines[node.lineno - 1:node.end_lineno]
        except (TypeError, IndexError):
            return None
        if not lines:
            return None
        lines = [line.encode("utf-8") for line in lines]
        if len(lines) == 1:
            seg = lines[0][node.col_offset:node.end_col_offset]
        else:
            lines[0] = lines[0][node.col_offset:]
            lines[-1] = lines[-1][:node.end_col_offset]
            seg = b"\n".join(lines)
        return seg.decode("utf-8", "replace")

    # ---- linemaps --------------------------------------------------------------------
    def linemap(self, node, value: str) -> list:
        if node.end_lineno == node.lineno:
            return [[0, node.lineno, 0]]
        if value.count("\n") == node.end_lineno - node.lineno:
            return [[0, node.lineno, 1]]
        seg = self._segment(node)
        if seg is not None:
            try:
                bps = []
                off = 0
                for tok in tokenize.generate_tokens(io.StringIO(seg).readline):
                    if tok.type != tokenize.STRING:
                        continue
                    v = ast.literal_eval(tok.string)
                    if not isinstance(v, str):
                        break
                    line = node.lineno + tok.start[0] - 1
                    nl = 1 if v.count("\n") == tok.end[0] - tok.start[0] else 0
                    bps.append([off, line, nl])
                    off += len(v)
                if bps and off == len(value):
                    return bps
            except (tokenize.TokenError, SyntaxError, ValueError, IndentationError):
                pass
        return [[0, node.lineno, 0]]

    # ---- resolution ------------------------------------------------------------------
    def resolve(self, node, scope: _Scope, pos, seen: set, depth: int, top: bool = False):
        """Template parts for ``node`` or None when it is not traceable to text."""
        if depth > _MAX_DEPTH:
            return None
        if top:
            self._text_hint = False
        t = type(node)
        if t is _InScope:
            return self.resolve(node.node, node.scope, (10 ** 9, 0), seen, depth + 1)
        if t is ast.Constant:
            v = node.value
            if isinstance(v, str):
                return [T.text(v, self.linemap(node, v))]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not top:
                return [T.text(str(v))]
            return None
        if t is ast.JoinedStr:
            return self.fstring(node, scope, pos, seen, depth)
        if t is ast.BinOp:
            if type(node.op) in (ast.Add, ast.Sub, ast.Mult) and (_numeric(node.left) or _numeric(node.right)) \
                    and not (type(node.op) is ast.Mult and _stringy(node.left, node.right)):
                return [T.hole("number", _label(node, self.source), node.lineno)]  # idx + 1
            if type(node.op) is ast.Add:
                left = self.resolve(node.left, scope, pos, seen, depth + 1)
                right = self.resolve(node.right, scope, pos, seen, depth + 1)
                if left is None and right is None:
                    return None
                if left is None:
                    left = [self.runtime(node.left, "concat")]
                if right is None:
                    right = [self.runtime(node.right, "concat")]
                return left + right
            if type(node.op) is ast.Mod:
                recv = self.resolve(node.left, scope, pos, seen, depth + 1)
                if recv is None:
                    return None
                r = node.right
                args = kwargs = None
                if type(r) is ast.Tuple:
                    args = [self.resolve_value(e, scope, pos, seen, depth, "percent") for e in r.elts]
                elif type(r) is ast.Dict:
                    if all(type(k) is ast.Constant and isinstance(k.value, str) for k in r.keys):
                        kwargs = {k.value: self.resolve_value(v, scope, pos, seen, depth, "percent")
                                  for k, v in zip(r.keys, r.values)}
                else:
                    val = self.resolve_value(r, scope, pos, seen, depth, "percent")
                    args = [val]
                label = _label(r, self.source)
                if not T.is_resolved(recv):
                    return [["op", "percent", recv, args, kwargs or {}, node.lineno]]
                return T.percent_format(recv, args, kwargs, node.lineno, label)
            return None
        if t is ast.Call:
            return self.resolve_call(node, scope, pos, seen, depth)
        if t is ast.Name:
            return self.lookup_in(node.id, scope, pos, seen, depth)
        if t is ast.Attribute:
            if node.attr == "hex" and self._generated(node.value, scope, pos, seen, depth):
                return [T.hole("generated", _label(node, self.source), node.lineno)]  # uuid4().hex
            return self.resolve_attribute(node, scope, pos, seen, depth)
        if t is ast.IfExp:
            # "... ?" if db.is_sqlite else "... $1": the branch that is not another engine's first
            first, second = node.body, node.orelse
            if branch_dialects(node.test)[0] not in (None, "postgresql"):
                first, second = second, first
            a = self.resolve(first, scope, pos, seen, depth + 1)
            if a is not None:
                return a
            return self.resolve(second, scope, pos, seen, depth + 1)
        if t is ast.Subscript:
            return self.resolve_subscript(node, scope, pos, seen, depth)
        if t is ast.Await:
            return None
        return None

    def resolve_value(self, node, scope, pos, seen, depth, via: str):
        """A value formatted into SQL: its parts when traceable, else a runtime hole."""
        got = self.resolve(node, scope, pos, seen, depth + 1)
        return got if got is not None else [self.runtime(node, via)]

    def runtime(self, node, via: str) -> list:
        return T.hole("runtime", _label(node, self.source), getattr(node, "lineno", None), via)

    def fstring(self, node, scope, pos, seen, depth):
        parts: list = []
        line = node.lineno
        multi = node.end_lineno != node.lineno
        for v in node.values:
            if type(v) is ast.Constant:
                if _PY312 and (v.lineno, v.col_offset) != (node.lineno, node.col_offset):
                    lm = self.linemap(v, v.value)
                else:
                    lm = [[0, line, 1 if multi else 0]]
                parts.append(T.text(v.value, lm))
            elif type(v) is ast.FormattedValue:
                inner = None
                if v.format_spec is None and v.conversion in (-1, 115):
                    inner = self.resolve(v.value, scope, pos, seen, depth + 1)
                if inner is None:
                    parts.append(self.runtime(v.value, "fstring"))
                else:
                    parts.extend(inner)
                line = getattr(v.value, "end_lineno", line) or line
        return parts

    def resolve_call(self, node, scope, pos, seen, depth):
        f = node.func
        if type(f) is ast.Attribute:
            attr = f.attr
            if attr == "format":
                recv = self.resolve(f.value, scope, pos, seen, depth + 1)
                if recv is None:
                    return None
                composed = self.is_psycopg(f.value)
                args = [self.format_arg(a, scope, pos, seen, depth, composed) for a in node.args
                        if type(a) is not ast.Starred]
                kwargs = {k.arg: self.format_arg(k.value, scope, pos, seen, depth, composed)
                          for k in node.keywords if k.arg}
                if any(type(a) is ast.Starred for a in node.args) or any(k.arg is None for k in node.keywords):
                    args = kwargs = None
                if not T.is_resolved(recv):
                    return [["op", "format", recv, args, kwargs or {}, node.lineno]]
                return T.str_format(recv, args, kwargs, node.lineno, _label(node, self.source))
            if attr in ("strip", "lstrip", "rstrip", "as_string") and not node.args[1:]:
                if attr != "as_string" and node.args:
                    return None
                return self.resolve(f.value, scope, pos, seen, depth + 1)
            if attr in ("replace", "lower", "upper") and self._generated(f.value, scope, pos, seen, depth):
                return [T.hole("generated", _label(node, self.source), node.lineno)]
            if attr == "join" and len(node.args) == 1:
                if self.is_psycopg(f.value):
                    return [T.hole("composed", _label(node, self.source), node.lineno)]
                sep = self.resolve(f.value, scope, pos, seen, depth + 1)
                if sep is None:
                    return None
                return self.join(sep, node.args[0], scope, pos, seen, depth)
        q = self.qualified(f)
        if q is None:
            return None
        if q in _GENERATORS:  # uuid.uuid4(), secrets.token_hex(): a generated token, never input
            return [T.hole("generated", _label(node, self.source), node.lineno)]
        last = q.rsplit(".", 1)[-1]
        if q in _DEDENT or q == "dedent" or (last in ("dedent", "cleandoc") and node.args):
            return self.resolve(node.args[0], scope, pos, seen, depth + 1) if node.args else None
        if last == "text" and "sqlalchemy" in q and node.args:
            self.consumed.add(id(node))
            self._text_hint = True
            return self.resolve(node.args[0], scope, pos, seen, depth + 1)
        if self.is_psycopg_q(q):
            if last == "SQL" and node.args:
                return self.resolve(node.args[0], scope, pos, seen, depth + 1)
            if last == "Composed" and node.args and type(node.args[0]) in (ast.List, ast.Tuple):
                out = []
                for e in node.args[0].elts:
                    out.extend(self.format_arg(e, scope, pos, seen, depth, True) or [])
                return out
            return [T.hole("composed", _label(node, self.source), node.lineno)]
        if last == "str" and q == "str" and node.args:
            return self.resolve(node.args[0], scope, pos, seen, depth + 1)
        if q in ("len", "int") and len(node.args) == 1 and not self._shadowed(q, scope):
            return [T.hole("number", _label(node, self.source), node.lineno)]  # f"${len(params)}"
        return None

    def _generated(self, node, scope, pos, seen, depth) -> bool:
        got = self.resolve(node, scope, pos, seen, depth + 1) if type(node) is ast.Call else None
        return bool(got) and len(got) == 1 and got[0][0] == "h" and got[0][1] == "generated"

    def join(self, sep, arg, scope, pos, seen, depth):
        t = type(arg)
        if t in (ast.List, ast.Tuple):
            out: list = []
            for i, e in enumerate(arg.elts):
                v = self.resolve(e, scope, pos, seen, depth + 1)
                if i:
                    out.extend(sep)
                out.extend(v if v is not None else [self.runtime(e, "join")])
            return out
        if t in (ast.ListComp, ast.GeneratorExp):
            v = self.resolve(arg.elt, scope, pos, seen, depth + 1)
            if v is not None and not T.is_dynamic(v):
                return v  # ", ".join("%s" for _ in ids): one representative
            return [self.runtime(arg, "join")]
        if t is ast.BinOp and type(arg.op) is ast.Mult and type(arg.left) is ast.List and len(arg.left.elts) == 1:
            v = self.resolve(arg.left.elts[0], scope, pos, seen, depth + 1)
            if v is not None:
                return v  # ",".join(["%s"] * len(ids))
        if t is ast.Name:
            binds = self.find_binding(arg.id, scope, pos)
            if binds is not None and binds[0] == _EQ and type(binds[1]) in (ast.List, ast.Tuple):
                built = self.built_items(arg.id, binds[2], pos) if type(binds[1]) is ast.List else []
                if built:  # conds = [] … conds.append(f"a = ${n}") … " AND ".join(conds)
                    return self.join(sep, ast.List(elts=list(binds[1].elts) + built), binds[2], pos,
                                     seen, depth + 1)
                return self.join(sep, binds[1], binds[2], pos, seen, depth + 1)
        return [self.runtime(arg, "join")]

    def is_psycopg(self, node) -> bool:
        """Is ``node`` a psycopg ``sql.SQL(...)``/``Composed`` expression?"""
        while type(node) is ast.Call:
            q = self.qualified(node.func)
            if q is not None and self.is_psycopg_q(q):
                return True
            f = node.func
            if type(f) is ast.Attribute and f.attr in ("format", "join"):
                node = f.value
                continue
            return False
        return False

    def is_psycopg_q(self, q: str) -> bool:
        head = q.rsplit(".", 1)[0]
        return head in _PSYCOPG_SQL

    def format_arg(self, node, scope, pos, seen, depth, composed: bool):
        if composed and type(node) is ast.Call:
            q = self.qualified(node.func) or ""
            if self.is_psycopg_q(q):
                last = q.rsplit(".", 1)[-1]
                if last == "Identifier":
                    names = [self.resolve(a, scope, pos, seen, depth + 1) for a in node.args]
                    if names and all(n is not None and T.constant_text(n) is not None for n in names):
                        return [T.text(".".join('"' + T.constant_text(n).replace('"', '""') + '"'
                                                for n in names))]
                    return [T.hole("ident", _label(node, self.source), node.lineno)]
                if last == "Literal":
                    return [T.hole("literal", _label(node, self.source), node.lineno)]
                if last == "Placeholder":
                    if node.args and type(node.args[0]) is ast.Constant:
                        return [T.text(f"%({node.args[0].value})s")]
                    return [T.text("%s")]
                if last == "SQL" and node.args:
                    return self.resolve(node.args[0], scope, pos, seen, depth + 1)
                return [T.hole("composed", _label(node, self.source), node.lineno)]
            if self.is_psycopg(node):
                return self.resolve(node, scope, pos, seen, depth + 1) or \
                    [T.hole("composed", _label(node, self.source), node.lineno)]
        if composed:
            v = self.resolve(node, scope, pos, seen, depth + 1)
            return v if v is not None else [T.hole("composed", _label(node, self.source), node.lineno)]
        return self.resolve_value(node, scope, pos, seen, depth, "format")

    def resolve_attribute(self, node, scope, pos, seen, depth):
        base = node.value
        chain = [node.attr]
        while type(base) is ast.Attribute:
            chain.append(base.attr)
            base = base.value
        if type(base) is not ast.Name:
            return None
        chain.reverse()
        root = base.id
        # self.X / cls.X -> class attribute
        if root in ("self", "cls") and len(chain) == 1:
            s: _Scope | None = scope
            while s is not None and s.kind == "function" and s.cls is None:
                s = s.parent
            if s is not None and s.cls is not None:
                return self.lookup_in(chain[0], s.cls, None, seen, depth + 1, local_only=True)
            return None
        b = self.find_binding(root, scope, pos)
        if b is None:
            return None
        op, value, bscope = b
        if op == _IMPORT:
            level, mod, name = value
            if name is None:
                return [["r", level, mod, chain, node.lineno]]
            return [["r", level, mod, [name] + chain, node.lineno]]
        if op == _CLASS and len(chain) == 1:
            return self.lookup_in(chain[0], value, None, seen, depth + 1, local_only=True)
        return None

    def resolve_subscript(self, node, scope, pos, seen, depth):
        key = node.slice
        if type(key) is not ast.Constant or not isinstance(key.value, str) or type(node.value) is not ast.Name:
            return None
        b = self.find_binding(node.value.id, scope, pos)
        if b is None or b[0] != _EQ or type(b[1]) is not ast.Dict:
            return None
        for k, v in zip(b[1].keys, b[1].values):
            if type(k) is ast.Constant and k.value == key.value:
                return self.resolve(v, b[2], pos, seen, depth + 1)
        return None

    def find_binding(self, name: str, scope: _Scope, pos):
        """(op, value, scope) of the binding of ``name`` visible at ``pos``."""
        s: _Scope | None = scope
        first = True
        while s is not None:
            if s.kind == "class" and not first:
                s = s.parent
                continue
            binds = s.bindings.get(name)
            if binds:
                chosen = _choose(binds, pos if s is scope else None)
                if chosen is not None:
                    return chosen[1], chosen[2], s
            first = False
            s = s.parent
        return None

    def lookup_in(self, name: str, scope: _Scope, pos, seen: set, depth: int, local_only=False):
        key = (id(scope), name)
        if key in seen or depth > _MAX_DEPTH:
            return None
        s: _Scope | None = scope
        first = True
        while s is not None:
            if s.kind == "class" and not first:
                s = s.parent
                continue
            binds = s.bindings.get(name)
            if binds:
                return self.evaluate(name, binds, s, pos if s is scope else None,
                                     seen | {key}, depth + 1)
            if local_only:
                return None
            first = False
            s = s.parent
        if name in self.imports:
            level, mod, nm = self.imports[name]
            if nm is None:
                return None
            return [["r", level, mod, [nm], None]]
        if self.star:
            return [["r", lv, mod, [name], None] for lv, mod in self.star[:1]]
        self.reason = self.reason or "unresolved name"
        return None

    def evaluate(self, name, binds, scope: _Scope, pos, seen, depth):
        prior = [b for b in binds if pos is None or b[0] < pos] or binds
        plain_i = None
        for i in range(len(prior) - 1, -1, -1):
            if prior[i][1] != _ADD:
                if plain_i is None:
                    plain_i = i
                if prior[i][0] not in self.foreign_binds:
                    plain_i = i  # the latest binding not made in another engine's branch
                    break
        if plain_i is None:
            return None
        bpos, op, value = prior[plain_i]
        if op == _PARAM:
            self.reason = "parameter"
            return None
        if op == _IMPORT:
            level, mod, nm = value
            if nm is None:
                return None
            return [["r", level, mod, [nm], None]]
        if op != _EQ:
            self.reason = self.reason or ("runtime value" if op == _RUNTIME else None)
            return None
        adds = [b for b in prior[plain_i + 1:] if b[1] == _ADD]
        if adds and _numeric(value):
            # ``n = 1`` … ``n += 1``: arithmetic, never string concatenation ("$1111" was seen)
            return [T.hole("number", name, bpos[0])]
        parts = self.resolve(value, scope, bpos, seen, depth)
        if parts is None:
            return None
        if adds and len(parts) == 1 and parts[0][0] == "h" and parts[0][1] == "number":
            return parts
        for b in prior[plain_i + 1:]:
            if b[1] == _ADD:
                more = self.resolve(b[2], scope, b[0], seen, depth)
                parts = parts + (more if more is not None else [self.runtime(b[2], "concat")])
        return parts

    # ---- Python-side casts of bound arguments ------------------------------------------
    def bound_args(self, call, arg_index: int, scope: _Scope, pos, name: str) -> list:
        if arg_index < 0:
            return []
        rest = [a for a in call.args[arg_index + 1:]]
        container = None
        for k in call.keywords:
            if k.arg in _PARAM_KEYWORDS:
                container = k.value
        items: list[tuple[Any, Any]] = []
        if container is None and len(rest) == 1 and type(rest[0]) is ast.Starred:
            rest = [rest[0].value]  # fetch(sql, *params): the items of params, in order
            if type(rest[0]) not in (ast.Tuple, ast.List, ast.Name):
                return []
        if container is None and len(rest) == 1 and not any(type(a) is ast.Starred for a in rest):
            c = rest[0]
            if type(c) in (ast.Tuple, ast.List, ast.Dict, ast.ListComp, ast.GeneratorExp) or \
                    (type(c) is ast.Call and type(c.func) is ast.Name and c.func.id == "dict"):
                container = c
            elif type(c) is ast.Name:
                b = self.find_binding(c.id, scope, pos)
                if b is not None and b[0] == _EQ and type(b[1]) in (ast.Tuple, ast.List, ast.Dict,
                                                                    ast.ListComp, ast.GeneratorExp):
                    container = b[1]
                    built = self.built_items(c.id, b[2], pos) if type(b[1]) is ast.List else []
                    if built:
                        # params = [] … params.append(int(x)) / params += [y]: the list as built
                        items = self.container_items(container) + \
                            [(len(container.elts) + k, v) for k, v in enumerate(built)]
                        container = None
                else:
                    return []
            else:
                items = [(0, c)]
        elif container is None:
            items = [(i, a) for i, a in enumerate(rest) if type(a) is not ast.Starred]
        if container is not None:
            items = self.container_items(container)
        out = []
        for key, value in items:
            rec = self.cast_record(value, scope, pos)
            if rec is not None:
                rec["key"] = key
                out.append(rec)
        return out

    def container_items(self, c) -> list:
        t = type(c)
        if t in (ast.Tuple, ast.List):
            if len(c.elts) >= 1 and all(type(e) in (ast.Tuple, ast.List, ast.Dict) for e in c.elts):
                # executemany(sql, [(a, b), (c, d)])
                out = []
                for e in c.elts:
                    out.extend(self.container_items(e))
                return out
            return [(i, e) for i, e in enumerate(c.elts) if type(e) is not ast.Starred]
        if t is ast.Dict:
            return [(k.value, v) for k, v in zip(c.keys, c.values)
                    if type(k) is ast.Constant and isinstance(k.value, str)]
        if t is ast.Call:
            return [(k.arg, k.value) for k in c.keywords if k.arg]
        if t in (ast.ListComp, ast.GeneratorExp):
            return self.container_items(c.elt)
        return []

    def cast_record(self, value, scope: _Scope, pos, depth: int = 0) -> dict | None:
        cast = self.cast_name(value, scope)
        if cast is not None:
            return {"cast": cast, "line": value.lineno, "col": self.col(value.lineno, value.col_offset),
                    "via": "direct", "helper": None, "ref": None}
        if type(value) is ast.Call and len(value.args) == 1 and not value.keywords:
            f = value.func
            h = None
            if type(f) is ast.Name:
                b = self.find_binding(f.id, scope, pos)
                if b is not None and b[0] == _DEF:
                    h = b[2].helpers.get(f.id)
                elif b is not None and b[0] == _IMPORT and b[1][2] is not None:
                    level, mod, nm = b[1]
                    return {"cast": None, "line": value.lineno,
                            "col": self.col(value.lineno, value.col_offset), "via": "helper",
                            "helper": nm, "ref": [level, mod, [nm]]}
            elif type(f) is ast.Attribute and type(f.value) is ast.Name:
                if f.value.id in ("self", "cls"):
                    s: _Scope | None = scope
                    while s is not None and s.kind == "function" and s.cls is None:
                        s = s.parent
                    if s is not None and s.cls is not None:
                        h = s.cls.helpers.get(f.attr)
                else:
                    b = self.find_binding(f.value.id, scope, pos)
                    if b is not None and b[0] == _IMPORT and b[1][2] is None:
                        level, mod, _ = b[1]
                        return {"cast": None, "line": value.lineno,
                                "col": self.col(value.lineno, value.col_offset), "via": "helper",
                                "helper": f.attr, "ref": [level, mod, [f.attr]]}
                    if b is not None and b[0] == _CLASS:
                        h = b[1].helpers.get(f.attr)
            if h is not None:
                return {"cast": h["cast"], "line": value.lineno,
                        "col": self.col(value.lineno, value.col_offset), "via": "helper",
                        "helper": h["qualname"], "hline": h["line"], "hcol": h["col"], "ref": None}
            return None
        if type(value) is ast.Name and depth == 0:
            b = self.find_binding(value.id, scope, pos)
            if b is not None and b[0] == _EQ and b[1] is not None and type(b[1]) is not _InScope:
                rec = self.cast_record(b[1], b[2], pos, depth + 1)
                if rec is not None:
                    rec["via"] = "name" if rec["via"] == "direct" else rec["via"]
                    rec["name"] = value.id
                return rec
        return None

    def copy_table(self, call, arg, name: str, scope, pos):
        table = self.resolve(arg, scope, pos, set(), 0)
        if table is None or T.constant_text(table) is None:
            return None
        schema = _kw(call, "schema_name")
        parts = []
        if schema is not None:
            s = self.resolve(schema, scope, pos, set(), 0)
            if s is not None and T.constant_text(s) is not None:
                parts = s + [T.text(".")]
        cols_node = _kw(call, "columns")
        if cols_node is None and name == "copy_from" and len(call.args) > 5:
            cols_node = call.args[5]
        cols = ""
        if cols_node is not None and type(cols_node) in (ast.List, ast.Tuple):
            names = [e.value for e in cols_node.elts if type(e) is ast.Constant and isinstance(e.value, str)]
            if names:
                cols = " (" + ", ".join(names) + ")"
        return [T.text("COPY ")] + parts + table + [T.text(f"{cols} {_COPY_TABLE[name]}")]


class _InScope:
    """A value node bound in another scope (``self.X = ...`` in ``__init__``)."""

    __slots__ = ("node", "scope")

    def __init__(self, node, scope):
        self.node = node
        self.scope = scope


def _choose(binds: list, pos) -> tuple | None:
    prior = [b for b in binds if pos is None or b[0] < pos] or binds
    for b in reversed(prior):
        if b[1] != _ADD:
            return b
    return None


def _cast_arg(node):
    if type(node) is ast.JoinedStr:
        return node.values[0].value
    return node.args[0]


def _numeric(node) -> bool:
    return type(node) is ast.Constant and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _stringy(*nodes) -> bool:
    return any(type(n) in (ast.JoinedStr, ast.List) or (type(n) is ast.Constant and isinstance(n.value, str))
               for n in nodes)


def _stringish(value, binds) -> bool:
    if value is None:
        return any(b[1] == _ADD for b in binds)
    t = type(value)
    if t is ast.Constant:
        return isinstance(value.value, (str, int, float)) and not isinstance(value.value, bool)
    return t in (ast.JoinedStr, ast.BinOp, ast.Call, ast.Name, ast.Attribute, ast.IfExp, ast.Subscript)


def _label(node, source: str) -> str:
    try:
        s = ast.unparse(node)
    except Exception:  # noqa: BLE001
        s = type(node).__name__
    s = " ".join(s.split())
    return s if len(s) <= 80 else s[:77] + "..."


def _reason(node) -> str:
    t = type(node)
    if t is ast.Call:
        f = node.func
        while type(f) is ast.Attribute:
            f = f.value
        if type(f) is ast.Call:
            return _reason(f)
        if type(f) is ast.Name and f.id in ("select", "insert", "update", "delete", "union"):
            return "sqlalchemy expression"
        return "built by a call"
    if t is ast.Attribute:
        return "attribute"
    if t is ast.Name:
        return "unresolved name"
    if t is ast.Subscript:
        return "subscript"
    return t.__name__.lower()
