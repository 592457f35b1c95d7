"""Ask PostgreSQL to analyze each statement without running it.

Protocol, per statement, pipelined through psycopg's libpq connection (``conn.pgconn``):
``ROLLBACK TO SAVEPOINT`` (undo whatever the previous statement's analysis did, a failed one
included), ``Parse`` (= PREPARE under a generated name), ``Describe`` (parameter types and
result columns), ``Close`` (= DEALLOCATE), ``Sync``. ``Bind``/``Execute`` are never sent for an
application statement, so nothing is ever run: not a trigger, not a volatile function. All of
it happens inside a transaction that ends as it began: :func:`verify_statements` opens
``BEGIN READ ONLY`` and rolls it back; :func:`verify_in_transaction` wraps everything in a
savepoint of the caller's transaction and rolls back to it (SET LOCAL timeouts included).
``statement_timeout`` and ``lock_timeout`` bound each statement; a statement whose tables are
locked by another session is ``not_verifiable (lock)`` after ``lock_timeout``, never retried.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import psycopg
from psycopg import pq

from heal_pipeline.errors import HealError
from heal_pipeline.model import SqlStatement
from heal_pipeline.verify.rewrite import Plan, prepare_text

__all__ = ["StatementCheck", "verify_statements", "verify_in_transaction", "changed",
           "statements_touching", "coverage", "UNCHECKED_REASONS"]

#: not_verifiable reasons that mean "could have been checked, but the check failed" (coverage)
UNCHECKED_REASONS = {"timeout", "connection", "permission", "lock", "server"}

_BATCH = 200  # statements per pipeline flush (keeps both socket buffers far from full)
_F = pq.DiagnosticField
_E = pq.ExecStatus

_REASON_BY_SQLSTATE = {"55P03": "lock", "57014": "timeout", "42501": "permission",
                       "57P01": "connection", "57P02": "connection", "57P03": "connection",
                       "XX000": "server", "53100": "server", "53200": "server", "53300": "server"}
_MISSING = {"42P01", "42703", "42883", "42704", "3F000"}  # object-not-found family


@dataclass
class StatementCheck:
    """The server's verdict on one application statement."""

    statement_id: str
    file: str
    line: int
    col: int
    sql: str  # the text as sent (placeholders as $n); the original text when nothing was sent
    status: str  # ok | rejected | not_verifiable
    sqlstate: str | None = None
    message: str = ""
    reason: str | None = None  # for not_verifiable
    position: int | None = None  # 1-based character in the *original* statement text
    error_line: int | None = None  # position mapped to the file (approximate inside long strings)
    error_col: int | None = None
    detail: str | None = None
    hint: str | None = None
    param_types: list[str] = field(default_factory=list)
    result_columns: list[tuple[str, str]] = field(default_factory=list)
    hole_params: list[int] = field(default_factory=list)  # $n numbers standing for code holes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["result_columns"] = [list(c) for c in self.result_columns]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StatementCheck":
        d = dict(d)
        d["result_columns"] = [tuple(c) for c in d.get("result_columns") or []]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _check(stmt: SqlStatement, plan: Plan | None, status: str, **kw) -> StatementCheck:
    sql = plan.text if plan is not None and plan.text is not None else stmt.sql
    return StatementCheck(statement_id=stmt.statement_id, file=stmt.file, line=stmt.line,
                          col=stmt.col, sql=sql, status=status,
                          hole_params=sorted(plan.hole_params) if plan else [], **kw)


def _position(stmt: SqlStatement, plan: Plan, pos: int) -> tuple[int, int, int]:
    """(1-based offset in the original text, file line, file column) of a 1-based position."""
    off = max(0, min(plan.original_offset(pos - 1), len(stmt.sql)))
    before = stmt.sql[:off]
    nl = before.count("\n")
    if nl == 0:
        return off + 1, stmt.line, stmt.col + off
    return off + 1, stmt.line + nl, off - before.rfind("\n")


