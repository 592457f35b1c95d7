"""What the verifier would send for one statement, decided before anything reaches a server.

:func:`prepare_text` takes a :class:`~heal_pipeline.model.SqlStatement` and returns a
:class:`Plan`: either the exact text to ``PREPARE`` (driver placeholders rewritten to ``$n``,
value holes turned into parameters) or the reason it is not sent:

- placeholders ``%s``/``%(name)s``/``:name``/``?`` are rewritten by the code scanner's own
  lexer (:func:`heal_pipeline.codescan.sql.to_parseable`: string literals, comments, dollar
  quotes and ``::`` casts are skipped); ``$n`` is kept;
- a hole the scanner rendered as a string literal (``'_heal_hole_3'``, a value) becomes one
  more ``$n``; a hole rendered as a name (``_heal_hole_3``, ``"_heal_hole_3"``) stands for an
  identifier or a clause, so the statement is ``identifier_hole``; a dynamic statement whose
  hole vanished from the text (a whole clause) is ``dynamic``;
- the result must parse with pglast as exactly one statement (``multiple_statements``
  otherwise: ``; DROP …`` hidden in a string stays inside the string, one outside is refused);
- only SELECT / INSERT / UPDATE / DELETE / MERGE / VALUES are sent; DDL (``ddl``) and every
  other utility statement (``utility``) never are.

The plan also records which relations a statement creates (DDL run by the same code) or
reads, and whether it sets ``search_path``: :mod:`heal_pipeline.verify.core` uses them to
turn "relation does not exist" into ``runtime_object`` / ``temp_table`` / ``search_path``.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

from pglast import parser as _pg

from heal_pipeline.codescan.sql import HOLE_PREFIX, to_parseable
from heal_pipeline.model import SqlStatement

__all__ = ["Plan", "prepare_text", "PREPARABLE"]

PREPARABLE = {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"}

_DDL_PREFIXES = ("Create", "Alter", "Drop", "Rename", "Define", "Comment", "Grant", "Truncate",
                 "Reindex", "Cluster", "SecLabel", "RefreshMatView", "Import")
_DDL_EXTRA = {"IndexStmt", "ViewStmt", "RuleStmt", "CompositeTypeStmt", "ObjectWithArgs"}

_HOLE_WORD = re.compile(re.escape(HOLE_PREFIX) + r"\d+")
_HOLE_LITERAL = re.compile(r"'" + re.escape(HOLE_PREFIX) + r"\d+'")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_COLON_PARAM = re.compile(r"(?<![:\w]):[A-Za-z_]\w*")


@dataclass
class Plan:
    """The verifier's decision for one statement before any round trip."""

    text: str | None  # what PREPARE receives, None = not sent
    reason: str | None = None  # not_verifiable reason when text is None
    message: str = ""
    node: str | None = None  # pglast node name of the statement (SelectStmt, CreateStmt, ...)
    relations: list[tuple[str | None, str]] = field(default_factory=list)  # RangeVars read/written
    creates: list[tuple[str | None, str, bool]] = field(default_factory=list)  # (schema, name, temp)
    alters: list[tuple[str | None, str]] = field(default_factory=list)
    sets_search_path: bool = False
    hole_params: set[int] = field(default_factory=set)  # $n numbers that stand for code holes
    anchors: list[list[tuple[int, int]]] = field(default_factory=list)  # sent -> ... -> original

    def original_offset(self, pos: int) -> int:
        """Map a 0-based offset in the sent text back to the statement's ``sql``."""
        for anchors in self.anchors:
            keys = [a[0] for a in anchors]
            k = bisect.bisect_right(keys, pos) - 1
            if k >= 0:
                new, old = anchors[k]
                pos = old + (pos - new)
        return pos


def _hint(stmt: SqlStatement) -> str | None:
    styles = {p.style for p in stmt.params}
    if "qmark" in styles:
        return "qmark"
    if stmt.call == "text" or ("named" in styles and "%(" not in stmt.sql
                               and any(p.name for p in stmt.params)):
        return "colon"
    return None


def _parse(text: str) -> list[dict] | None:
    try:
        tree = json.loads(_pg.parse_sql_json(text))
    except Exception:  # noqa: BLE001 - any parser complaint means "does not parse"
        return None
    return [raw.get("stmt") or {} for raw in tree.get("stmts") or []]


def _holes(text: str) -> tuple[str, list[tuple[int, int]], list[str], int]:
    """Value holes -> ``$n`` (numbered after ``base``); names of identifier holes left.

    Returns (text, anchors, identifier_holes, number_of_value_holes)."""
    out: list[str] = []
    anchors: list[tuple[int, int]] = [(0, 0)]
    idents: list[str] = []
    count = 0
    i, start, new_len, L = 0, 0, 0, len(text)
    base = _max_param(text)
    while i < L:
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < L:
                if text[j] == "'":
                    if j + 1 < L and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                if text[j] == "\\" and i > 0 and text[i - 1] in "eE":
                    j += 2
                    continue
                j += 1
            m = _HOLE_LITERAL.fullmatch(text, i, j + 1)
            prev = text[i - 1] if i > 0 else " "
            if m and not (prev.isalnum() or prev == "_"):
                count += 1
                rep = f"${base + count}"
                out.append(text[start:i])
                new_len += i - start
                anchors.append((new_len, i))
                out.append(rep)
                new_len += len(rep)
                start = j + 1
                anchors.append((new_len, start))
            i = j + 1
            continue
        if ch == '"':
            j = text.find('"', i + 1)
            j = L if j < 0 else j
            if _HOLE_WORD.search(text, i, j):
                idents.append(text[i + 1:j])
            i = j + 1
            continue
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = L if j < 0 else j + 1
            continue
        if ch == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = L if j < 0 else j + 2
            continue
        if ch == "$":
            m = _DOLLAR_TAG.match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                j = text.find(m.group(0), m.end())
                i = L if j < 0 else j + len(m.group(0))
                continue
        if ch == "_" and text.startswith(HOLE_PREFIX, i):
            m = _HOLE_WORD.match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                idents.append(m.group(0))
                i = m.end()
                continue
        i += 1
    out.append(text[start:])
    return "".join(out), anchors, idents, count


