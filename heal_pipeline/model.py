"""The contracts between heal's core packages.

Plain dataclasses, no Dagster, no psycopg: introspection fills the snapshot model, the code
scanner fills the code model, the log reader fills failed queries, detection turns all three
into :class:`Issue` rows, planning turns issues into :class:`FixPlan` objects.

Everything here is engine- and language-neutral on purpose (PRODUCT.md "Coming next"): the
snapshot could be filled from SQLite's catalog, the code model from TypeScript.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------
# schema snapshot
# --------------------------------------------------------------------------------------


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Column:
    schema: str
    table: str
    name: str
    position: int
    data_type: str  # format_type(atttypid, atttypmod), e.g. "character varying(40)"
    type_name: str  # base type without modifier, e.g. "varchar", "int4", "text"
    typmod: int  # -1 when none
    not_null: bool
    default: str | None = None
    identity: str = ""  # "a" (always), "d" (by default) or ""
    generated: str = ""  # "s" (stored) or ""
    collation: str | None = None


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Table:
    schema: str
    name: str
    kind: str  # "table" | "partitioned" | "foreign"
    persistence: str  # "permanent" | "unlogged" | "temporary"
    estimated_rows: int  # pg_class.reltuples (-1 = never analyzed)
    size_bytes: int
    is_partition: bool = False
    comment: str | None = None
    # statistics (cumulative counters since stats_reset)
    seq_scan: int = 0
    idx_scan: int = 0
    n_live_tup: int = 0
    n_dead_tup: int = 0
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0
    last_seq_scan: str | None = None
    last_idx_scan: str | None = None
    last_analyze: str | None = None
    last_autoanalyze: str | None = None
    stats_reset: str | None = None  # per-table reset when the server reports one

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Constraint:
    schema: str
    table: str
    name: str
    kind: str  # "primary_key" | "foreign_key" | "unique" | "check" | "exclusion" | "not_null"
    columns: tuple[str, ...]
    definition: str
    validated: bool = True
    deferrable: bool = False
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    on_delete: str | None = None  # a/r/c/n/d (pg_constraint.confdeltype)
    on_update: str | None = None
    index_name: str | None = None  # backing index (pk/unique) or referenced key index (fk)


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Index:
    schema: str
    table: str
    name: str
    definition: str
    method: str  # btree, hash, gin, ...
    columns: tuple[str | None, ...]  # None for an expression position
    key_count: int  # indnkeyatts (INCLUDE columns come after)
    expressions: str | None
    predicate: str | None
    is_unique: bool
    is_primary: bool
    is_valid: bool
    is_ready: bool
    is_exclusion: bool = False
    constraint_name: str | None = None
    opclasses: tuple[str, ...] = ()
    size_bytes: int = 0
    idx_scan: int = 0
    idx_tup_read: int = 0
    last_idx_scan: str | None = None

    @property
    def key_columns(self) -> tuple[str | None, ...]:
        return self.columns[: self.key_count]


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class View:
    schema: str
    name: str
    materialized: bool
    definition: str


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class ViewDependency:
    view_schema: str
    view_name: str
    table_schema: str
    table_name: str


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Function:
    schema: str
    name: str
    arguments: str
    result: str
    language: str
    kind: str  # function | procedure | aggregate | window


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Trigger:
    schema: str
    table: str
    name: str
    definition: str
    enabled: str  # O/D/R/A


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class Extension:
    name: str
    version: str
    schema: str


@dataclass(slots=True)  # built ~100k times per large snapshot: no frozen overhead
class StatementStat:
    queryid: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


@dataclass(slots=True)
class TableMaintenance:
    """Vacuum/analyze/freeze facts of one table (issue 15 maintenance checks; sql/introspect/12_*)."""

    schema: str
    table: str
    reltuples: int  # -1 = never analyzed (PG 14+), 0 may also mean never analyzed before PG 14
    relpages: int
    n_live_tup: int
    n_dead_tup: int
    n_mod_since_analyze: int
    last_vacuum: str | None
    last_autovacuum: str | None
    last_analyze: str | None
    last_autoanalyze: str | None
    autovacuum_count: int
    xid_age: int  # age(relfrozenxid)
    mxid_age: int  # mxid_age(relminmxid)
    est_bloat_bytes: int | None = None  # heap bytes beyond what the live rows need (pg_stats widths)
    avg_row_bytes: int | None = None
    vacuum_threshold: float | None = None  # autovacuum_vacuum_threshold + scale_factor * reltuples
    analyze_threshold: float | None = None


@dataclass(slots=True)
class SequenceStat:
    """A sequence and how close it is to the maximum of its type (or of the column it feeds)."""

    schema: str
    name: str
    data_type: str  # smallint | integer | bigint
    last_value: int | None  # None = never used
    max_value: int
    increment: int
    cycle: bool
    owned_schema: str | None = None
    owned_table: str | None = None
    owned_column: str | None = None
    column_type: str | None = None  # format_type of the owning column
    identity: str = ""  # "a"/"d" when the owning column is an identity column


def _by_table(columns) -> dict:
    out: dict = {}
    for c in columns:
        out.setdefault(f"{c.schema}.{c.table}", []).append(c)
    return out


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.cache
def _tuple_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple"))


@dataclass
class Snapshot:
    """The whole catalog of one database at one moment."""

    target_db: str
    database: str
    server_version: str
    server_version_num: int
    taken_at: str
    tables: list[Table] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    view_dependencies: list[ViewDependency] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    statements: list[StatementStat] = field(default_factory=list)
    stats_reset: str | None = None  # pg_stat_database.stats_reset (None = never reset)
    # "ok" | "not_installed" | "not_preloaded" | "no_permission: ..." | "error: ..."
    pg_stat_statements: str = "not_installed"
    # what could not be read, e.g. {"statements": "permission denied ..."}: never silently clean
    unavailable: dict[str, str] = field(default_factory=dict)
    query_count: int = 0  # catalog round trips used
    # --- maintenance facts (issue 15; filled by heal_pipeline.introspect.maintenance) ---
    maintenance: list[TableMaintenance] = field(default_factory=list)
    sequences: list[SequenceStat] = field(default_factory=list)
    database_xid_age: int | None = None  # age(datfrozenxid) of this database
    database_mxid_age: int | None = None
    freeze_max_age: int | None = None  # autovacuum_freeze_max_age
    maintenance_status: str = "not_read"  # "ok" | "not_read" | "error: ..."
    engine: str = "postgresql"  # "postgresql" | "sqlite" (heal_pipeline.sqlite fills the latter)

    # ---- lookups -------------------------------------------------------------
    def table(self, schema: str, name: str) -> Table | None:
        return self._tables().get((schema, name))

    def columns_of(self, schema: str, table: str) -> list[Column]:
        return self._columns().get((schema, table), [])

    def column(self, schema: str, table: str, name: str) -> Column | None:
        for c in self.columns_of(schema, table):
            if c.name == name:
                return c
        return None

    def indexes_of(self, schema: str, table: str) -> list[Index]:
        return self._grouped("indexes").get((schema, table), [])

    def constraints_of(self, schema: str, table: str) -> list[Constraint]:
        return self._grouped("constraints").get((schema, table), [])

    def _grouped(self, attr: str) -> dict[tuple[str, str], list]:
        items = getattr(self, attr)
        key = f"_group_{attr}"
        cache = self.__dict__.get(key)
        if cache is None or cache[0] is not items or cache[1] != len(items):
            by: dict[tuple[str, str], list] = {}
            for x in items:
                by.setdefault((x.schema, x.table), []).append(x)
            cache = (items, len(items), by)
            self.__dict__[key] = cache
        return cache[2]

    def _tables(self) -> dict[tuple[str, str], Table]:
        cache = self.__dict__.get("_table_cache")
        if cache is None or len(cache) != len(self.tables):
            cache = {(t.schema, t.name): t for t in self.tables}
            self.__dict__["_table_cache"] = cache
        return cache

    def _columns(self) -> dict[tuple[str, str], list[Column]]:
        cache = self.__dict__.get("_column_cache")
        if cache is None or cache[0] != len(self.columns):
            by: dict[tuple[str, str], list[Column]] = {}
            for c in self.columns:
                by.setdefault((c.schema, c.table), []).append(c)
            cache = (len(self.columns), by)
            self.__dict__["_column_cache"] = cache
        return cache[1]

    # ---- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dicts per catalog row (what ``dataclasses.asdict`` gives — the rows are flat, their
        values immutable — at a fraction of its recursive-copy cost on 100k rows)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("tables", "columns", "constraints", "indexes", "views", "view_dependencies",
                    "functions", "triggers", "extensions", "statements", "maintenance", "sequences"):
            rows = d[key]
            if rows:
                names = _field_names(type(rows[0]))
                d[key] = [{n: getattr(x, n) for n in names} for x in rows]
            else:
                d[key] = []
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Snapshot":
        kinds = {"tables": Table, "columns": Column, "constraints": Constraint, "indexes": Index,
                 "views": View, "view_dependencies": ViewDependency, "functions": Function, "triggers": Trigger,
                 "extensions": Extension, "statements": StatementStat, "maintenance": TableMaintenance,
                 "sequences": SequenceStat}
        kwargs = dict(d)
        for key, typ in kinds.items():
            tuples = _tuple_fields(typ)  # JSON gives lists where the row holds tuples
            rows = []
            for r in d.get(key, []):
                if tuples:
                    r = dict(r)
                    for k in tuples:
                        v = r.get(k)
                        if isinstance(v, list):
                            r[k] = tuple(v)
                rows.append(typ(**r))
            kwargs[key] = rows
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in known})

    def content_hash(self) -> str:
        """Hash of the *structure* (not the counters): equal hashes mean no DDL drift."""
        structure = {
            "tables": sorted((t.schema, t.name, t.kind, t.persistence) for t in self.tables),
            "columns": sorted(
                (c.schema, c.table, c.name, c.data_type, c.not_null, c.default or "",
                 c.identity, c.generated) for c in self.columns),
            # column order is structure: SELECT * and INSERT without a column list depend on it
            "column_order": sorted(
                (t, [c.name for c in sorted(cols, key=lambda c: c.position)])
                for t, cols in _by_table(self.columns).items()),
            "constraints": sorted(
                (c.schema, c.table, c.name, c.kind, c.definition, c.validated)
                for c in self.constraints),
            "indexes": sorted(
                (i.schema, i.table, i.name, i.definition, i.is_valid) for i in self.indexes),
            "views": sorted((v.schema, v.name, v.materialized, v.definition) for v in self.views),
            "functions": sorted((f.schema, f.name, f.arguments, f.result) for f in self.functions),
            "triggers": sorted((t.schema, t.table, t.name, t.definition) for t in self.triggers),
            "extensions": sorted((e.name, e.version, e.schema) for e in self.extensions),
        }
        blob = json.dumps(structure, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def counts(self) -> dict[str, int]:
        return {
            "schemas": len(self.schemas),
            "tables": len(self.tables),
            "columns": len(self.columns),
            "constraints": len(self.constraints),
            "foreign_keys": sum(1 for c in self.constraints if c.kind == "foreign_key"),
            "indexes": len(self.indexes),
            "views": len(self.views),
            "functions": len(self.functions),
            "triggers": len(self.triggers),
            "extensions": len(self.extensions),
            "statements": len(self.statements),
        }


# --------------------------------------------------------------------------------------
# code scan (language-neutral: the same records will come from JS/TS later)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRef:
    schema: str | None  # None = unqualified (resolved by search_path at detection time)
    name: str
    alias: str | None = None


@dataclass(frozen=True)
class ColumnRef:
    table: str | None  # the *table name* the column was resolved to (alias resolved), None if ambiguous
    schema: str | None
    column: str
    clause: str  # select | where | join | insert | update | returning | order_by | group_by | other


@dataclass(frozen=True)
class JoinPredicate:
    """`left = right` between two columns: evidence of an implicit relationship."""

    left_schema: str | None
    left_table: str
    left_column: str
    right_schema: str | None
    right_table: str
    right_column: str


@dataclass(frozen=True)
class SqlCast:
    """A cast inside SQL: `col::text`, `CAST($1 AS int)`."""

    target_type: str
    schema: str | None = None
    table: str | None = None
    column: str | None = None
    param: int | None = None  # 1-based parameter number when the cast is on a parameter
    # the column the cast expression is compared with / assigned to, if any
    compared_schema: str | None = None
    compared_table: str | None = None
    compared_column: str | None = None


@dataclass(frozen=True)
class ParamBinding:
    """Which column a bound parameter is compared with or written into."""

    index: int  # 1-based
    style: str  # "dollar" ($1) | "format" (%s) | "named" (%(x)s) | "qmark"
    schema: str | None
    table: str | None
    column: str | None
    role: str  # compare | insert | set | other
    cast: str | None = None  # SQL cast applied to the parameter, if any
    name: str | None = None  # placeholder name for named styles (%(x)s, :x), else None


@dataclass(frozen=True)
class DdlTarget:
    """A relation a code statement creates or drops: a definition in code, never a reference."""

    action: str  # create | drop
    kind: str  # table | view | matview
    schema: str | None
    name: str
    temporary: bool = False  # CREATE TEMP TABLE / pg_temp.x: session-local, never in a snapshot
    conditional: bool = False  # IF NOT EXISTS / IF EXISTS / OR REPLACE


@dataclass
class SqlStatement:
    file: str  # path relative to the scanned root (posix)
    line: int  # 1-based
    col: int  # 1-based
    call: str  # the method called, e.g. "fetchrow", "execute", "text"
    sql: str  # the SQL text (f-string holes replaced by placeholders)
    source_kind: str  # literal | concat | fstring | format | percent | name | constant
    function: str | None = None  # enclosing function (qualified within the module)
    statement_kind: str | None = None  # SELECT | INSERT | UPDATE | DELETE | COPY | DDL | OTHER
    tables: list[TableRef] = field(default_factory=list)
    columns: list[ColumnRef] = field(default_factory=list)
    joins: list[JoinPredicate] = field(default_factory=list)
    casts: list[SqlCast] = field(default_factory=list)
    params: list[ParamBinding] = field(default_factory=list)
    functions_called: list[str] = field(default_factory=list)
    ctes: list[str] = field(default_factory=list)
    parse_error: str | None = None
    dynamic: bool = False  # text composed from runtime values (unsafe_sql)
    in_loop: bool = False  # executed inside a loop over another query's rows (query_in_loop)
    language: str = "python"
    ddl: list[DdlTarget] = field(default_factory=list)  # relations it creates / drops (not in ``tables``)
    # the SQL dialect the code attributes the statement to (``if db.is_sqlite:`` branch), None = the target's
    dialect: str | None = None

    @property
    def statement_id(self) -> str:
        return hashlib.sha1(f"{self.file}:{self.line}:{self.col}:{self.sql}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CodeFinding:
    """A code-side observation. Detection decides which ones become issues."""

    kind: str  # cast_workaround | unsafe_sql | query_in_loop | unparsed_sql | untraced_sql | skipped_file
    file: str
    line: int
    col: int = 1
    detail: str = ""
    schema: str | None = None
    table: str | None = None
    column: str | None = None
    function: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class CodeScan:
    roots: list[str]
    files_scanned: int = 0
    files_parsed: int = 0  # re-parsed this time (cache misses)
    files_cached: int = 0
    files_skipped: int = 0
    statements: list[SqlStatement] = field(default_factory=list)
    findings: list[CodeFinding] = field(default_factory=list)
    seconds: float = 0.0
    # statements the code attributes to another SQL dialect than the target's (``if db.is_sqlite:``
    # branches on a PostgreSQL target): kept for the record, never used for the target's findings
    other_dialects: list[SqlStatement] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# failed queries (server or application log)
# --------------------------------------------------------------------------------------


@dataclass
class FailedQuery:
    sqlstate: str
    message: str
    statement: str | None
    normalized: str  # statement with literals replaced, used for grouping
    database: str | None = None
    user: str | None = None
    detail: str | None = None
    hint: str | None = None
    count: int = 1
    first_seen: str | None = None
    last_seen: str | None = None
    source: str | None = None  # log file
    # of the latest occurrence (pairs with ``statement``): 1-based character position of the error
    # in the statement, and the server's CONTEXT line (e.g. "unnamed portal parameter $1 = '...'")
    cursor_position: int | None = None
    context: str | None = None

    @property
    def group_key(self) -> str:
        return hashlib.sha1(f"{self.sqlstate}|{self.normalized}".encode()).hexdigest()[:16]


@dataclass
class LoggedStatement:
    """Executions of one statement logged with their duration (``log_min_duration_statement``)."""

    normalized: str  # statement with literals replaced (heal_pipeline.logs.normalize)
    statement: str  # the latest logged text
    calls: int = 1  # logged executions (only those above log_min_duration_statement)
    total_ms: float = 0.0
    max_ms: float = 0.0
    database: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    source: str | None = None

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    @property
    def group_key(self) -> str:
        return hashlib.sha1(f"duration|{self.normalized}".encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------
# issues
# --------------------------------------------------------------------------------------

SEVERITIES = ("critical", "warning", "info")


@dataclass
class Issue:
    issue_type: str
    severity: str
    target_db: str
    detail: str
    schema_name: str | None = None
    table_name: str | None = None
    column_name: str | None = None
    object_name: str | None = None
    file: str | None = None
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    fixable: bool = False

    @property
    def fingerprint(self) -> str:
        """Stable across runs: issue type + the object it is about (never run-dependent)."""
        parts = [self.issue_type, self.target_db, self.schema_name or "", self.table_name or "",
                 self.column_name or "", self.object_name or "", self.file or "",
                 str(self.line or "")]
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]
        return f"{self.issue_type}:{digest}"

    def key(self) -> tuple:
        """The identity used to compare against the demo's planted list."""
        return (self.issue_type, self.schema_name, self.table_name, self.column_name,
                self.object_name, self.file, self.line)


