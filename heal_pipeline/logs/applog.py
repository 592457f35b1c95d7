"""Application-side JSON error logs: one JSON object per line, with the application's own key names.

PostgreSQL's jsonlog has fixed keys (``error_severity``, ``state_code``, ``message``, ``statement``…);
an application that logs its own database errors writes something like::

    {"ts": "2026-12-03T06:01:02Z", "level": "error", "sqlstate": "42883",
     "error": "operator does not exist: text = integer", "query": "SELECT … WHERE email = $1"}

A line of a ``jsonlog`` file without the ``error_severity`` key is read as such an application line:
each :data:`FIELDS` entry is looked up under the keys of the mapping (:data:`DEFAULT_KEYS` unless
configured; a dotted key such as ``error.code`` reads a nested object). The mapping is configured
with ``HEAL_QUERY_LOG_KEYS`` (or ``query_log_keys`` in the fleet file), ``field=key`` pairs separated
by commas — a configured field uses exactly its key, the others keep their defaults::

    HEAL_QUERY_LOG_KEYS="sqlstate=pg.code,statement=sql_text,message=err,timestamp=@t"

What becomes of an application line (:func:`classify_app_object`):

* a SQLSTATE of five characters (``[0-9A-Z]{5}``, not class 00/01/02) under the ``sqlstate`` key, or
  one inferred from a PostgreSQL message under the ``message`` key, and a level that is not a
  non-error level → a failed-query record (severity ERROR unless the level says FATAL/PANIC);
* a non-error level (``info``, ``warning``, ``debug`` …) → *skipped* (a well-formed line that is not
  a failure);
* a ``duration_ms`` (a number) and a ``statement`` → a duration record (for ``slow_query``);
* anything else → *unrecognised*: counted, with samples, and reported by ``heal check`` and the
  ``failed_queries`` asset (never silently dropped: a wrong key mapping shows up at once).

Python applications often log the exception as it prints (:func:`exception_text`):
``psycopg.errors.UndefinedFunction: operator does not exist: text = integer``,
``asyncpg.exceptions.ForeignKeyViolationError: insert or update on table …``, or SQLAlchemy's
``(psycopg.errors.UndefinedFunction) operator does not exist: … [SQL: SELECT …]``. The exception
class names the SQLSTATE (psycopg's class names; asyncpg's are the same with ``Error``), the
message is the first line after it, and SQLAlchemy's ``[SQL: …]`` is the statement.
"""

from __future__ import annotations

import re
from typing import Any

from heal_pipeline.errors import ConfigError

__all__ = ["FIELDS", "DEFAULT_KEYS", "parse_key_mapping", "classify_app_object", "is_pg_jsonlog",
           "app_json_line"]

#: the LogRecord fields an application line may carry
FIELDS = ("sqlstate", "message", "statement", "timestamp", "severity", "database", "user", "detail",
          "hint", "context", "cursor_position", "application", "duration_ms")

DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "sqlstate": ("sqlstate", "state_code", "sql_state", "pgcode"),
    "message": ("error", "message", "msg", "err"),
    "statement": ("query", "statement", "sql"),
    "timestamp": ("timestamp", "ts", "time", "@timestamp"),
    "severity": ("level", "severity", "levelname"),
    "database": ("database", "dbname", "db"),
    "user": ("user", "db_user"),
    "detail": ("detail",),
    "hint": ("hint",),
    "context": ("context",),
    "cursor_position": ("position", "cursor_position"),
    "application": ("application", "application_name", "app"),
    "duration_ms": ("duration_ms",),
}

_STATE = re.compile(r"^[0-9A-Z]{5}$")
_FAILURE_LEVELS = {"error": "ERROR", "err": "ERROR", "critical": "ERROR", "crit": "ERROR",
                   "alert": "ERROR", "emerg": "PANIC", "fatal": "FATAL", "panic": "PANIC"}
_OTHER_LEVELS = frozenset({"warning", "warn", "info", "information", "debug", "trace", "notice",
                           "log", "verbose"})