def _max_param(text: str) -> int:
    nums = [int(m) for m in re.findall(r"(?<![\w$])\$(\d+)", text)]
    return max(nums, default=0)


def _walk_rangevars(node, acc: list[tuple[str | None, str]]) -> None:
    if isinstance(node, dict):
        rv = node.get("RangeVar")
        if isinstance(rv, dict) and "relname" in rv:
            acc.append((rv.get("schemaname"), rv["relname"]))
        for v in node.values():
            _walk_rangevars(v, acc)
    elif isinstance(node, list):
        for v in node:
            _walk_rangevars(v, acc)


def _rel(d: dict | None) -> tuple[str | None, str, bool] | None:
    if not isinstance(d, dict) or "relname" not in d:
        return None
    return d.get("schemaname"), d["relname"], d.get("relpersistence") == "t"


def _describe(stmt_node: dict, plan: Plan) -> None:
    name = next(iter(stmt_node), None)
    body = stmt_node.get(name) or {}
    plan.node = name
    created = None
    if name == "CreateStmt":
        created = _rel(body.get("relation"))
    elif name == "CreateTableAsStmt":
        created = _rel((body.get("into") or {}).get("rel"))
    elif name == "ViewStmt":
        created = _rel(body.get("view"))
    elif name == "CreateSeqStmt":
        created = _rel(body.get("sequence"))
    elif name == "SelectStmt" and body.get("intoClause"):
        created = _rel(body["intoClause"].get("rel"))
    if created:
        plan.creates.append(created)
    if name == "AlterTableStmt":
        r = _rel(body.get("relation"))
        if r:
            plan.alters.append((r[0], r[1]))
    if name == "VariableSetStmt" and (body.get("name") or "").lower() == "search_path":
        plan.sets_search_path = True
    _walk_rangevars(body, plan.relations)


def _is_ddl(node: str) -> bool:
    return node.startswith(_DDL_PREFIXES) or node in _DDL_EXTRA or (
        node.endswith("Stmt") and node[:-4] in ("Index", "View", "Rule"))


def prepare_text(stmt: SqlStatement) -> Plan:
    """Decide what (if anything) is sent for ``stmt``; never raises."""
    sql = stmt.sql or ""
    if not sql.strip():
        return Plan(None, "unparsed", "empty statement text")
    hint = _hint(stmt)
    tried = [hint] + [h for h in ("colon", "qmark") if h != hint]
    first: tuple | None = None
    for h in tried:
        if h == "colon" and hint != "colon" and not _COLON_PARAM.search(sql):
            continue
        if h == "qmark" and hint != "qmark" and "?" not in sql:
            continue
        text1, _style, _names, anchors1, _count = to_parseable(sql, h)
        text2, anchors2, idents, nholes = _holes(text1)
        stmts = _parse(text2)
        if first is None:
            first = (text2, anchors1, anchors2, idents, nholes, stmts)
        if stmts is not None:
            first = (text2, anchors1, anchors2, idents, nholes, stmts)
            break
    assert first is not None
    text, anchors1, anchors2, idents, nholes, stmts = first
    plan = Plan(text, anchors=[anchors2, anchors1])
    base = _max_param(text) - nholes
    plan.hole_params = set(range(base + 1, base + nholes + 1))
    if stmts is None:
        plan.text, plan.reason = None, "unparsed"
        plan.message = stmt.parse_error or "the statement does not parse (pglast)"
        return plan
    if len(stmts) != 1:
        plan.text, plan.reason = None, "multiple_statements" if stmts else "empty"
        plan.message = (f"{len(stmts)} statements in one text: refused, never split"
                        if stmts else "no statement in the text (comments only)")
        if stmts:
            for node in stmts:
                _describe(node, plan)
        return plan
    _describe(stmts[0], plan)
    node = plan.node or ""
    if node not in PREPARABLE or (node == "SelectStmt" and plan.creates):
        plan.text = None
        plan.reason = "ddl" if (_is_ddl(node) or plan.creates) else "utility"
        plan.message = f"{node}: not sent (only SELECT/INSERT/UPDATE/DELETE/MERGE are prepared)"
        return plan
    if idents:
        plan.text, plan.reason = None, "identifier_hole"
        plan.message = (f"a runtime value stands for a name or clause ({', '.join(sorted(set(idents)))})"
                        ": the text the server would see is unknown")
        return plan
    if stmt.dynamic and HOLE_PREFIX not in sql:
        plan.text, plan.reason = None, "dynamic"
        plan.message = "composed at run time and no value hole is visible: a whole clause is unknown"
        return plan
    return plan
