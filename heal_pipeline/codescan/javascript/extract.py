"""JavaScript / TypeScript source -> module record (tree-sitter), the same record the Python
extractor emits (see ``heal_pipeline/codescan/python.py``)::

    {"lang", "imports": {local: [spec, name|"*"|"default"]}, "exports": {NAME: template},
     "helpers": {name: {line, col, cast, param, qualname}}, "sites": [site], "untraced": [...]}

Template references to other modules are ``["r", 0, spec, [name], line]`` where ``spec`` is the
import specifier as written (``"./queries"``); :mod:`.post` resolves them.

Holes of a *tagged* template (``sql`...${x}...```, Prisma ``$queryRaw```) are bound parameters
and become ``$n``; holes of an untagged template or ``+`` operands are runtime text (unsafe).
"""

from __future__ import annotations

import re
from typing import Any

import tree_sitter as ts

from heal_pipeline.codescan import template as T
from heal_pipeline.codescan.javascript import grammar as G
from heal_pipeline.codescan.javascript.nodes import (
    _BLOCKS, _FUNCS, _declarator_of, _field_name, _identifiers, _is_fragment,
    _param_names, _qualname, _substitutions, _unescape, _unwrap, cast_of, char_col,
)

#: member calls that run SQL (besides the configured names of the Python scanner)
DB_METHODS = frozenset({
    "query", "raw", "whereRaw", "orWhereRaw", "andWhereRaw", "havingRaw", "orHavingRaw",
    "joinRaw", "orderByRaw", "groupByRaw", "$queryRaw", "$executeRaw", "$queryRawUnsafe",
    "$executeRawUnsafe", "unsafe", "execute", "none", "one", "oneOrNone", "many", "manyOrNone", "any",
})
#: identifiers used as SQL template tags (postgres.js, slonik, @vercel/postgres)
TAGS = frozenset({"sql"})
_KNEX = frozenset({"raw", "whereRaw", "orWhereRaw", "andWhereRaw", "havingRaw", "orHavingRaw",
                   "joinRaw", "orderByRaw", "groupByRaw"})
#: knex fragment methods: the fragment is analysed inside this wrapper (text without source position)
_FRAGMENT = {"whereRaw": "SELECT 1 WHERE ", "orWhereRaw": "SELECT 1 WHERE ", "andWhereRaw": "SELECT 1 WHERE ",
             "havingRaw": "SELECT 1 HAVING ", "orHavingRaw": "SELECT 1 HAVING ",
             "joinRaw": "SELECT 1 FROM _heal_hole_0 ", "orderByRaw": "SELECT 1 ORDER BY ",
             "groupByRaw": "SELECT 1 GROUP BY "}
#: TypeORM query-builder methods whose first argument is a raw SQL fragment (``:name`` parameters)
_QB_FRAGMENT = {"where": "SELECT 1 WHERE ", "andWhere": "SELECT 1 WHERE ", "orWhere": "SELECT 1 WHERE ",
                "having": "SELECT 1 HAVING ", "andHaving": "SELECT 1 HAVING ", "orHaving": "SELECT 1 HAVING "}
_SPREAD = re.compile(r":\.\.\.([A-Za-z_])")
_REST_VALUES = frozenset({"$queryRawUnsafe", "$executeRawUnsafe"})
_TAGGED_METHODS = frozenset({"$queryRaw", "$executeRaw"})
_ITER_METHODS = frozenset({"forEach", "map", "flatMap", "filter", "reduce", "some", "every", "find"})
_SQLISH = re.compile(r"\b(select|insert|update|delete|with|from|where|join|values|returning|"
                     r"create|alter|drop|truncate|copy|merge|set)\b", re.IGNORECASE)
_DBISH = re.compile(r"(?i)(pool|client|db|conn|connection|knex|sequelize|prisma|manager|datasource|"
                    r"queryrunner|tx|trx|pg|sql|repo|repository|database|entitymanager)$")


_PARAM = object()  # lookup(): the name is a function parameter


#: pg-promise method names too generic to trust on any receiver
_SHORT = frozenset({"none", "one", "oneOrNone", "many", "manyOrNone", "any", "execute"})


