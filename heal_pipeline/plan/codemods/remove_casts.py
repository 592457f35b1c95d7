"""LibCST codemods that remove cast workarounds once the schema types agree.

* :class:`RemoveCastCommand` — at one source line:
  - ``python_cast``: ``str(user_id)`` / ``int(x)`` / ``uuid.UUID(x)`` → ``user_id``;
  - ``helper_call``: ``session_user_key(user_id)`` → ``user_id`` (a call of a cast-only helper);
  - ``sql_cast``: ``u.id::text`` / ``$1::text`` / ``CAST($1 AS text)`` inside a plain string literal →
    ``u.id`` / ``$1``. The SQL is parsed with pglast to find the exact cast nodes; only casts on a
    column or a parameter whose type is the workaround's type are removed, and the result must parse
    again with one cast fewer per removal.
* :class:`RemoveHelperCommand` — deletes a cast-only helper ``def`` (and, in other modules, the
  ``from … import helper`` names) once nothing calls it.

Both are ``VisitorBasedCodemodCommand`` subclasses, so ``python -m libcst.tool codemod`` can run
them too; heal drives them through :func:`run_codemod` and emits unified diffs.
"""

from __future__ import annotations

import argparse
import re
from typing import Sequence

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile, VisitorBasedCodemodCommand
from libcst.metadata import PositionProvider

PYTHON_CASTS = {"str", "int", "float", "uuid.UUID", "UUID", "bytes", "Decimal", "decimal.Decimal"}


def dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = dotted(node.value)
        return f"{left}.{node.attr.value}" if left else None
    return None


def _cast_name(cast: str | None) -> str | None:
    if not cast:
        return None
    return cast.rstrip("()").strip()


# ---------------------------------------------------------------------------------------
# SQL text surgery
# ---------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%|(?<![\w$:])\?(?!\w)|(?<!:):(\w+)")
_TYPE_TAIL = re.compile(
    r"::\s*(?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?"
    r"(?:\s+(?:varying|precision|with(?:out)?\s+time\s+zone))*(?:\s*\(\s*\d+(?:\s*,\s*\d+)*\s*\))?(?:\s*\[\s*\d*\s*\])*")
_ARG = re.compile(r"(?:\$\d+|(?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:\"[^\"]+\"|[A-Za-z_][\w$]*))*)")


def _neutral(sql: str) -> str:
    """Client-side placeholders (%s, %(x)s, ?, :x) → same-length ``$n`` stand-ins so pglast parses.

    Offsets are kept; the k-th placeholder becomes ``$k`` when that fits in its length.
    """
    counter = [0]

    def sub(m: re.Match) -> str:
        text = m.group(0)
        if text == "%%":
            return " %"
        if text == "?":
            return "1"
        counter[0] += 1
        num = str(counter[0])
        return "$" + (num if len(num) == len(text) - 1 else num.ljust(len(text) - 1, "0")
                      if len(num) < len(text) - 1 else "1" * (len(text) - 1))
    return _PLACEHOLDER.sub(sub, sql)


def _type_norm(text: str) -> str:
    t = text.strip().lstrip(":").strip().lower()
    return {"int": "integer", "int4": "integer", "int8": "bigint", "varchar": "character varying",
            "pg_catalog.text": "text", "pg_catalog.int4": "integer", "pg_catalog.int8": "bigint"}.get(t, t)


