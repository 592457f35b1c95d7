"""Planner plumbing: the context a planner gets, the registry, and small shared helpers.

A planner is ``plan_<type>(issue, snap, ctx) -> FixPlan`` registered with ``@planner("<type>")``.
It reads the snapshot, measures what it needs on the read-only connection (``ctx.scalar``), and
returns ordered :class:`FixStep` objects that carry an operation name + JSON arguments
(:mod:`heal_pipeline.plan.ops`). Rendering, linting and the policy notes happen afterwards, in the
ordered ``RULES`` of :mod:`heal_pipeline.plan`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg

from ..errors import HealError, first_line
from ..model import FixPlan, FixStep, Issue, Snapshot
from . import ops

PLANNERS: dict[str, Callable[[Issue, Snapshot, "PlanContext"], FixPlan]] = {}

BACKUP_SCHEMA = "heal_backup"
ARCHIVE_SCHEMA = "heal_archive"
QUARANTINE_SCHEMA = "heal_quarantine"
FUNCTION_SCHEMA = "heal"  # trigger functions for expand/contract live in heal's own schema


# Issue fields a planner declares it never reads (``@planner(…, unread=…)``): the plan cache leaves them
# out of the issue's key (heal_pipeline/plan/cache.py), so a field new at every scan does not re-plan.
UNREAD_FIELDS: dict[str, tuple[str, ...]] = {}


def planner(issue_type: str, *, unread: tuple[str, ...] = ()):
    """Register ``fn`` as the planner for ``issue_type`` (one module per type); ``unread`` names the
    issue fields it never reads."""
    def register(fn):
        PLANNERS[issue_type] = fn
        if unread:
            UNREAD_FIELDS[issue_type] = tuple(unread)
        return fn
    return register


@dataclass
class Thresholds:
    small_table_rows: int = 100_000  # type change in one transaction at or below this many rows
    batch_size: int = 1_000  # expand/contract backfill batch (row locks held ~ one batch: keep it short)
    batch_pause_s: float = 0.01  # pause between backfill batches (throttle)
    backup_max_rows: int = 5_000_000  # larger tables: pg_dump, not a backup table (plan → manual)
    lock_timeout_s: float = 2.0
    statement_timeout_s: float = 300.0  # ordinary fix statements
    long_timeout_s: float = 3600.0  # index builds, validation, backfill batches
    count_timeout_s: float = 60.0  # measuring at plan time

    @classmethod
    def from_policy(cls, policy: Any) -> "Thresholds":
        t = cls()
        for name in ("small_table_rows", "batch_size", "batch_pause_s", "backup_max_rows",
                     "lock_timeout_s", "statement_timeout_s", "long_timeout_s"):
            if policy is not None and getattr(policy, name, None) is not None:
                setattr(t, name, getattr(policy, name))
        return t


@dataclass
class PlanContext:
    """What a planner may use: a read-only connection to the target, the project's files, limits."""

    conn: psycopg.Connection | None = None
    migrations_dirs: list[Path] = field(default_factory=list)
    source_dirs: list[Path] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    policy: Any = None  # heal_pipeline.apply.policy.Policy
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    lint: bool = True
    statements: list = field(default_factory=list)  # the application's SQL (latest code scan), if known
    own_reads: dict = field(default_factory=dict)  # scans measuring caused (issue 12.1 ledger: heal.own_reads)
    # facts read once per planning pass (planning reads, never writes): relation names, HypoPG presence…
    pass_memo: dict = field(default_factory=dict, init=False, repr=False)

    @classmethod
    @contextlib.contextmanager
    def open(cls, dsn: str, **kwargs: Any) -> Iterator["PlanContext"]:
        """A context over a new read-only connection (``default_transaction_read_only``)."""
        from ..db import connect

        if "policy" in kwargs and "thresholds" not in kwargs:
            kwargs["thresholds"] = Thresholds.from_policy(kwargs["policy"])
        conn = connect(dsn, purpose="target database", autocommit=True,
                       options="-c default_transaction_read_only=on")
        ctx = None
        try:
            ctx = cls(conn=conn, **kwargs)
            yield ctx
        finally:
            if ctx is not None and ctx.own_reads:  # counters visible before fix_plan writes the ledger
                from ..detect.usage import flush_own_stats  # noqa: PLC0415

                flush_own_stats(conn)
            conn.close()

    # ---- measuring -------------------------------------------------------------------
    def rows(self, op: str, args: dict[str, Any], *, timeout_s: float | None = None) -> list[tuple]:
        if self.conn is None:
            raise HealError("planning needs a connection to the target database")
        q = ops.compose(op, args)
        t = timeout_s or self.thresholds.count_timeout_s
        try:
            with self.conn.transaction():
                self.conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(t * 1000)}",))
                out = self.conn.execute(q).fetchall()
                from ..detect.usage import own_reads_of_transaction  # noqa: PLC0415  (heal's own scans)
                for k, seq, idx in own_reads_of_transaction(self.conn):
                    acc = self.own_reads.setdefault(k, [0, 0])
                    acc[0], acc[1] = acc[0] + seq, acc[1] + idx
                return out
        except psycopg.errors.QueryCanceled:
            raise MeasureTimeout(f"measuring {op} timed out after {t:g}s") from None

    def scalar(self, op: str, args: dict[str, Any], **kw: Any) -> Any:
        rows = self.rows(op, args, **kw)
        return rows[0][0] if rows else None

    def relation_names(self, schema: str) -> set[str]:
        """Every relation name in ``schema`` (tables, indexes, sequences, views share it)."""
        if self.conn is None:
            return set()
        # planning reads and never writes: one query per schema and pass (500 plans asked 500 times)
        key = ("relation_names", schema)
        if key not in self.pass_memo:
            cur = self.conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s", (schema,))
            self.pass_memo[key] = frozenset(r[0] for r in cur.fetchall())
        return set(self.pass_memo[key])

    def constraint_names(self, schema: str, table: str) -> set[str]:
        if self.conn is None:
            return set()
        cur = self.conn.execute(
            "SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table))
        return {r[0] for r in cur.fetchall()}

    def column_dependents(self, schema: str, table: str, column: str) -> list[str]:
        """Views/rules that depend on one column (ALTER TYPE would fail on them)."""
        if self.conn is None:
            return []
        cur = self.conn.execute(
            """SELECT DISTINCT vn.nspname || '.' || v.relname
                 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum
                                  AND d.classid = 'pg_rewrite'::regclass
                 JOIN pg_rewrite r ON r.oid = d.objid
                 JOIN pg_class v ON v.oid = r.ev_class
                 JOIN pg_namespace vn ON vn.oid = v.relnamespace
                WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND v.oid <> c.oid""",
            (schema, table, column))
        return [r[0] for r in cur.fetchall()]

    def schema_exists(self, schema: str) -> bool:
        if self.conn is None:
            return True
        return bool(self.conn.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
                                      (schema,)).fetchone()[0])

    def table_owner_triggers(self, schema: str, table: str) -> list[str]:
        """User (non-internal) triggers on a table."""
        if self.conn is None:
            return []
        cur = self.conn.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND NOT t.tgisinternal", (schema, table))
        return [r[0] for r in cur.fetchall()]


