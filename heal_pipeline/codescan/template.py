"""SQL templates: SQL text as a language scanner traced it, before it becomes one string.

A template is a list of *parts* (plain JSON lists, so a scan result caches as JSON and a
TypeScript scanner can emit the same thing):

``["t", text, linemap, file]``
    literal text. ``linemap`` maps offsets in ``text`` to source lines: a list of
    ``[offset, line, nl]`` breakpoints (``nl`` = 1 when newlines inside the text advance the
    line, as in a triple-quoted string); ``None`` when the text has no source position (a
    number formatted in, a psycopg ``Placeholder``). ``file`` is ``None`` for the file the
    statement is in, else the path of the module the text came from.
``["h", kind, label, line, via]``
    a hole: a value only known at run time. ``kind`` is ``runtime`` (composed by
    f-string/``%``/``format``/``+``: unsafe), ``ident`` / ``literal`` / ``composed`` (safe
    ``psycopg.sql`` composition), ``external`` (a constant imported from outside the scanned
    roots) or ``number`` (an int computed at run time: ``idx += 1``, ``len(params)``; rendered
    as the numbers 1, 2, … in order, never unsafe) or ``generated`` (a token made by
    ``uuid.uuid4()``/``secrets.token_hex()``, rendered as a name, never unsafe). ``label`` is the source of the expression, ``via`` how it was composed in
    (``fstring``, ``percent``, ``format``, ``concat``, ``join``).
``["r", level, module, names, line]``
    a reference to a constant in another module (``from .queries import GET_USER`` ->
    ``[1, "queries", ["GET_USER"]]``), resolved by the scanner's post-pass.
``["op", how, receiver, args, kwargs, line]``
    ``%`` (``how="percent"``) or ``.format`` (``how="format"``) applied to a receiver that
    still contains references; evaluated once the references are resolved.

:func:`render` turns a resolved template into parseable SQL: holes become placeholders
chosen by context (an identifier ``_heal_hole_N`` where a name fits, a literal
``'_heal_hole_N'`` in value position, bare text inside a quoted literal), with fallbacks until
the parser accepts the text.
"""

from __future__ import annotations

import re
import string
from typing import Any

from heal_pipeline.codescan.sql import HOLE_PREFIX, parses

Part = list  # see module docstring

_PERCENT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsab%])")


def text(value: str, linemap: list | None = None, file: str | None = None) -> Part:
    return ["t", value, linemap, file]


def hole(kind: str, label: str, line: int | None, via: str | None = None) -> Part:
    return ["h", kind, label, line, via]


def is_resolved(parts: list[Part]) -> bool:
    return all(p[0] in ("t", "h") for p in parts)


def is_dynamic(parts: list[Part]) -> bool:
    return any(p[0] == "h" and p[1] == "runtime" for p in parts)


def runtime_holes(parts: list[Part]) -> list[Part]:
    return [p for p in parts if p[0] == "h" and p[1] == "runtime"]


def constant_text(parts: list[Part]) -> str | None:
    if all(p[0] == "t" for p in parts):
        return "".join(p[1] for p in parts)
    return None


# ---- line mapping ---------------------------------------------------------------------

def line_in_part(part: Part, offset: int) -> int | None:
    lm = part[2]
    if not lm:
        return None
    bp = lm[0]
    for b in lm:
        if b[0] <= offset:
            bp = b
        else:
            break
    line = bp[1]
    if bp[2]:
        line += part[1].count("\n", bp[0], offset)
    return line


def slice_part(part: Part, start: int, end: int) -> Part:
    """Text part restricted to ``[start, end)`` with its linemap shifted."""
    value = part[1][start:end]
    lm = part[2]
    if not lm:
        return ["t", value, None, part[3]]
    first = line_in_part(part, start)
    nl = lm[0][2]
    for b in lm:
        if b[0] <= start:
            nl = b[2]
    new = [[0, first, nl]]
    for b in lm:
        if start < b[0] < end:
            new.append([b[0] - start, b[1], b[2]])
    return ["t", value, new, part[3]]


def with_file(parts: list[Part], file: str) -> list[Part]:
    """Mark the text parts of another module's template with that module's path."""
    out = []
    for p in parts:
        if p[0] == "t" and p[3] is None and p[2] is not None:
            out.append(["t", p[1], p[2], file])
        elif p[0] == "op":
            out.append(["op", p[1], with_file(p[2], file),
                        [None if a is None else with_file(a, file) for a in p[3]] if p[3] is not None else None,
                        {k: (None if v is None else with_file(v, file)) for k, v in p[4].items()},
                        p[5]])
        else:
            out.append(p)
    return out