def find_sql_casts(sql: str, target_type: str | None, column: str | None = None,
                   param: int | None = None) -> list[tuple[int, int, int, int]]:
    """Character spans ``(start, end, arg_start, arg_end)`` of removable casts in ``sql``."""
    from pglast import ast, parse_sql
    from pglast.stream import RawStream
    from pglast.visitors import Visitor

    text = _neutral(sql)
    named = bool(re.search(r"%\(\w+\)s|(?<!:):\w+", sql))  # named styles: numbers are not positions
    data = text  # pglast locations are character offsets
    try:
        tree = parse_sql(text)
    except Exception:  # noqa: BLE001
        return []
    want = _type_norm(target_type) if target_type else None
    found: list[tuple[int, int, int, int]] = []

    class V(Visitor):
        def visit_TypeCast(self, _anc, node):
            arg = node.arg
            if isinstance(arg, ast.ParamRef):
                if column is not None or (param is not None and not named and arg.number != param):
                    return
            elif isinstance(arg, ast.ColumnRef):
                name = arg.fields[-1].sval if arg.fields and isinstance(arg.fields[-1], ast.String) else None
                if param is not None or (column is not None and name != column):
                    return
            else:
                return
            tname = _type_norm(RawStream()(node.typeName))
            if want and tname != want and tname.split(".")[-1] != want:
                return
            loc, aloc = node.location, arg.location
            if loc is None or aloc is None or loc < 0 or aloc < 0:
                return
            am = _ARG.match(data, aloc)
            if not am:
                return
            if data[loc:loc + 2] == "::" or loc > aloc:  # x::type (location points at '::')
                j = am.end()
                while j < len(data) and data[j:j + 1].isspace():
                    j += 1
                m = _TYPE_TAIL.match(data, j)
                if not m:
                    return
                found.append((aloc, m.end(), aloc, am.end()))
            elif data[loc:loc + 4].upper() == "CAST":
                close = data.find(")", am.end())
                if close < 0:
                    return
                found.append((loc, close + 1, aloc, am.end()))

    V()(tree)
    return sorted(set(found))


def remove_sql_casts(sql: str, target_type: str | None, *, column: str | None = None,
                     param: int | None = None, only_lines: set[int] | None = None,
                     first_line: int = 1) -> tuple[str, int]:
    """``sql`` without the matching casts (optionally only those on given source lines)."""
    from pglast import parse_sql

    data = sql
    spans = find_sql_casts(sql, target_type, column, param)
    if only_lines is not None:
        spans = [s for s in spans if first_line + data[:s[0]].count("\n") in only_lines]
    if not spans:
        return sql, 0
    out = ""
    pos = 0
    for start, end, a0, a1 in spans:
        if start < pos:
            continue
        out += data[pos:start] + data[a0:a1]
        pos = end
    out += data[pos:]
    new = out
    try:
        parse_sql(_neutral(new))
    except Exception:  # noqa: BLE001
        return sql, 0
    return new, len(spans)


# ---------------------------------------------------------------------------------------
# codemods
# ---------------------------------------------------------------------------------------