_PAIR = re.compile(r"^\s*(?P<field>[a-z_]+)\s*=\s*(?P<key>\S(?:.*\S)?)\s*$")


def parse_key_mapping(value: str | dict | None, *, name: str = "HEAL_QUERY_LOG_KEYS") -> dict[str, str] | None:
    """``"sqlstate=code,statement=sql"`` (or a dict) → {field: key}; None for None/empty.

    Unknown fields and malformed pairs are a one-line :class:`ConfigError`."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = []
        for part in value.split(","):
            if not part.strip():
                continue
            m = _PAIR.match(part)
            if m is None:
                raise ConfigError(f"{name}: {part.strip()!r} is not field=key "
                                  f"(example: sqlstate=code,statement=query,message=error)")
            pairs.append((m["field"], m["key"]))
    else:
        raise ConfigError(f"{name}: expected field=key pairs, got {type(value).__name__}")
    out: dict[str, str] = {}
    for field_name, key in pairs:
        if field_name not in FIELDS:
            raise ConfigError(f"{name}: unknown field {field_name!r} (fields: {', '.join(FIELDS)})")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{name}: the key for {field_name!r} must be a non-empty string")
        out[field_name] = key.strip()
    return out


def is_pg_jsonlog(raw: bytes) -> bool:
    """A line of PostgreSQL's own jsonlog (it always writes ``error_severity``)."""
    return b'"error_severity":' in raw


def _get(obj: dict, key: str) -> Any:
    if key in obj:
        return obj[key]
    if "." in key:
        cur: Any = obj
        for part in key.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
        return cur
    return None


def _lookup(obj: dict, field_name: str, keys: dict[str, str] | None) -> Any:
    if keys and field_name in keys:
        return _get(obj, keys[field_name])
    for k in DEFAULT_KEYS[field_name]:
        v = obj.get(k)
        if v is not None and v != "":
            return v
    return None


def _text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, dict):  # {"error": {"message": …}} without a dotted mapping
        v = v.get("message") or v.get("msg") or v
    return v if isinstance(v, str) else str(v)


_EXC_PREFIX = re.compile(r"^\(?(?P<cls>[A-Za-z_][\w.]*)\)?:?\s+(?P<msg>.+)$")
_SA_SQL = re.compile(r"\[SQL: (?P<sql>.*?)\](?:\n|$)", re.S)