# ---- formatting -----------------------------------------------------------------------

def percent_format(receiver: list[Part], args: list | None, kwargs: dict | None,
                   line: int | None, label: str = "%") -> list[Part]:
    """``receiver % args``. ``args=None`` and ``kwargs=None``: the right side is unknown."""
    out: list[Part] = []
    i = 0
    for p in receiver:
        if p[0] != "t":
            out.append(p)
            continue
        s = p[1]
        pos = 0
        for m in _PERCENT.finditer(s):
            if m.start() > pos:
                out.append(slice_part(p, pos, m.start()))
            if m.group("conv") == "%":
                out.append(["t", "%", None, None])
            else:
                name = m.group("name")
                if name is not None:
                    val = (kwargs or {}).get(name) if kwargs is not None else None
                else:
                    val = args[i] if args is not None and i < len(args) else None
                    i += 1
                out.append(_conv(val, label, line, "percent"))
            pos = m.end()
        if pos < len(s):
            out.append(slice_part(p, pos, len(s)))
    return _flatten(out)


def _conv(val, label: str, line, via: str) -> Part | list:
    if val is None:
        return hole("runtime", label, line, via)
    return _Splice(val)


class _Splice(list):
    """Marker: several parts to splice in place."""


def _flatten(parts: list) -> list[Part]:
    out: list[Part] = []
    for p in parts:
        if isinstance(p, _Splice):
            out.extend(_flatten(list(p)))
        else:
            out.append(p)
    return out


def str_format(receiver: list[Part], args: list | None, kwargs: dict | None,
               line: int | None, label: str = "format") -> list[Part]:
    """``receiver.format(*args, **kwargs)`` (also psycopg ``sql.SQL(...).format``)."""
    out: list = []
    auto = 0
    fmt = string.Formatter()
    for p in receiver:
        if p[0] != "t":
            out.append(p)
            continue
        s = p[1]
        try:
            pieces = list(fmt.parse(s))
        except ValueError:
            out.append(p)
            continue
        pos = 0  # offset in s of the current literal piece
        for lit, field, spec, conv in pieces:
            # the literal text in ``lit`` has "{{" collapsed; find it in the raw text
            raw_len = _raw_len(s, pos, lit)
            if lit:
                sub = slice_part(p, pos, pos + raw_len)
                sub[1] = lit
                out.append(sub)
            pos += raw_len
            if field is None:
                continue
            # skip the replacement field in the raw text
            end = _field_end(s, pos)
            pos = end
            key = field.split(".", 1)[0].split("[", 1)[0]
            if key == "":
                key_i: Any = auto
                auto += 1
            elif key.isdigit():
                key_i = int(key)
            else:
                key_i = key
            if "." in field or "[" in field:
                val = None
            elif isinstance(key_i, int):
                val = args[key_i] if args is not None and key_i < len(args) else None
            else:
                val = (kwargs or {}).get(key_i) if kwargs is not None else None
            out.append(_conv(val, label, line, "format"))
    return _flatten(out)


def _raw_len(s: str, pos: int, lit: str) -> int:
    """Length in ``s`` (from ``pos``) of the literal ``lit`` where braces are doubled."""
    i = pos
    k = 0
    while k < len(lit) and i < len(s):
        if s[i] in "{}" and i + 1 < len(s) and s[i + 1] == s[i]:
            i += 2
        else:
            i += 1
        k += 1
    return i - pos


def _field_end(s: str, pos: int) -> int:
    depth = 0
    i = pos
    while i < len(s):
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(s)


def apply_op(part: Part) -> list[Part]:
    """Evaluate a deferred ``op`` part whose references are resolved."""
    _, how, recv, args, kwargs, line = part
    if how == "percent":
        return percent_format(recv, args, kwargs, line)
    return str_format(recv, args, kwargs, line)


# ---- rendering ------------------------------------------------------------------------

_VALUE_TAIL = re.compile(
    r"(?:[=<>(,+\-*/|]|\b(?:in|like|ilike|limit|offset|values|then|else|between|is|any|all))\s*$",
    re.IGNORECASE)