class MeasureTimeout(HealError):
    pass


class CannotPlan(HealError):
    """A planner cannot produce a safe plan; the message becomes ``FixPlan.blocked``."""


# --------------------------------------------------------------------------------------
# helpers shared by planners
# --------------------------------------------------------------------------------------


def step(description: str, op: str, args: dict[str, Any], *, lock: str, transactional: bool = True,
         kind: str = "ddl", group: str | None = None, timeout_s: float | None = None, expect: Any = None,
         lint_allow: tuple[str, ...] = (), requires: tuple[int, ...] = (), unless: tuple[int, ...] = (),
         on_retry: list[FixStep] | None = None) -> FixStep:
    s = FixStep(description=description, sql="", lock=lock, transactional=transactional, kind=kind,
                op=op, args=dict(args), group=group, timeout_s=timeout_s, expect=expect,
                lint_allow=tuple(lint_allow), requires=tuple(requires), unless=tuple(unless),
                on_retry=list(on_retry or []))
    s.composed = ops.compose(op, s.args)  # fail at plan time on a bad argument
    return s


def check(description: str, op: str, args: dict[str, Any], expect: Any) -> FixStep:
    return step(description, op, args, lock="ACCESS SHARE", kind="check", expect=expect)


def verify_step(schema: str, table: str, group: str | None, *, when: str = "before COMMIT") -> FixStep:
    """The application's statements on ``schema.table`` re-checked by the server (PREPARE) on the
    uncommitted schema, inside the change's transaction ``group``: a statement accepted before the change
    and rejected after it refuses the COMMIT (:mod:`heal_pipeline.apply.statements`)."""
    return step(f"the application's statements on {schema}.{table} are accepted by the server on the new "
                f"schema (PREPARE, {when})", "verify_statements", {"tables": [[schema, table]]},
                lock="none", kind="verify", group=group)