def _dbish(receiver: str) -> bool:
    """Does a receiver expression (``this.pool``, ``db``, ``trx``) look like a database handle?"""
    last = receiver.rsplit(".", 1)[-1].strip("()")
    return _DBISH.search(last) is not None


class JsNames:
    """Call names for JS/TS: the built-in driver methods plus the configured ones."""

    def __init__(self, configured: set[str] | frozenset[str] | None = None):
        extra = {n for n in (configured or ()) if n != "text"}
        self.configured = set(configured) if configured is not None else None
        self.exact = set(DB_METHODS) | {n for n in extra if not n.endswith("*")}
        self.prefixes = tuple(n[:-1] for n in extra if n.endswith("*"))
        alts = sorted(re.escape(n) for n in self.exact | set(TAGS) | {"createQueryBuilder"})
        alts += [re.escape(p) + r"[\w$]*" for p in self.prefixes]
        self._re = re.compile(rb"(?<![\w$])(?:" + "|".join(alts).encode() + rb")\s*[(`]")
        self.signature = ",".join(sorted(self.exact)) + "|" + ",".join(self.prefixes)

    def __contains__(self, name: str) -> bool:
        return name in self.exact or (bool(self.prefixes) and name.startswith(self.prefixes))

    def prefilter(self, data: bytes) -> bool:
        return self._re.search(data) is not None


_QUERIES: dict[str, ts.Query] = {}


def _calls_query(grammar: str) -> ts.Query:
    q = _QUERIES.get(grammar)
    if q is None:
        q = _QUERIES[grammar] = ts.Query(G.language(grammar), "(call_expression) @c")
    return q


def extract(data: bytes, name: str, names: JsNames, *, with_sites: bool = True,
            tree: ts.Tree | None = None) -> dict[str, Any]:
    tree = tree or G.parse(data, name)
    return _Extractor(data, names, G.language_of(name) or "javascript").run(tree, G.grammar_of(name),
                                                                             with_sites)


def _in_query_builder(n, depth: int = 0) -> bool:
    """Is ``n`` (a method receiver) a chain starting at ``createQueryBuilder(...)``?"""
    while n is not None and depth < 40:
        depth += 1
        if n.type == "call_expression":
            fn = n.child_by_field_name("function")
            if _field_name(fn) == "createQueryBuilder":
                return True
            n = fn
        elif n.type == "member_expression":
            n = n.child_by_field_name("object")
        elif n.type in ("parenthesized_expression", "await_expression", "non_null_expression"):
            n = n.named_children[0] if n.named_children else None
        else:
            return False
    return False