class RemoveCastCommand(VisitorBasedCodemodCommand):
    DESCRIPTION = "Remove a cast workaround (Python cast, cast-helper call or SQL cast) at one line."
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, context: CodemodContext, line: int, kind: str, cast: str | None = None,
                 function: str | None = None, col: int | None = None, target_type: str | None = None,
                 column: str | None = None, param: int | None = None) -> None:
        super().__init__(context)
        self.line, self.kind, self.cast = int(line), kind, _cast_name(cast)
        self.function = function.split(".")[-1] if function else None
        self.col = col
        self.target_type = target_type or (cast.lstrip(":") if cast and cast.startswith("::") else None)
        self.column, self.param = column, param
        self.changes = 0

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--line", type=int, required=True)
        arg_parser.add_argument("--kind", required=True,
                                choices=["python_cast", "helper_call", "sql_cast"])
        arg_parser.add_argument("--cast", default=None)
        arg_parser.add_argument("--function", default=None)

    # python_cast / helper_call -------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.kind not in ("python_cast", "helper_call"):
            return updated_node
        pos = self.get_metadata(PositionProvider, original_node)
        if not (pos.start.line <= self.line <= pos.end.line):
            return updated_node
        if pos.start.line != self.line and self.col is None:
            return updated_node
        if self.col is not None and (pos.start.line, pos.start.column + 1) != (self.line, self.col):
            return updated_node
        name = dotted(updated_node.func)
        if name is None:
            return updated_node
        if self.kind == "python_cast":
            ok = name == self.cast or (self.cast is None and name in PYTHON_CASTS) or (
                self.cast and name.split(".")[-1] == self.cast.split(".")[-1] and name in PYTHON_CASTS)
        else:
            ok = name.split(".")[-1] == self.function
        if not ok or len(updated_node.args) != 1:
            return updated_node
        arg = updated_node.args[0]
        if arg.keyword is not None or arg.star:
            return updated_node
        self.changes += 1
        value = arg.value
        if isinstance(value, (cst.NamedExpr, cst.Lambda, cst.IfExp)):
            value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return value

    # sql_cast --------------------------------------------------------------------------
    def leave_SimpleString(self, original_node: cst.SimpleString,
                           updated_node: cst.SimpleString) -> cst.BaseExpression:
        if self.kind != "sql_cast":
            return updated_node
        pos = self.get_metadata(PositionProvider, original_node)
        if not (pos.start.line <= self.line <= pos.end.line):
            return updated_node
        prefix = updated_node.prefix.lower()
        if "b" in prefix:
            return updated_node
        quote = updated_node.quote
        raw = updated_node.value[len(updated_node.prefix) + len(quote):-len(quote)]
        try:
            value = updated_node.evaluated_value
        except Exception:  # noqa: BLE001
            return updated_node
        if value != raw:  # escapes: offsets of the value do not map onto the source; leave it
            return updated_node
        only = {self.line} if pos.start.line != pos.end.line else None
        new, n = remove_sql_casts(raw, self.target_type, column=self.column, param=self.param,
                                  only_lines=only, first_line=pos.start.line)
        if not n:
            return updated_node
        self.changes += n
        return updated_node.with_changes(value=f"{updated_node.prefix}{quote}{new}{quote}")

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        new = super().transform_module_impl(tree)
        if not self.changes:
            raise SkipFile(f"no {self.kind} at line {self.line}")
        return new


class RemoveHelperCommand(VisitorBasedCodemodCommand):
    """Delete ``def <name>`` (at ``line`` when given) and ``from … import <name>`` aliases."""

    DESCRIPTION = "Remove a cast-only helper function that has no callers left."

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, context: CodemodContext, name: str, line: int | None = None,
                 imports_only: bool = False) -> None:
        super().__init__(context)
        self.name, self.line, self.imports_only = name.split(".")[-1], line, imports_only
        self.changes = 0

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--name", required=True)
        arg_parser.add_argument("--line", type=int, default=None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef):
        if self.imports_only or original_node.name.value != self.name:
            return updated_node
        if self.line is not None:
            pos = self.get_metadata(PositionProvider, original_node)
            start = pos.start.line - len(original_node.decorators)
            if not (start <= self.line <= pos.end.line):
                return updated_node
        self.changes += 1
        return cst.RemoveFromParent()

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom):
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        keep = [a for a in updated_node.names
                if not (isinstance(a.name, cst.Name) and a.name.value == self.name)]
        if len(keep) == len(updated_node.names):
            return updated_node
        self.changes += 1
        if not keep:
            return cst.RemoveFromParent()
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(names=keep)

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        new = super().transform_module_impl(tree)
        if not self.changes:
            raise SkipFile(f"no {self.name}")
        return new


def run_codemod(command: VisitorBasedCodemodCommand, source: str) -> str | None:
    """The transformed source, or None when the command changed nothing."""
    try:
        module = cst.parse_module(source)
        return command.transform_module(module).code
    except SkipFile:
        return None


def references(source: str, name: str) -> list[int]:
    """Lines where ``name`` is used (not defined, not imported) in a module."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return []
    wrapper = cst.metadata.MetadataWrapper(module)
    lines: list[int] = []

    class V(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            for d in node.decorators:
                d.visit(self)
            node.params.visit(self)
            node.body.visit(self)
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

        def visit_Import(self, node: cst.Import) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                lines.append(self.get_metadata(PositionProvider, node).start.line)

        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value == name:
                lines.append(self.get_metadata(PositionProvider, node).start.line)

    wrapper.visit(V())
    return sorted(lines)


__all__: Sequence[str] = ("RemoveCastCommand", "RemoveHelperCommand", "run_codemod", "references",
                          "remove_sql_casts", "find_sql_casts")