# --------------------------------------------------------------------------------------
# fixes
# --------------------------------------------------------------------------------------

TIERS = ("auto", "approval", "manual")


@dataclass
class FixStep:
    description: str
    sql: str  # rendered SQL (for display and audit); executed from the composed object
    lock: str  # lock level the step takes, e.g. "SHARE UPDATE EXCLUSIVE"
    transactional: bool = True  # False for CONCURRENTLY statements
    kind: str = "ddl"  # ddl | dml | code | check
    # --- added for the fixer (heal_pipeline.plan / heal_pipeline.apply); all optional ---
    # ``op`` + ``args`` (plain JSON) rebuild ``composed`` through heal_pipeline.plan.ops, so a step
    # stored in heal.fix_history can be executed again (rollback) without trusting rendered text
    op: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    composed: Any = field(default=None, repr=False, compare=False)  # psycopg.sql.Composable
    group: str | None = None  # consecutive transactional steps sharing a group: one transaction
    timeout_s: float | None = None  # statement_timeout for this step (default: the policy's)
    expect: Any = None  # kind "check": the value the first column must equal
    lint_allow: tuple[str, ...] = ()  # squawk rules explicitly allowed for this step (documented)
    requires: tuple[int, ...] = ()  # reverse steps: forward step indexes that must have completed
    unless: tuple[int, ...] = ()  # reverse steps: skipped when any of these forward steps completed
    on_retry: list["FixStep"] = field(default_factory=list)  # cleanup before retrying after 55P03