def truncate_bytes(text: str, limit: int) -> str:
    b = text.encode()
    if len(b) <= limit:
        return text
    return b[:limit].decode("utf-8", errors="ignore")


def fit_name(base: str, suffix: str = "") -> str:
    """``base + suffix`` cut (on a character boundary) to PostgreSQL's 63-byte identifier limit."""
    return truncate_bytes(base, 63 - len(suffix.encode())) + suffix


def free_name(base: str, taken: set[str], suffix: str = "") -> str:
    name = fit_name(base, suffix)
    n = 1
    while name in taken:
        name = fit_name(base, f"_{n}{suffix}")
        n += 1
    return name


def fp_short(fingerprint: str, n: int = 8) -> str:
    return fingerprint.split(":")[-1][:n]


def table_key(snap: Snapshot, schema: str, table: str) -> str | None:
    """A single NOT NULL unique column (the primary key first), or None."""
    cons = snap.constraints_of(schema, table)
    for c in cons:
        if c.kind == "primary_key" and len(c.columns) == 1:
            return c.columns[0]
    cols = {c.name: c for c in snap.columns_of(schema, table)}
    for i in snap.indexes_of(schema, table):
        if (i.is_unique and i.is_valid and not i.predicate and not i.expressions and i.key_count == 1
                and i.columns and i.columns[0] in cols and cols[i.columns[0]].not_null):
            return i.columns[0]
    return None


def column_names(snap: Snapshot, schema: str, table: str) -> list[str]:
    return [c.name for c in snap.columns_of(schema, table)]


def checksum_step(description: str, sources: list[tuple[str, str]], columns: list[str], *,
                  casts: dict[str, str] | None = None, key: str | None = None) -> FixStep:
    args = {"sources": [list(s) for s in sources], "columns": list(columns), "casts": dict(casts or {}),
            "key": key, "bounded": key is not None}
    return step(description, "checksum", args, lock="ACCESS SHARE", kind="checksum")


def new_plan(issue: Issue, tier: str, summary: str, **kw: Any) -> FixPlan:
    return FixPlan(fingerprint=issue.fingerprint, issue_type=issue.issue_type, target_db=issue.target_db,
                   tier=tier, summary=summary, **kw)


def blocked_plan(issue: Issue, reason: str, *, tier: str = "manual", summary: str | None = None,
                 notes: list[str] | None = None) -> FixPlan:
    return new_plan(issue, tier, summary or f"no safe automatic fix: {reason}", blocked=reason,
                    notes=list(notes or []))


def measure_rows(ctx: PlanContext, schema: str, table: str) -> int | None:
    try:
        return int(ctx.scalar("count_rows", {"schema": schema, "table": table}))
    except MeasureTimeout:
        return None
    except psycopg.Error as exc:
        raise CannotPlan(f"cannot count rows of {schema}.{table}: {first_line(exc)}") from None


def stamp(ctx: PlanContext) -> str:
    return ctx.now.strftime("%Y%m%d%H%M%S")


def backup_name(table: str, fingerprint: str, ctx: PlanContext) -> str:
    return fit_name(table, f"_{fp_short(fingerprint, 6)}_{stamp(ctx)}")


def locate_source(ctx: PlanContext, file: str | None) -> Path | None:
    if not file:
        return None
    p = Path(file)
    if p.is_absolute():
        return p if p.is_file() else None
    for root in ctx.source_dirs:
        cand = Path(root) / file
        if cand.is_file():
            return cand.resolve()
    return None