_IDENT_TAIL = re.compile(r"(?:\.|\b(?:from|join|into|update|table|only|exists))\s*$", re.IGNORECASE)
_LAST_TOKEN = re.compile(r"([A-Za-z_][A-Za-z_0-9$]*|[0-9]+|\S)\s*$")
#: words after which a hole starts a new expression or name (anything else ends a clause)
_KEYWORDS = frozenset("""
select from where and or not by on join set into values as in is like ilike similar limit
offset having returning distinct case when then else update table only using with union
intersect except all any some exists between interval group order insert delete window
partition over filter lateral left right inner outer full cross natural escape do conflict
""".split())


def render(parts: list[Part]) -> tuple[str, list[int]]:
    """SQL text for a resolved template, and the start offset of every part in it.

    Holes get placeholders; the first scheme that parses wins: by context, then identifiers
    everywhere, then nothing at all (a hole that stood for a whole clause). If none parses,
    the context scheme is kept (the parse error is then real, or unknowable).
    """
    n_holes = sum(1 for p in parts if p[0] == "h")
    if n_holes == 0:
        starts = []
        pos = 0
        for p in parts:
            starts.append(pos)
            pos += len(p[1])
        return "".join(p[1] for p in parts), starts
    first = None
    for scheme in ("context", "ident", "empty"):
        sql, starts = _render(parts, scheme)
        if first is None:
            first = (sql, starts)
        if parses(sql):
            return sql, starts
    return first  # type: ignore[return-value]


def _render(parts: list[Part], scheme: str) -> tuple[str, list[int]]:
    out: list[str] = []
    starts: list[int] = []
    pos = 0
    k = 0
    quotes = 0
    numbers = 0
    for p in parts:
        starts.append(pos)
        if p[0] == "t":
            s = p[1]
            quotes += s.count("'")
        else:
            k += 1
            name = f"{HOLE_PREFIX}{k}"
            before = "".join(out[-3:])
            if p[1] == "number":
                # an int computed at run time (f"${idx}" placeholder numbers, LIMIT n): not SQL text;
                # numbered in order of appearance, which is how such placeholders are usually built
                numbers += 1
                s = str(numbers)
            elif quotes % 2 == 1:
                s = name
            elif scheme == "empty":
                s = ""
            elif scheme == "ident" or p[1] in ("ident", "composed", "generated"):
                s = name
            elif p[1] == "literal":
                s = f"'{name}'"
            elif _glued(before, parts, p):
                s = name  # part of one identifier: f"FROM events_{suffix}", f"{prefix}_users"
            elif _IDENT_TAIL.search(before) or _after_is_dot(parts, p):
                s = name
            elif _VALUE_TAIL.search(before):
                s = f"'{name}'"
            elif _ends_clause(before):
                s = ""  # after a complete expression: the hole is a whole clause
            else:
                s = name
        out.append(s)
        pos += len(s)
    return "".join(out), starts


def _ends_clause(before: str) -> bool:
    m = _LAST_TOKEN.search(before)
    if m is None:
        return False
    tok = m.group(1)
    if tok[0].isalpha() or tok[0] == "_":
        return tok.lower() not in _KEYWORDS
    return tok.isdigit() or tok in (")", "'", '"')


def _glued(before: str, parts: list[Part], p: Part) -> bool:
    """Is the hole written against an identifier character (no space between)?"""
    if before[-1:].isalnum() or before[-1:] == "_":
        return True
    i = next(i for i, q in enumerate(parts) if q is p)
    if i + 1 < len(parts) and parts[i + 1][0] == "t":
        nxt = parts[i + 1][1][:1]
        return nxt.isalnum() or nxt == "_"
    return False


def _after_is_dot(parts: list[Part], p: Part) -> bool:
    i = next(i for i, q in enumerate(parts) if q is p)
    if i + 1 < len(parts) and parts[i + 1][0] == "t":
        return parts[i + 1][1].startswith(".")
    return False


def locate(parts: list[Part], starts: list[int], offset: int) -> tuple[str | None, int | None]:
    """(file, line) of an offset in the rendered SQL: ``file`` None = the statement's file."""
    idx = None
    for i, s in enumerate(starts):
        if s <= offset:
            idx = i
        else:
            break
    if idx is None:
        return None, None
    p = parts[idx]
    if p[0] != "t":
        return None, p[3] if p[0] == "h" else None
    return p[3], line_in_part(p, offset - starts[idx])