class _Extractor:
    def __init__(self, data: bytes, names: JsNames, lang: str):
        self.data = data
        self.names = names
        self.lang = lang
        self.imports: dict[str, list] = {}
        self.consts: dict[str, Any] = {}  # module-level const name -> value node
        self.helpers: dict[str, dict] = {}
        self.exports: dict[str, Any] = {}  # exported name -> value node

    def txt(self, n) -> str:
        return self.data[n.start_byte:n.end_byte].decode("utf-8", "replace")

    # ---- module level ----------------------------------------------------------------
    def run(self, tree: ts.Tree, grammar: str, with_sites: bool) -> dict[str, Any]:
        root = tree.root_node
        exported: set[str] = set()
        for st in root.named_children:
            node = st
            if st.type == "export_statement":
                decl = st.child_by_field_name("declaration")
                src = st.child_by_field_name("source")
                if decl is not None:
                    node = decl
                    for nm in self._declared(decl):
                        exported.add(nm)
                else:
                    for spec in self._children(st, "export_clause", "export_specifier"):
                        local = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias")
                        if local is None:
                            continue
                        out = (alias or local).text.decode()
                        if src is not None:
                            self.imports[out] = [self._string(src), local.text.decode()]
                        exported.add(out)
                        if out != local.text.decode():
                            self.consts.setdefault(out, ("alias", local.text.decode()))
                    continue
            if node.type == "import_statement":
                self._import(node)
            elif node.type in ("lexical_declaration", "variable_declaration"):
                for d in node.named_children:
                    if d.type != "variable_declarator":
                        continue
                    nm, val = d.child_by_field_name("name"), d.child_by_field_name("value")
                    if nm is None or val is None:
                        continue
                    if self._require(nm, val):
                        continue
                    if nm.type == "identifier":
                        self.consts[nm.text.decode()] = val
                        if val.type in ("arrow_function", "function_expression", "function"):
                            self._helper(nm.text.decode(), val)
            elif node.type in ("function_declaration",):
                nm = node.child_by_field_name("name")
                if nm is not None:
                    self._helper(nm.text.decode(), node)
            elif node.type == "expression_statement":
                self._cjs_export(node)
        exports = {}
        for nm in exported | set(self.exports):
            val = self.exports.get(nm, self.consts.get(nm))
            if isinstance(val, tuple):
                val = self.consts.get(val[1])
            if val is None or isinstance(val, tuple) or not self._stringish(val):
                continue
            parts = self.parts(val, set(), tagged=None)
            if parts is not None:
                exports[nm] = parts
        rec: dict[str, Any] = {"lang": self.lang, "imports": self.imports, "exports": exports,
                               "helpers": dict(self.helpers)}
        sites, untraced = [], []
        if with_sites:
            nodes = ts.QueryCursor(_calls_query(grammar)).captures(root).get("c", ())
            for node in nodes:
                got = self.site(node)
                if got is None:
                    continue
                (sites if "parts" in got else untraced).append(got)
        sites.sort(key=lambda s: (s["line"], s["col"]))
        rec["sites"], rec["untraced"] = sites, untraced
        return rec

    @staticmethod
    def _children(n, *path):
        out = [n]
        for t in path:
            out = [c for o in out for c in o.named_children if c.type == t]
        return out

    def _declared(self, decl) -> list[str]:
        if decl.type in ("lexical_declaration", "variable_declaration"):
            return [d.child_by_field_name("name").text.decode() for d in decl.named_children
                    if d.type == "variable_declarator" and d.child_by_field_name("name") is not None
                    and d.child_by_field_name("name").type == "identifier"]
        nm = decl.child_by_field_name("name")
        return [nm.text.decode()] if nm is not None else []

    def _string(self, n) -> str:
        return "".join(self._string_value(n))

    def _string_value(self, n) -> list[str]:
        out = []
        for c in n.named_children:
            if c.type == "string_fragment":
                out.append(self.txt(c))
            elif c.type == "escape_sequence":
                out.append(_unescape(self.txt(c)))
        return out

    def _import(self, node) -> None:
        src = node.child_by_field_name("source")
        if src is None:
            return
        spec = self._string(src)
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for c in clause.named_children:
                if c.type == "identifier":
                    self.imports[c.text.decode()] = [spec, "default"]
                elif c.type == "namespace_import":
                    for i in c.named_children:
                        if i.type == "identifier":
                            self.imports[i.text.decode()] = [spec, "*"]
                elif c.type == "named_imports":
                    for s in c.named_children:
                        if s.type != "import_specifier":
                            continue
                        nm, alias = s.child_by_field_name("name"), s.child_by_field_name("alias")
                        if nm is not None:
                            self.imports[(alias or nm).text.decode()] = [spec, nm.text.decode()]

    def _require(self, nm, val) -> bool:
        """``const {A, B: C} = require("./q")`` / ``const q = require("./q")``."""
        v = _unwrap(val)
        if v is None or v.type != "call_expression":
            return False
        fn, args = v.child_by_field_name("function"), v.child_by_field_name("arguments")
        if fn is None or fn.type != "identifier" or fn.text != b"require" or args is None:
            return False
        strs = [a for a in args.named_children if a.type == "string"]
        if not strs:
            return True
        spec = self._string(strs[0])
        if nm.type == "identifier":
            self.imports[nm.text.decode()] = [spec, "*"]
        elif nm.type == "object_pattern":
            for p in nm.named_children:
                if p.type == "shorthand_property_identifier_pattern":
                    self.imports[p.text.decode()] = [spec, p.text.decode()]
                elif p.type == "pair_pattern":
                    k, v2 = p.child_by_field_name("key"), p.child_by_field_name("value")
                    if k is not None and v2 is not None and v2.type == "identifier":
                        self.imports[v2.text.decode()] = [spec, k.text.decode()]
        return True

    def _cjs_export(self, node) -> None:
        e = node.named_children[0] if node.named_children else None
        if e is None or e.type != "assignment_expression":
            return
        left, right = e.child_by_field_name("left"), e.child_by_field_name("right")
        lt = self.txt(left) if left is not None else ""
        if lt == "module.exports" and right is not None and right.type == "object":
            for p in right.named_children:
                if p.type == "shorthand_property_identifier":
                    self.exports[p.text.decode()] = ("alias", p.text.decode())
                elif p.type == "pair":
                    k, v = p.child_by_field_name("key"), p.child_by_field_name("value")
                    if k is not None and v is not None:
                        self.exports[self.txt(k).strip("'\"")] = v
        elif lt.startswith(("exports.", "module.exports.")) and right is not None:
            self.exports[lt.rsplit(".", 1)[1]] = right

    @staticmethod
    def _stringish(n) -> bool:
        n = _unwrap(n)
        if n is None:
            return False
        if n.type in ("string", "template_string"):
            return True
        if n.type == "binary_expression":
            return True
        if n.type == "call_expression":  # String.raw / dedent`...` / sql`...` fragments are not constants
            return False
        return n.type in ("identifier", "member_expression")

    def _helper(self, name: str, fn) -> None:
        """A function of one parameter whose body only casts it: ``(id) => String(id)``."""
        params = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
        if params is None:
            return
        plist = [params] if params.type == "identifier" else [
            p for p in params.named_children if p.type not in ("comment",)]
        if len(plist) != 1:
            return
        p = plist[0]
        if p.type in ("required_parameter", "optional_parameter"):
            p = p.child_by_field_name("pattern")
        if p is None or p.type != "identifier":
            return
        body = fn.child_by_field_name("body")
        if body is None:
            return
        expr = body
        if body.type == "statement_block":
            stmts = [s for s in body.named_children if s.type != "comment"]
            if len(stmts) != 1 or stmts[0].type != "return_statement" or not stmts[0].named_children:
                return
            expr = stmts[0].named_children[0]
        got = cast_of(expr, self.data)
        if got is None:
            return
        cast, inner = got
        inner = _unwrap(inner)
        if inner is None or inner.type != "identifier" or inner.text != p.text:
            return
        self.helpers[name] = {"line": fn.start_point[0] + 1 if fn.type == "function_declaration"
                              else fn.parent.start_point[0] + 1,
                              "col": 1, "cast": cast, "param": p.text.decode(), "qualname": name}

    # ---- templates -------------------------------------------------------------------
    def lookup(self, ident, seen: set) -> Any:
        """The value node ``ident`` is bound to by a ``const``/``let`` before it, else a ref/None."""
        name = ident.text.decode()
        node = ident
        pos = ident.start_byte
        while node is not None:
            node = node.parent
            if node is None:
                break
            if node.type in _BLOCKS:
                best = None
                for st in node.named_children:
                    if st.start_byte >= pos:
                        break
                    s = st.child_by_field_name("declaration") if st.type == "export_statement" else st
                    if s is None or s.type not in ("lexical_declaration", "variable_declaration"):
                        continue
                    for d in s.named_children:
                        if d.type == "variable_declarator":
                            nm = d.child_by_field_name("name")
                            if nm is not None and nm.type == "identifier" and nm.text == ident.text:
                                best = d.child_by_field_name("value")
                if best is not None:
                    return best
            if node.type in _FUNCS:
                ps = node.child_by_field_name("parameters") or node.child_by_field_name("parameter")
                if ps is not None and any(x.text == ident.text for x in _param_names(ps)):
                    return _PARAM
        if name in self.imports:
            return ("ref", self.imports[name])
        return None

    def parts(self, n, seen: set, tagged: list | None, via: str = "concat") -> list | None:
        """Template of an expression; ``tagged`` is the parameter list of a tagged template
        (holes become ``$n``), None outside one. None: not a string expression at all."""
        n = _unwrap(n)
        if n is None:
            return None
        t = n.type
        line = n.start_point[0] + 1
        if t == "string":
            return [T.text("".join(self._string_value(n)), [[0, line, 1]])]
        if t == "template_string":
            return self.template(n, seen, tagged)
        if t == "number":
            return [T.text(self.txt(n), None)]
        if t == "binary_expression":
            op = n.child_by_field_name("operator")
            if op is None or op.type != "+":
                return None
            left = self.parts(n.child_by_field_name("left"), seen, tagged)
            right = self.parts(n.child_by_field_name("right"), seen, tagged)
            if left is None and right is None:
                return None
            return (left or [self.hole(n.child_by_field_name("left"))]) + (
                right or [self.hole(n.child_by_field_name("right"))])
        if t == "identifier":
            key = (n.text, n.start_byte)
            if key in seen or len(seen) > 24:
                return None
            val = self.lookup(n, seen)
            if val is _PARAM:
                return None  # a parameter: a runtime value
            if val is None:  # a module constant declared below the function that uses it
                val = self.consts.get(n.text.decode())
                if val is None or isinstance(val, tuple):
                    return None
            if isinstance(val, tuple):
                spec, nm = val[1]
                if nm == "*":
                    return None
                return [["r", 0, spec, [nm], line]]
            if not self._stringish(val) and _unwrap(val) is not None and _unwrap(val).type != "call_expression":
                return None
            return self.parts(val, seen | {key}, tagged)
        if t == "member_expression":
            obj, prop = n.child_by_field_name("object"), n.child_by_field_name("property")
            if obj is not None and obj.type == "identifier" and prop is not None:
                imp = self.imports.get(obj.text.decode())
                if imp is not None and imp[1] == "*":
                    return [["r", 0, imp[0], [prop.text.decode()], line]]
            return None
        if t == "call_expression":
            fn = n.child_by_field_name("function")
            args = n.child_by_field_name("arguments")
            if fn is not None and args is not None and args.type == "template_string":
                tag = self.txt(fn)
                if tag in TAGS or tag.endswith((".sql", "String.raw")):
                    return self.template(args, seen, tagged if tagged is not None else [])
            return None
        return None

    def hole(self, n, kind: str = "runtime", via: str = "concat") -> list:
        label = self.txt(n)[:80] if n is not None else "?"
        return T.hole(kind, label, n.start_point[0] + 1 if n is not None else None, via)

    def template(self, n, seen: set, tagged: list | None) -> list:
        out: list = []
        for c in n.named_children:
            if c.type == "string_fragment":
                out.append(T.text(self.txt(c), [[0, c.start_point[0] + 1, 1]]))
            elif c.type == "escape_sequence":
                out.append(T.text(_unescape(self.txt(c)), [[0, c.start_point[0] + 1, 1]]))
            elif c.type == "template_substitution":
                e = c.named_children[0] if c.named_children else None
                if e is None:
                    continue
                if tagged is not None:
                    ue = _unwrap(e)
                    if ue is not None and ue.type == "call_expression":
                        fn = ue.child_by_field_name("function")
                        args = ue.child_by_field_name("arguments")
                        ftxt = self.txt(fn) if fn is not None else ""
                        if args is not None and args.type == "template_string" and (
                                ftxt in TAGS or ftxt.endswith(".sql")):
                            out.extend(self.template(args, seen, tagged))  # a nested fragment
                            continue
                        if ftxt in TAGS or ftxt.endswith((".join", ".identifier", "sql.id")):
                            out.append(self.hole(e, "ident" if ftxt in TAGS else "composed", None))
                            continue
                        if ftxt.endswith((".raw", ".unsafe")):
                            out.append(self.hole(e, "runtime", "raw"))
                            continue
                    if ue is not None and ue.type == "ternary_expression":
                        out.append(self.hole(e, "composed", None))
                        continue
                    tagged.append(e)
                    out.append(T.text(f"${len(tagged)}", None))
                    continue
                inner = self.parts(e, seen, None)
                if inner is not None and T.constant_text(inner) is not None:
                    out.extend(inner)  # a constant interpolated: safe, known text
                elif inner is not None and len(inner) == 1 and inner[0][0] == "r":
                    out.extend(inner)
                else:
                    out.append(self.hole(e, "runtime", "template literal"))
        return out

    # ---- call sites ------------------------------------------------------------------
    def site(self, call) -> dict | None:
        fn = call.child_by_field_name("function")
        args = call.child_by_field_name("arguments")
        if fn is None or args is None:
            return None
        if fn.type == "identifier":
            name = fn.text.decode()
            if name not in TAGS or args.type != "template_string" or _is_fragment(call):
                return None
            recv = None
        elif fn.type == "member_expression":
            prop = fn.child_by_field_name("property")
            if prop is None:
                return None
            name = prop.text.decode()
            recv = fn.child_by_field_name("object")
            if name not in self.names and not (name in _QB_FRAGMENT and _in_query_builder(recv)):
                return None
            if name == "unsafe" and (recv is None or recv.text not in (b"sql", b"this.sql")):
                return None
            if name in _SHORT and not _dbish(self.txt(recv) if recv is not None else ""):
                return None  # pg-promise's one()/any()/none()… only on a database handle
        else:
            return None
        line, col = call.start_point[0] + 1, char_col(self.data, call)
        func = _qualname(call)
        base = {"line": line, "col": col, "call": name, "function": func}
        qb = name in _QB_FRAGMENT and name not in self.names
        hint = "qmark" if name in _KNEX else ("colon" if qb else None)
        values: list = []
        kind = "literal"
        if args.type == "template_string":
            if name not in TAGS and name not in _TAGGED_METHODS:
                return None
            tagged: list = []
            parts = self.template(args, set(), tagged)
            values = tagged
            kind = "tagged_template"
        else:
            items = [a for a in args.named_children if a.type != "comment"]
            if not items:
                return None
            first = _unwrap(items[0])
            rest = items[1:]
            if first is not None and first.type == "object":
                text_node, vals = None, None
                for p in first.named_children:
                    if p.type == "pair":
                        k = self.txt(p.child_by_field_name("key")).strip("'\"")
                        if k in ("text", "sql", "query"):
                            text_node = p.child_by_field_name("value")
                        elif k in ("values", "bind", "replacements"):
                            vals = p.child_by_field_name("value")
                    elif p.type == "shorthand_property_identifier" and p.text in (b"text", b"sql"):
                        text_node = p
                if text_node is None:
                    return None
                first, kind = text_node, "object"
                rest = [vals] if vals is not None else []
            parts = self.parts(first, set(), None)
            if parts is None:
                if _unwrap(first) is not None and _unwrap(first).type in ("identifier", "member_expression") \
                        and _dbish(self.txt(recv) if recv is not None else ""):
                    return dict(base, detail=f"SQL argument of {name}() could not be traced to its text "
                                             f"(`{self.txt(first)[:60]}`)", reason="not a constant")
                return None
            ft = _unwrap(first).type
            kind = kind if kind == "object" else {"template_string": "template", "binary_expression": "concat",
                                                  "identifier": "name"}.get(ft, kind)
            if name in _REST_VALUES:
                values = rest
            elif rest:
                v0 = _unwrap(rest[0])
                if v0 is not None and v0.type == "array":
                    values = [x for x in v0.named_children if x.type != "comment"]
                elif v0 is not None and v0.type == "object" and qb:
                    for p in v0.named_children:
                        if p.type == "pair":
                            values.append((self.txt(p.child_by_field_name("key")).strip("'\""),
                                           p.child_by_field_name("value")))
                elif v0 is not None and v0.type == "object" and kind != "object":
                    for p in v0.named_children:
                        if p.type != "pair":
                            continue
                        k = self.txt(p.child_by_field_name("key")).strip("'\"")
                        val = _unwrap(p.child_by_field_name("value"))
                        if k in ("replacements", "bind") and val is not None:
                            if val.type == "array":
                                values = [x for x in val.named_children if x.type != "comment"]
                                hint = "qmark" if k == "replacements" else None
                            elif val.type == "object":
                                hint = "colon"
                                values = [(self.txt(q.child_by_field_name("key")).strip("'\""),
                                           q.child_by_field_name("value"))
                                          for q in val.named_children if q.type == "pair"]
        if qb:  # TypeORM's ":...ids" list parameter is one bound value
            parts = [[p[0], _SPREAD.sub(r":\1", p[1]), *p[2:]] if p[0] == "t" else p for p in parts]
        if name in _FRAGMENT or qb:
            parts = [T.text((_QB_FRAGMENT if qb else _FRAGMENT)[name], None)] + parts
        consts = " ".join(p[1] for p in parts if p[0] == "t")
        has_ref = any(p[0] == "r" for p in parts)
        if not has_ref and not _SQLISH.search(consts):
            return None
        site = dict(base, kind=kind, parts=parts, hint=hint, loop=self.loop_of(call), args=[])
        for i, v in enumerate(values):
            key, node = (v if isinstance(v, tuple) else (i, v))
            item = self.bound_item(node, key)
            if item is not None:
                site["args"].append(item)
        # casts inside the holes of an untagged template, bound by position in the SQL
        if kind in ("template", "concat", "name"):
            holes = []
            for p in parts:
                if p[0] == "h" and p[1] == "runtime":
                    holes.append(p)
            hole_args = []
            if holes and first is not None:
                for sub in _substitutions(_unwrap(first)):
                    label = self.txt(sub)[:80]
                    item = self.bound_item(sub, label)
                    if item is not None:
                        hole_args.append(item)
            if hole_args:
                site["hole_args"] = hole_args
        return site

    def bound_item(self, node, key) -> dict | None:
        if node is None:
            return None
        got = cast_of(node, self.data)
        if got is not None:
            return {"key": key, "cast": got[0], "line": node.start_point[0] + 1, "col": char_col(self.data, node),
                    "via": "cast", "start": node.start_byte, "end": node.end_byte}
        u = _unwrap(node)
        if u is not None and u.type == "call_expression":
            fn = u.child_by_field_name("function")
            args = u.child_by_field_name("arguments")
            if fn is not None and fn.type == "identifier" and args is not None and len(args.named_children) == 1:
                nm = fn.text.decode()
                h = self.helpers.get(nm)
                base = {"key": key, "line": u.start_point[0] + 1, "col": char_col(self.data, u), "via": "helper",
                        "helper": nm, "start": u.start_byte, "end": u.end_byte}
                if h is not None:
                    return dict(base, cast=h["cast"], hline=h["line"], hcol=h["col"])
                imp = self.imports.get(nm)
                if imp is not None and imp[1] not in ("*", "default"):
                    return dict(base, cast=None, ref=[imp[0], imp[1]])
        return None

    # ---- loops -----------------------------------------------------------------------
    def loop_of(self, call) -> int | None:
        node = call
        while node.parent is not None:
            parent = node.parent
            t = parent.type
            if t == "for_in_statement":
                right = parent.child_by_field_name("right")
                body = parent.child_by_field_name("body")
                if body is not None and body.start_byte <= call.start_byte and self.is_rows(right):
                    return parent.start_point[0] + 1
            elif t in ("for_statement", "while_statement", "do_statement"):
                cond = parent.child_by_field_name("condition")
                body = parent.child_by_field_name("body")
                if cond is not None and body is not None and body.start_byte <= call.start_byte:
                    for ident in _identifiers(cond):
                        if self.is_rows(ident):
                            return parent.start_point[0] + 1
            elif t == "arguments" and parent.parent is not None and parent.parent.type == "call_expression":
                outer = parent.parent
                f = outer.child_by_field_name("function")
                if f is not None and f.type == "member_expression":
                    prop = f.child_by_field_name("property")
                    if prop is not None and prop.text.decode() in _ITER_METHODS and \
                            self.is_rows(f.child_by_field_name("object")):
                        return outer.start_point[0] + 1
            node = parent
        return None

    def is_rows(self, n, depth: int = 0) -> bool:
        n = _unwrap(n)
        if n is None or depth > 6:
            return False
        if n.type == "call_expression":
            fn = n.child_by_field_name("function")
            name = _field_name(fn)
            if name is not None and (name in self.names or name in TAGS):
                return True
            if fn is not None and fn.type == "member_expression":  # rows.slice(), Object.values(rows)
                return self.is_rows(fn.child_by_field_name("object"), depth + 1)
            return False
        if n.type == "member_expression":
            return self.is_rows(n.child_by_field_name("object"), depth + 1)
        if n.type == "subscript_expression":
            return self.is_rows(n.child_by_field_name("object"), depth + 1)
        if n.type == "identifier":
            decl = _declarator_of(n)
            if decl is None:
                return False
            return self.is_rows(decl.child_by_field_name("value"), depth + 1)
        return False
