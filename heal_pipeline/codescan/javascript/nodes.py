"""tree-sitter node helpers for the JS/TS extractor and the rewrite engine (casts, scopes, names)."""

from __future__ import annotations

from typing import Any

#: callee -> cast name reported in evidence
CASTS = {"parseInt": "parseInt", "parseFloat": "parseFloat", "Number": "Number", "String": "String",
         "BigInt": "BigInt"}
_WRAPPERS = frozenset({"parenthesized_expression", "as_expression", "non_null_expression",
                       "satisfies_expression", "type_assertion"})
_FUNCS = frozenset({"function_declaration", "generator_function_declaration", "function_expression",
                    "function", "arrow_function", "method_definition", "generator_function"})
_BLOCKS = frozenset({"program", "statement_block", "switch_case", "switch_default"})
_ESC = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unwrap(n):
    while n is not None and (n.type in _WRAPPERS or n.type == "await_expression"):
        inner = n.named_children
        n = inner[0] if inner else None
    return n


def _field_name(n) -> str | None:
    if n is None:
        return None
    if n.type == "member_expression":
        p = n.child_by_field_name("property")
        return p.text.decode() if p is not None else None
    if n.type == "identifier":
        return n.text.decode()
    return None


def cast_of(node, data: bytes) -> tuple[str, Any] | None:
    """(cast name, the converted expression) when ``node`` converts a value's type."""
    n = node
    while n is not None and n.type in _WRAPPERS:
        n = n.named_children[0] if n.named_children else None
    if n is None:
        return None
    if n.type == "call_expression":
        fn, args = n.child_by_field_name("function"), n.child_by_field_name("arguments")
        if fn is None or args is None or args.type != "arguments":
            return None
        items = [a for a in args.named_children if a.type != "comment"]
        if fn.type == "identifier" and fn.text.decode() in CASTS and items:
            return CASTS[fn.text.decode()], items[0]
        if fn.type == "member_expression":
            prop = fn.child_by_field_name("property")
            if prop is not None and prop.text == b"toString" and len(items) <= 1:
                return "toString", fn.child_by_field_name("object")
        return None
    if n.type == "unary_expression":
        op = n.child_by_field_name("operator")
        if op is not None and op.type == "+":
            return "+", n.child_by_field_name("argument")
        return None
    if n.type == "template_string":
        kids = n.named_children
        if len(kids) == 1 and kids[0].type == "template_substitution" and kids[0].named_children:
            return "`${}`", kids[0].named_children[0]
    return None


def _is_fragment(call) -> bool:
    """A ``sql`...``` that is composed into another query (a value, an interpolation), not run."""
    p = call.parent
    while p is not None and p.type in _WRAPPERS:
        p = p.parent
    if p is None:
        return False
    if p.type in ("variable_declarator", "arguments", "array", "pair", "template_substitution",
                  "ternary_expression", "binary_expression", "assignment_expression"):
        return True
    return False


def _unescape(s: str) -> str:
    if len(s) >= 2 and s[0] == "\\":
        c = s[1]
        if c in _ESC:
            return _ESC[c]
        if c == "\n":
            return ""
        if c in "xu":
            try:
                return chr(int(s[2:].strip("{}"), 16))
            except ValueError:
                return s
        return s[1:]
    return s


def _param_names(ps) -> list:
    out = []
    stack = [ps]
    while stack:
        n = stack.pop()
        if n.type in ("identifier", "shorthand_property_identifier_pattern"):
            out.append(n)
        elif n.type not in ("type_annotation",):
            stack.extend(n.named_children)
    return out


def _identifiers(n) -> list:
    out, stack = [], [n]
    while stack:
        x = stack.pop()
        if x.type == "identifier":
            out.append(x)
        else:
            stack.extend(x.named_children)
    return out


def _declarator_of(ident):
    """The ``variable_declarator`` (before ``ident``) whose pattern binds it."""
    node = ident
    while node.parent is not None:
        node = node.parent
        if node.type not in _BLOCKS:
            continue
        best = None
        for st in node.named_children:
            if st.start_byte >= ident.start_byte:
                break
            s = st.child_by_field_name("declaration") if st.type == "export_statement" else st
            if s is None or s.type not in ("lexical_declaration", "variable_declaration"):
                continue
            for d in s.named_children:
                if d.type != "variable_declarator":
                    continue
                nm = d.child_by_field_name("name")
                if nm is None:
                    continue
                if nm.type == "identifier":
                    if nm.text == ident.text:
                        best = d
                elif any(x.text == ident.text for x in _param_names(nm)):
                    best = d
        if best is not None:
            return best
    return None


def _substitutions(n) -> list:
    """Expressions interpolated into an untagged template / concatenated with ``+``."""
    if n is None:
        return []
    if n.type == "template_string":
        return [c.named_children[0] for c in n.named_children
                if c.type == "template_substitution" and c.named_children]
    if n.type == "binary_expression":
        out = []
        for side in (n.child_by_field_name("left"), n.child_by_field_name("right")):
            u = _unwrap(side)
            if u is None:
                continue
            if u.type in ("template_string", "binary_expression"):
                out.extend(_substitutions(u))
            elif u.type not in ("string", "number", "identifier"):
                out.append(side)
        return out
    return []


def _qualname(n) -> str | None:
    names = []
    node = n.parent
    while node is not None:
        t = node.type
        if t in ("function_declaration", "generator_function_declaration", "method_definition",
                 "class_declaration", "class"):
            nm = node.child_by_field_name("name")
            if nm is not None:
                names.append(nm.text.decode())
        elif t in ("arrow_function", "function_expression", "function"):
            p = node.parent
            if p is not None and p.type == "variable_declarator":
                nm = p.child_by_field_name("name")
                if nm is not None and nm.type == "identifier":
                    names.append(nm.text.decode())
            elif p is not None and p.type == "pair":
                k = p.child_by_field_name("key")
                if k is not None:
                    names.append(k.text.decode().strip("'\""))
        node = node.parent
    return ".".join(reversed(names)) or None


def char_col(data: bytes, node) -> int:
    """1-based column of ``node`` in characters (tree-sitter counts bytes), as the Python scanner."""
    b = node.start_byte
    start = data.rfind(b"\n", 0, b) + 1
    chunk = data[start:b]
    return (len(chunk.decode("utf-8", "replace")) if not chunk.isascii() else len(chunk)) + 1