def _class_state(cls: str) -> str | None:
    """SQLSTATE of a driver exception class name (psycopg, asyncpg), or None."""
    import psycopg.errors  # noqa: PLC0415

    name = cls.rsplit(".", 1)[-1]
    for cand in (name, name[:-5] if name.endswith("Error") else None):
        c = getattr(psycopg.errors, cand, None) if cand else None
        state = getattr(c, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def exception_text(message: str) -> tuple[str, str | None, str | None]:
    """(message, SQLSTATE from the exception class, statement) of a logged driver exception; the
    message unchanged and two Nones when it is not one."""
    first = message.strip().split("\n", 1)[0]
    m = _EXC_PREFIX.match(first)
    if m is None or ("." not in m["cls"] and not m["cls"].endswith(("Error", "Exception"))):
        return message, None, None
    state = _class_state(m["cls"])
    if state is None and "." not in m["cls"]:
        return message, None, None
    sql = _SA_SQL.search(message)
    return m["msg"].strip(), state, (_dollar_params(sql["sql"].strip()) if sql else None)


_PYFORMAT = re.compile(r"%\((\w+)\)s|%s")


def _dollar_params(sql: str) -> str:
    """SQLAlchemy prints the driver's text: ``%(id)s`` / ``%s`` → ``$1`` … (as the server saw it)."""
    names: dict[str, int] = {}
    n = 0

    def sub(m: re.Match) -> str:
        nonlocal n
        if m.group(1) and m.group(1) in names:
            return f"${names[m.group(1)]}"
        n += 1
        if m.group(1):
            names[m.group(1)] = n
        return f"${n}"
    return _PYFORMAT.sub(sub, sql)


def classify_app_object(obj: dict, keys: dict[str, str] | None):
    """(kind, fields) for one application JSON object; kind is ``failure``, ``duration``,
    ``skipped`` or ``unrecognised`` (fields then holds ``reason``)."""
    from .sqlstate import infer_sqlstate  # noqa: PLC0415

    f = {name: _lookup(obj, name, keys) for name in FIELDS}
    level = (_text(f["severity"]) or "").strip().lower()
    message = _text(f["message"])
    state = _text(f["sqlstate"])
    state = state.strip().upper() if state else None
    inferred = False
    if state is not None and (not _STATE.match(state) or state[:2] in ("00", "01", "02")):
        if state[:2] in ("00", "01", "02") and _STATE.match(state):
            return "skipped", {}
        state = None
    statement = _text(f["statement"])
    if message:
        cleaned, from_class, sql = exception_text(message)
        if cleaned is not message:
            message, statement = cleaned, statement or sql
            if state is None and from_class is not None:
                state, inferred = from_class, True
    if state is None and message:
        state = infer_sqlstate(message.strip())
        inferred = state is not None
    fields = {
        "sqlstate": state, "message": message or "", "statement": statement,
        "timestamp": _text(f["timestamp"]), "database": _text(f["database"]), "user": _text(f["user"]),
        "detail": _text(f["detail"]), "hint": _text(f["hint"]), "context": _text(f["context"]),
        "application": _text(f["application"]), "sqlstate_inferred": inferred,
    }
    pos = f["cursor_position"]
    fields["cursor_position"] = pos if isinstance(pos, int) and not isinstance(pos, bool) else None
    if level in _OTHER_LEVELS:
        kind = "skipped"
    elif state is not None:
        fields["severity"] = _FAILURE_LEVELS.get(level, "ERROR")
        return "failure", fields
    else:
        kind = None
    dur = f["duration_ms"]
    if isinstance(dur, (int, float)) and not isinstance(dur, bool) and fields["statement"]:
        fields["severity"] = "LOG"
        fields["duration_ms"] = float(dur)
        return "duration", fields
    if kind == "skipped":
        return "skipped", {}
    used = {n: (keys or {}).get(n) or "|".join(DEFAULT_KEYS[n]) for n in ("sqlstate", "message")}
    return "unrecognised", {"reason": f"no SQLSTATE under {used['sqlstate']!r} and no PostgreSQL error "
                                      f"message under {used['message']!r}"}


def app_json_line(s: bytes, raw: bytes, off: int, ln: int | None, source, keys, res) -> None:
    """One line of an application's own JSON log (``applog.py``)."""
    import json  # noqa: PLC0415

    from .parse import LogRecord, iso_timestamp  # noqa: PLC0415

    try:
        obj = json.loads(s.decode("utf-8", "replace"))
    except ValueError as exc:
        res._bad(off, ln, f"invalid JSON: {exc}", raw)
        return
    if not isinstance(obj, dict):
        res._bad(off, ln, "not a JSON object", raw)
        return
    kind, f = classify_app_object(obj, keys)
    if kind == "skipped":
        res.skipped += 1
    elif kind == "unrecognised":
        res._unrec(off, ln, f["reason"], raw)
    else:
        dur = f.pop("duration_ms", None)
        rec = LogRecord(
            severity=f["severity"], sqlstate=f["sqlstate"], message=f["message"],
            timestamp=iso_timestamp(f["timestamp"]), database=f["database"], user=f["user"],
            detail=f["detail"], hint=f["hint"], context=f["context"], statement=f["statement"],
            cursor_position=f["cursor_position"], application=f["application"],
            sqlstate_inferred=f["sqlstate_inferred"], offset=off, line=ln, source=source, app=True)
        if kind == "duration":
            rec.duration_ms = dur
            res.durations.append(rec)
        else:
            res.records.append(rec)
