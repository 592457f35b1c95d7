"""Statement normalisation and grouping of failed queries.

:func:`normalize` turns a statement into the text failures are grouped by:

1. ``pglast.parser.normalize`` (libpg_query, the same rules as pg_stat_statements) replaces every
   constant with a ``$n`` parameter when the statement parses;
2. the statement is then re-tokenised with ``pglast.parser.scan`` (PostgreSQL's own lexer, which
   also works on statements that do not parse, e.g. the ones that failed with a syntax error):
   comments dropped, constants left by step 1 replaced, keywords and unquoted identifiers
   lower-cased (PostgreSQL folds them anyway), quoted identifiers kept, one canonical spacing,
   ``IN ($1, $2, …)`` lists and multi-row ``VALUES (…), (…)`` lists of placeholders squashed, a
   trailing ``;`` dropped, and the placeholders renumbered by first appearance;
3. if the lexer fails too (an unterminated quote in a truncated statement), a regex normaliser.

So ``SELECT * FROM x WHERE id = 5`` and ``select *  from x where id=7`` both become
``select * from x where id = $1``.

:func:`group_failed` groups records by (SQLSTATE, normalised statement) into
:class:`~heal_pipeline.model.FailedQuery` objects; a record without a statement (a FATAL
connection error, say) is grouped by its message, as ``-- <message>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from pglast import parser as _pg

from heal_pipeline.model import FailedQuery

from .parse import LogRecord

__all__ = ["normalize", "group_key_text", "group_failed", "merge_failed"]

_CONSTS = frozenset({"ICONST", "FCONST", "SCONST", "BCONST", "XCONST", "USCONST"})
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_NO_SPACE_BEFORE = frozenset({",", ")", "]", ".", "::", ";", "["})
_NO_SPACE_AFTER = frozenset({"(", "[", ".", "::"})
_KEEP_SPACE_BEFORE_PAREN = frozenset({"in", "values", "exists", "as", "and", "or", "not", "on",
                                      "from", "join", "select", "where", "using", "any", "all",
                                      "some", "between", "when", "then", "else", "set", "by",
                                      "into", "table", "returning", "with", "union", "except",
                                      "intersect", "lateral", "is", "like", "ilike", "over",
                                      "case", "distinct", "filter", "within", "group", "limit"})
_PH = "\x00"  # placeholder marker before numbering
_OPS_BEFORE_UNARY = frozenset({"(", ",", "=", "<", ">", "<=", ">=", "<>", "!=", "+", "-", "*", "/",
                               "%", "^", "[", "::"})
_SQUASH = "/*, ... */"


@lru_cache(maxsize=16384)
def normalize(sql: str) -> str:
    """Canonical text of ``sql`` with literals replaced by ``$n`` placeholders (see module doc)."""
    if not sql:
        return ""
    text = sql
    try:
        text = _pg.normalize(sql)
    except Exception:  # noqa: BLE001  (ParseError: does not parse, lex it as it is)
        text = sql
    try:
        tokens = _pg.scan(text)
    except Exception:  # noqa: BLE001  (unterminated quote or comment)
        return _regex_normalize(sql)
    return _canonical(text, tokens)


def _canonical(text: str, tokens) -> str:
    out: list[str] = []  # token texts; placeholders as _PH + original number ("" for a constant)
    for t in tokens:
        name = t.name
        if name in _COMMENTS:
            continue
        s = text[t.start:t.end + 1]  # pglast reports character offsets
        if name in _CONSTS or name == "PARAM":
            # fold a unary minus into the constant: `id = -3` groups with `id = 3`
            if out and out[-1] == "-" and (len(out) == 1 or out[-2] in _OPS_BEFORE_UNARY
                                            or out[-2].isalpha()):
                out.pop()
            out.append(_PH + (s[1:] if name == "PARAM" else ""))
        elif s.startswith('"') or s.startswith(("U&", "u&")):
            out.append(s)  # quoted identifier: case matters
        else:
            out.append(s.lower())
    while out and out[-1] == ";":
        out.pop()
    out = _squash(out)
    # renumber placeholders by first appearance (same original $n → same new number)
    numbers: dict[str, int] = {}
    n = 0
    for i, s in enumerate(out):
        if s.startswith(_PH):
            orig = s[1:]
            if orig and orig in numbers:
                out[i] = f"${numbers[orig]}"
            else:
                n += 1
                if orig:
                    numbers[orig] = n
                out[i] = f"${n}"
    return _join(out)


def _is_ph(s: str) -> bool:
    return s.startswith(_PH)


def _ph_list_end(out: list[str], i: int) -> int | None:
    """If out[i] == "(" starts ``( ph , ph … )``, the index of its ")"; else None."""
    if i >= len(out) or out[i] != "(":
        return None
    j = i + 1
    if j >= len(out) or not _is_ph(out[j]):
        return None
    j += 1
    while j + 1 < len(out) and out[j] == "," and _is_ph(out[j + 1]):
        j += 2
    return j if j < len(out) and out[j] == ")" else None


def _squash(out: list[str]) -> list[str]:
    res: list[str] = []
    i = 0
    while i < len(out):
        tok = out[i]
        res.append(tok)
        if tok == "in":
            end = _ph_list_end(out, i + 1)
            if end is not None and end - i > 3:  # two or more items
                res.extend(["(", out[i + 2], _SQUASH, ")"])
                i = end + 1
                continue
        elif tok == "values":
            end = _ph_list_end(out, i + 1)
            if end is not None:
                width = end - i
                k = end + 1
                rows = 1
                while k < len(out) and out[k] == ",":
                    nxt = _ph_list_end(out, k + 1)
                    if nxt is None or nxt - k != width:
                        break
                    rows += 1
                    k = nxt + 1
                res.extend(out[i + 1:end + 1])
                if rows > 1:
                    res.append(_SQUASH)
                i = k
                continue
        i += 1
    return res


def _join(out: list[str]) -> str:
    parts: list[str] = []
    prev = None
    for s in out:
        if prev is not None and s not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            if not (s == "(" and prev[:1] not in "$" and (prev[:1].isalpha() or prev[:1] in '_"')
                    and prev not in _KEEP_SPACE_BEFORE_PAREN):
                parts.append(" ")
        parts.append(s)
        prev = s
    return "".join(parts)


_RX_COMMENT = re.compile(r"--[^\n]*|/\*.*?(?:\*/|$)", re.S)
_RX_STRING = re.compile(r"(?:[EeBbXxNn]|[Uu]&)?'(?:[^']|'')*(?:'|$)|\$([A-Za-z_]\w*)?\$.*?(?:\$\1\$|$)", re.S)
_RX_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?![\w$])|\$\d+")
_RX_QUOTED_IDENT = re.compile(r'("(?:[^"]|"")*"?)')


def _regex_normalize(sql: str) -> str:
    s = _RX_COMMENT.sub(" ", sql)
    s = _RX_STRING.sub(_PH, s)
    s = _RX_NUMBER.sub(_PH, s)
    pieces = _RX_QUOTED_IDENT.split(s)
    s = "".join(p if i % 2 else p.lower() for i, p in enumerate(pieces))
    s = " ".join(s.split()).rstrip("; ")
    n = 0

    def num(_m) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(_PH, num, s)


def group_key_text(rec: LogRecord) -> str:
    """The ``normalized`` text a record is grouped by."""
    if rec.statement:
        return normalize(rec.statement)
    return "-- " + " ".join((rec.message or "").split())


def group_failed(records: Iterable[LogRecord], *, database: str | None = None,
                 source: str | None = None) -> list[FailedQuery]:
    """Group failed records by (SQLSTATE, normalised statement), in file order.

    ``count``, ``first_seen``/``last_seen`` cover the group; message, detail, hint, statement,
    cursor_position, context, database and user are those of the latest record. ``database``
    keeps only the records of that database (and application-log records that name none). Sorted by count (desc), then first appearance.
    """
    groups: dict[tuple[str, str], FailedQuery] = {}
    for rec in records:
        if not rec.is_failure or (database is not None and rec.database != database
                                  and not (rec.database is None and rec.app)):
            continue  # an application log line without a database belongs to its application
        norm = group_key_text(rec)
        key = (rec.sqlstate, norm)
        fq = groups.get(key)
        if fq is None:
            groups[key] = FailedQuery(
                sqlstate=rec.sqlstate, message=rec.message, statement=rec.statement, normalized=norm,
                database=rec.database, user=rec.user, detail=rec.detail, hint=rec.hint, count=1,
                first_seen=rec.timestamp, last_seen=rec.timestamp, source=source or rec.source,
                cursor_position=rec.cursor_position, context=rec.context)
            continue
        fq.count += 1
        if rec.timestamp and fq.first_seen and _before(rec.timestamp, fq.first_seen):
            fq.first_seen = rec.timestamp
        elif fq.first_seen is None:
            fq.first_seen = rec.timestamp
        if fq.last_seen is None or (rec.timestamp and not _before(rec.timestamp, fq.last_seen)):
            fq.last_seen = rec.timestamp or fq.last_seen
            fq.message, fq.statement, fq.detail, fq.hint = rec.message, rec.statement, rec.detail, rec.hint
            fq.database, fq.user = rec.database, rec.user
            fq.cursor_position, fq.context = rec.cursor_position, rec.context
    order = {k: i for i, k in enumerate(groups)}
    return sorted(groups.values(), key=lambda f: (-f.count, order[(f.sqlstate, f.normalized)]))


def merge_failed(*batches: Iterable[FailedQuery]) -> list[FailedQuery]:
    """Merge groups from several reads (e.g. the stored state and this tick) by group key:
    counts add up, first/last seen widen, the latest group's details win. Inputs are not modified."""
    merged: dict[tuple[str, str], FailedQuery] = {}
    for batch in batches:
        for fq in batch:
            key = (fq.sqlstate, fq.normalized)
            cur = merged.get(key)
            if cur is None:
                merged[key] = FailedQuery(**vars(fq))
                continue
            first = [t for t in (cur.first_seen, fq.first_seen) if t]
            last = [t for t in (cur.last_seen, fq.last_seen) if t]
            newer = cur.last_seen is None or (fq.last_seen is not None
                                              and not _before(fq.last_seen, cur.last_seen))
            total = cur.count + fq.count
            if newer:
                cur = FailedQuery(**vars(fq))
            cur.count = total
            cur.first_seen = min(first, key=_sort_key) if first else None
            cur.last_seen = max(last, key=_sort_key) if last else None
            merged[key] = cur
    return sorted(merged.values(), key=lambda f: (-f.count, f.first_seen or "", f.normalized))


def _sort_key(ts: str):
    try:
        dt = datetime.fromisoformat(ts)
        return (0, dt.timestamp(), ts)
    except ValueError:
        return (1, 0.0, ts)


def _before(a: str, b: str) -> bool:
    return _sort_key(a) < _sort_key(b)