@dataclass
class FixPlan:
    fingerprint: str
    issue_type: str
    target_db: str
    tier: str
    summary: str
    steps: list[FixStep] = field(default_factory=list)
    prechecks: list[FixStep] = field(default_factory=list)
    reverse: list[FixStep] = field(default_factory=list)
    backup: str | None = None  # what is backed up, and how
    verification: str | None = None
    rows_affected: int | None = None
    blocked: str | None = None  # reason the plan may not run (precheck failure, lint failure)
    diff: str | None = None  # unified diff for code fixes
    lint: list[dict[str, Any]] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)  # fingerprints that must verify first
    # --- added for the fixer; all optional ---
    issue: dict[str, Any] = field(default_factory=dict)  # identity + evidence of the issue
    tables: list[str] = field(default_factory=list)  # "schema.table" the fix touches (policy)
    rows_rewritten: int | None = None  # rows written/moved (policy max_rows_to_rewrite)
    backup_steps: list[FixStep] = field(default_factory=list)  # run outside the fix transaction
    backup_ref: str | None = None  # e.g. "heal_backup.orders_1a2b3c_20250101120000"
    checksum_before: FixStep | None = None  # (rows, checksum) in the post-fix representation
    checksum_after: FixStep | None = None  # the same after the fix (None: checksum_before again)
    checksum_original: FixStep | None = None  # raw pre-fix state, compared after a rollback
    code_edits: list[dict[str, Any]] = field(default_factory=list)  # {path, sha256_before, after}
    inferred: bool = False  # definition inferred from code usage, not from a migration
    notes: list[str] = field(default_factory=list)
    planned_at: str | None = None
    # --- issue 15: HypoPG what-if estimate ({"status": "estimated" | "not estimated", statements…}) ---
    whatif: dict[str, Any] = field(default_factory=dict)