def _key(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


class _Session:
    """Runs the pipelined Parse/Describe/Close protocol on one libpq connection."""

    def __init__(self, conn: psycopg.Connection, timeout_ms: int, lock_timeout_ms: int):
        self.conn = conn
        self.pg = conn.pgconn
        self.timeout_ms = int(timeout_ms)
        self.lock_timeout_ms = int(lock_timeout_ms)
        self.tag = os.urandom(4).hex()
        self._leftover = False

    # -- low level ---------------------------------------------------------------------
    def _q(self, query: str, params: list[str] | None = None) -> None:
        self.pg.send_query_params(query.encode(), [p.encode() for p in params] if params else None)

    def _results(self, expected: list[str]) -> list[pq.abc.PGresult | None]:
        """One result per expected item ("cmd" or "sync"), in order."""
        out: list[Any] = []
        for kind in expected:
            res = self.pg.get_result()
            if res is None:
                if self.pg.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError(self.pg.get_error_message() or "connection lost")
                res = self.pg.get_result()  # tolerate a stray separator
            out.append(res)
            if kind == "cmd":
                nxt = self.pg.get_result()
                if nxt is not None:  # never expected: keep reading until the separator
                    while nxt is not None:
                        nxt = self.pg.get_result()
        return out

    def _exec(self, steps: list[tuple[str, list[str] | None]]) -> list[Any]:
        for q, p in steps:
            self._q(q, p)
        self.pg.pipeline_sync()
        res = self._results(["cmd"] * len(steps) + ["sync"])
        for r in res[:-1]:
            if r is None or r.status not in (_E.COMMAND_OK, _E.TUPLES_OK):
                msg = r.get_error_message() if r is not None else "no result"
                raise HealError(f"statement verifier: setup failed: {msg}")
        return res

    # -- protocol ----------------------------------------------------------------------
    def run(self, items: list[tuple[int, SqlStatement, Plan]], mode: str,
            out: list[StatementCheck | None]) -> None:
        pg = self.pg
        with self.conn.lock:  # psycopg's own lock: no other thread uses the connection meanwhile
            if pg.pipeline_status != pq.PipelineStatus.OFF:
                raise HealError("statement verifier: the connection is in pipeline mode; pass a plain one")
            state = pq.TransactionStatus(pg.transaction_status)
            if state == pq.TransactionStatus.IDLE:
                prologue, epilogue = [("BEGIN READ ONLY", None)], [("ROLLBACK", None)]
            elif mode == "own" and state == pq.TransactionStatus.INTRANS:
                raise HealError("verify_statements needs a connection outside a transaction "
                                "(use verify_in_transaction inside one)")
            elif state == pq.TransactionStatus.INTRANS:
                prologue = [("SAVEPOINT heal_verify_outer", None)]
                epilogue = [("ROLLBACK TO SAVEPOINT heal_verify_outer", None),
                            ("RELEASE SAVEPOINT heal_verify_outer", None)]
            else:
                raise HealError(f"statement verifier: the connection's transaction is not usable "
                                f"(status {state.name}); nothing verified")
            pg.enter_pipeline_mode()
            try:
                self._exec(prologue + [
                    ("SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)",
                     [f"{self.timeout_ms}ms", f"{self.lock_timeout_ms}ms"]),
                    ("SAVEPOINT heal_verify", None)])
                done = 0
                try:
                    for b in range(0, len(items), _BATCH):
                        batch = items[b:b + _BATCH]
                        self._batch(batch, out)
                        done = b + len(batch)
                except (psycopg.OperationalError, OSError) as exc:
                    self._lost(items[done:], out, str(exc))
                    return
                types = self._type_names(out)
                self._exec(epilogue)
                for chk in out:
                    if chk is not None and chk.status == "ok":
                        chk.param_types = [types.get((int(o), -1), o) for o in chk.param_types]
                        chk.result_columns = [(n, types.get(tuple(map(int, t.split(":"))), t))
                                              for n, t in chk.result_columns]
            except BaseException:
                self._abandon(epilogue)
                raise
            finally:
                if pg.status == pq.ConnStatus.OK and pg.pipeline_status != pq.PipelineStatus.OFF:
                    try:
                        pg.exit_pipeline_mode()
                    except psycopg.OperationalError:
                        pass

    def _abandon(self, epilogue) -> None:
        """After an unexpected failure: drain the pipeline, then end what we began."""
        pg = self.pg
        if pg.status != pq.ConnStatus.OK:
            return
        try:
            pg.pipeline_sync()
            nones = 0
            while nones < 2 or pg.is_busy():  # read everything up to our own final sync
                res = pg.get_result()
                nones = nones + 1 if res is None else 0
            pg.exit_pipeline_mode()
            for q, _p in epilogue:
                pg.exec_(q.encode())
        except psycopg.OperationalError:
            pass

    def _batch(self, batch, out) -> None:
        pg = self.pg
        for i, _stmt, plan in batch:
            name = f"_heal_v_{self.tag}_{i}".encode()
            self._q("ROLLBACK TO SAVEPOINT heal_verify")
            pg.send_prepare(name, plan.text.encode(), None)
            pg.send_describe_prepared(name)
            pg.send_close_prepared(name)
            pg.pipeline_sync()
        pg.flush()
        for i, stmt, plan in batch:
            rb, parse, desc, close, _sync = self._results(["cmd", "cmd", "cmd", "cmd", "sync"])
            if rb is not None and rb.status == _E.FATAL_ERROR:
                raise HealError(f"statement verifier: savepoint lost: {rb.get_error_message()}")
            if parse is not None and parse.status == _E.FATAL_ERROR:
                out[i] = self._rejected(stmt, plan, parse)
            elif desc is not None and desc.status == _E.COMMAND_OK:
                params = [str(desc.param_type(k)) for k in range(desc.nparams)]
                cols = [((desc.fname(k) or b"?").decode(), f"{desc.ftype(k)}:{desc.fmod(k)}")
                        for k in range(desc.nfields)]
                out[i] = _check(stmt, plan, "ok", param_types=params, result_columns=cols)
                if close is None or close.status != _E.COMMAND_OK:
                    self._leftover = True
            else:
                r = desc if desc is not None and desc.status == _E.FATAL_ERROR else parse
                out[i] = self._rejected(stmt, plan, r) if r is not None else _check(
                    stmt, plan, "not_verifiable", reason="server", message="no result from the server")
                self._leftover = True

    def _rejected(self, stmt: SqlStatement, plan: Plan, res) -> StatementCheck:
        def f(field_: pq.DiagnosticField) -> str | None:
            v = res.error_field(field_)
            return v.decode("utf-8", "replace") if v is not None else None

        state = f(_F.SQLSTATE) or ""
        msg = f(_F.MESSAGE_PRIMARY) or (res.get_error_message() or "").strip()
        kw: dict[str, Any] = {"sqlstate": state, "message": msg, "detail": f(_F.MESSAGE_DETAIL),
                              "hint": f(_F.MESSAGE_HINT)}
        pos = f(_F.STATEMENT_POSITION)
        if pos and pos.isdigit():
            kw["position"], kw["error_line"], kw["error_col"] = _position(stmt, plan, int(pos))
        reason = _REASON_BY_SQLSTATE.get(state) or ("connection" if state.startswith("08") else None)
        if reason is None and state == "42P18" and plan.hole_params:
            reason = "hole_type"
        if reason:
            return _check(stmt, plan, "not_verifiable", reason=reason, **kw)
        return _check(stmt, plan, "rejected", **kw)

    def _lost(self, rest, out, why: str) -> None:
        for i, stmt, plan in rest:
            if out[i] is None:
                out[i] = _check(stmt, plan, "not_verifiable", reason="connection",
                                message=f"connection lost: {why.splitlines()[0] if why else ''}")

    def _type_names(self, out: list[StatementCheck | None]) -> dict[tuple[int, int], str]:
        pairs: set[tuple[int, int]] = set()
        for chk in out:
            if chk is not None and chk.status == "ok":
                pairs.update((int(o), -1) for o in chk.param_types)
                pairs.update(tuple(map(int, t.split(":"))) for _n, t in chk.result_columns)
        steps: list[tuple[str, list[str] | None]] = []
        if self._leftover:
            steps.append(("SELECT name FROM pg_prepared_statements WHERE name LIKE $1",
                          [f"_heal_v_{self.tag}_%"]))
        if pairs:
            oids, mods = zip(*sorted(pairs))
            steps.append(("SELECT o::text, m::text, format_type(o, nullif(m, -1))"
                          " FROM unnest($1::oid[], $2::int[]) AS t(o, m)",
                          ["{" + ",".join(map(str, oids)) + "}", "{" + ",".join(map(str, mods)) + "}"]))
        if not steps:
            return {}
        res = self._exec([("ROLLBACK TO SAVEPOINT heal_verify", None)] + steps)
        names: dict[tuple[int, int], str] = {}
        k = 1
        if self._leftover:
            r = res[k]
            k += 1
            left = [r.get_value(j, 0) for j in range(r.ntuples)]
            if left:  # Close did not run (Describe failed): DEALLOCATE through Close now
                for n in left:
                    self.pg.send_close_prepared(n)
                self.pg.pipeline_sync()
                self._results(["cmd"] * len(left) + ["sync"])
        if pairs:
            r = res[k]
            for j in range(r.ntuples):
                o, m, t = (r.get_value(j, c).decode() for c in range(3))
                names[(int(o), int(m))] = t
        return names


def _classify_runtime(stmts: list[SqlStatement], plans: list[Plan]) -> tuple[set, set, set, bool]:
    created, temp, altered = set(), set(), set()
    search_path = False
    for plan in plans:
        for schema, name, is_temp in plan.creates:
            (temp if is_temp else created).add(name)
            if schema:
                (temp if is_temp else created).add(_key(schema, name))
        for schema, name in plan.alters:
            altered.add(name)
        search_path = search_path or plan.sets_search_path
    return created, temp, altered, search_path


def _plan_all(statements: Iterable[SqlStatement]):
    stmts = list(statements)
    plans = [prepare_text(s) for s in stmts]
    created, temp, altered, search_path = _classify_runtime(stmts, plans)
    out: list[StatementCheck | None] = [None] * len(stmts)
    items: list[tuple[int, SqlStatement, Plan]] = []
    for i, (s, p) in enumerate(zip(stmts, plans)):
        if p.text is None:
            out[i] = _check(s, p, "not_verifiable", reason=p.reason, message=p.message)
            continue
        names = {n for _sch, n in p.relations} | {_key(sch, n) for sch, n in p.relations if sch}
        if names & temp:
            out[i] = _check(s, p, "not_verifiable", reason="temp_table",
                            message="reads a temporary table the code creates at run time")
            continue
        items.append((i, s, p))
    return stmts, plans, out, items, (created, altered, search_path)


def _finish(stmts, plans, out, runtime) -> list[StatementCheck]:
    created, altered, search_path = runtime
    for i, chk in enumerate(out):
        assert chk is not None
        if chk.status != "rejected" or chk.sqlstate not in _MISSING:
            continue
        p = plans[i]
        names = {n for _sch, n in p.relations} | {_key(sch, n) for sch, n in p.relations if sch}
        if names & created or (chk.sqlstate == "42703" and {n for _s, n in p.relations} & altered):
            chk.status, chk.reason = "not_verifiable", "runtime_object"
            chk.message = f"{chk.message} (the code creates or alters this object at run time)"
        elif search_path and chk.sqlstate == "42P01" and any(sch is None for sch, _n in p.relations):
            chk.status, chk.reason = "not_verifiable", "search_path"
            chk.message = f"{chk.message} (the code changes search_path at run time)"
    return out  # type: ignore[return-value]


def verify_statements(conn: psycopg.Connection, statements: Iterable[SqlStatement], *,
                      timeout_ms: int = 2000, lock_timeout_ms: int = 500) -> list[StatementCheck]:
    """Verify ``statements`` in a READ ONLY transaction of ``conn`` that is rolled back.

    ``conn`` must not be inside a transaction (use :func:`verify_in_transaction` for that).
    One :class:`StatementCheck` per statement, in order.
    """
    stmts, plans, out, items, runtime = _plan_all(statements)
    if items:
        _Session(conn, timeout_ms, lock_timeout_ms).run(items, "own", out)
    return _finish(stmts, plans, out, runtime)


def verify_in_transaction(conn: psycopg.Connection, statements: Iterable[SqlStatement], *,
                          timeout_ms: int = 2000, lock_timeout_ms: int = 500) -> list[StatementCheck]:
    """Verify against the schema as ``conn``'s open transaction sees it (uncommitted DDL included).

    Everything runs inside ``SAVEPOINT heal_verify_outer`` and is rolled back to it and released:
    the caller's transaction stays open, usable and unchanged; no prepared statement remains.
    On a connection outside any transaction this is :func:`verify_statements`.
    """
    stmts, plans, out, items, runtime = _plan_all(statements)
    if items:
        _Session(conn, timeout_ms, lock_timeout_ms).run(items, "nested", out)
    return _finish(stmts, plans, out, runtime)


def changed(before: list[StatementCheck], after: list[StatementCheck]
            ) -> list[tuple[StatementCheck, StatementCheck]]:
    """(before, after) pairs of statements that were ``ok`` and are now ``rejected``."""
    prev = {c.statement_id: c for c in before}
    return [(prev[c.statement_id], c) for c in after
            if c.status == "rejected" and c.statement_id in prev and prev[c.statement_id].status == "ok"]


def statements_touching(statements: Iterable[SqlStatement], tables: set[tuple[str, str]],
                        default_schema: str = "public") -> list[SqlStatement]:
    """Statements whose ``tables`` include one of ``tables`` ((schema, table); unqualified
    references count as ``default_schema``). Names compare case-insensitively."""
    want = {(s.lower(), t.lower()) for s, t in tables}
    out = []
    for st in statements:
        for ref in st.tables:
            schema = (ref.schema or default_schema).lower()
            if (schema, ref.name.lower()) in want:
                out.append(st)
                break
    return out


def coverage(checks: Iterable[StatementCheck]) -> dict[str, Any]:
    """extracted / ok / rejected / not_verifiable (by reason) and the unchecked share.

    ``unchecked_share`` = statements that could have been verified but the check itself failed
    (timeout, connection, permission, lock, server error) over all statements that were sent."""
    checks = list(checks)
    by_reason: dict[str, int] = {}
    for c in checks:
        if c.status == "not_verifiable":
            by_reason[c.reason or "?"] = by_reason.get(c.reason or "?", 0) + 1
    ok = sum(c.status == "ok" for c in checks)
    rejected = sum(c.status == "rejected" for c in checks)
    unchecked = sum(v for k, v in by_reason.items() if k in UNCHECKED_REASONS)
    verifiable = ok + rejected + unchecked
    return {"extracted": len(checks), "ok": ok, "rejected": rejected,
            "not_verifiable": sum(by_reason.values()), "by_reason": dict(sorted(by_reason.items())),
            "unchecked": unchecked, "verifiable": verifiable,
            "unchecked_share": (unchecked / verifiable) if verifiable else 0.0}


def coverage_line(cov: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in cov["by_reason"].items())
    return (f"statements: {cov['extracted']} extracted, {cov['ok']} verified ok, {cov['rejected']} rejected, "
            f"{cov['not_verifiable']} not verifiable" + (f" ({reasons})" if reasons else "")
            + (f"; {cov['unchecked_share']:.0%} of verifiable statements could not be checked"
               if cov["unchecked"] else ""))
