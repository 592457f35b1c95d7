"""The check contract: one class per issue type, registered by decorator, documented by its docstring.

A check reads the :class:`DetectContext` (snapshot model, code scan, failed queries, and — only for
data evidence — a read-only connection) and yields :class:`~heal_pipeline.model.Issue` rows. A check
that could not run (code not scanned, no permission, a timeout) records that in
``ctx.unchecked`` instead of yielding nothing silently: "not checked" is never "clean".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable, Iterator

import psycopg

from ..config import HEAL_SCHEMAS, SYSTEM_SCHEMAS
from ..model import CodeScan, FailedQuery, Issue, LoggedStatement, Snapshot

REGISTRY: dict[str, type["Check"]] = {}


def register(cls: type["Check"]) -> type["Check"]:
    if cls.issue_type in REGISTRY:
        raise ValueError(f"issue type {cls.issue_type!r} registered twice")
    REGISTRY[cls.issue_type] = cls
    return cls


@dataclass
class Thresholds:
    observation_window_s: float = 7 * 86400
    slow_query_mean_ms: float = 200.0
    slow_query_min_calls: int = 3
    containment: float = 0.9  # share of sampled child values found in the parent
    sample_size: int = 10_000
    orphan_timeout_ms: int = 5_000
    search_path: tuple[str, ...] = ("public",)
    # --- maintenance checks (issue 15, PG020-PG024) ---
    stale_min_rows: int = 1_000  # smaller tables: plans are fine without statistics
    stale_mod_ratio: float = 0.2  # n_mod_since_analyze / rows (autoanalyze's own default is 0.1)
    bloat_min_dead: int = 10_000  # dead tuples before table_bloat is reported
    bloat_dead_ratio: float = 0.2  # dead / (live + dead)
    bloat_min_bytes: int = 10 * 1024 * 1024  # space bloat: tables smaller than this are ignored
    bloat_space_ratio: float = 0.5  # estimated free heap / heap size → VACUUM FULL / pg_repack advice
    sequence_used_ratio: float = 0.75  # used share of the type's (or column's) range
    xid_age_warn: int = 1_000_000_000  # age(relfrozenxid); wraparound protection stops writes at ~2.1e9
    # --- slow_query, likely slow from generic plans (issue 12 item 9; detect/generic_plans.py) ---
    likely_slow_min_rows: int = 100_000  # pg_class.reltuples of the sequentially scanned table
    likely_slow_selectivity: float = 0.01  # estimated output rows / table rows at most
    likely_slow_timeout_ms: int = 2_000  # statement_timeout of each EXPLAIN (GENERIC_PLAN)
    slow_query_log_window_s: float = 7 * 86400  # a logged statement counts if logged this recently
    runtime_window_s: float = 7 * 86400  # a failed query is runtime evidence if seen this recently


@dataclass
class DetectContext:
    target_db: str
    snapshot: Snapshot
    code: CodeScan | None = None  # None: code was not scanned (code-based checks say so)
    failed: list[FailedQuery] = field(default_factory=list)
    connect: Callable[[], psycopg.Connection] | None = None  # read-only data evidence
    thresholds: Thresholds = field(default_factory=Thresholds)
    # seconds the current statistics cover (since stats_reset, or since heal first saw them)
    stats_coverage_s: float | None = None
    migrations_dirs: tuple = ()
    # statements the server log shows with their duration (log_min_duration_statement); None: no
    # log was read (slow_query without pg_stat_statements then says "not checked")
    durations: list[LoggedStatement] | None = None
    unchecked: list[dict[str, str]] = field(default_factory=list)
    # unused_table (issue 12.1): the statistics baseline of the observation window, loaded on demand
    # (heal_pipeline.detect.usage.load_usage_baseline); None = no heal store to read history from
    usage: Callable[[], object] | None = None
    # scans heal itself caused through data(): {(schema, table): [seq, idx], (schema, table, index): [0, idx]}
    own_reads: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    def not_checked(self, check: str, reason: str) -> None:
        self.unchecked.append({"check": check, "reason": reason})

    def memo(self, key: str, build: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @contextlib.contextmanager
    def data(self) -> Iterator[psycopg.Connection | None]:
        """A read-only connection for data evidence, or None when detection runs offline."""
        if self.connect is None:
            yield None
            return
        conn = self.connect()
        try:
            conn.autocommit = False
            conn.read_only = True
            yield conn
        finally:
            try:
                self._count_own_reads(conn)
                conn.rollback()
                if self.own_reads:
                    from .usage import flush_own_stats  # noqa: PLC0415

                    flush_own_stats(conn)
            finally:
                conn.close()

    def _count_own_reads(self, conn: psycopg.Connection) -> None:
        """Add the scans this read-only transaction caused (pg_stat_xact_user_tables) to the ledger."""
        from .usage import own_reads_of_transaction  # noqa: PLC0415

        for key, seq, idx in own_reads_of_transaction(conn):
            cur = self.own_reads.setdefault(key, [0, 0])
            cur[0] += seq
            cur[1] += idx

    def issue(self, issue_type: str, severity: str, detail: str, **kw) -> Issue:
        return Issue(issue_type=issue_type, severity=severity, target_db=self.target_db,
                     detail=detail, fixable=REGISTRY[issue_type].fixable if issue_type in REGISTRY else False,
                     **kw)


def examined_schema(schema: str | None) -> bool:
    if schema is None:
        return True
    return (schema not in HEAL_SCHEMAS and schema not in SYSTEM_SCHEMAS
            and not schema.startswith("pg_"))


class Check:
    """Base class. Subclasses set the class attributes and implement :meth:`detect`.

    The docstring of each subclass is its documentation: a one-line summary, why it matters, then
    ``Anti-pattern`` and ``Best practice`` sections (a test enforces both).
    """

    issue_type: ClassVar[str]
    code: ClassVar[str]  # PG### for database checks, PY### for code checks
    name: ClassVar[str]  # dotted, for config and suppression: "index.fk_without_index"
    severity: ClassVar[str] = "warning"
    fixable: ClassVar[bool] = False
    needs: ClassVar[tuple[str, ...]] = ("snapshot",)  # snapshot | code | data | log

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:  # pragma: no cover - abstract
        raise NotImplementedError
