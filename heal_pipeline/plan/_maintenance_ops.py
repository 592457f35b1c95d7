"""Fix operations of the maintenance planners (issue 15), registered in :mod:`heal_pipeline.plan.ops`.

Same rules as ``ops``: identifiers through ``sql.Identifier``, values as literals, nothing formatted
into SQL text. VACUUM cannot run inside a transaction block: its steps are ``transactional=False``
(the executor's autocommit path, under the session's lock_timeout/statement_timeout).
"""

from __future__ import annotations

from psycopg import sql

from .ops import OPS, UnsafeInput, op, qualified

_VACUUM_OPTIONS = {"analyze": "ANALYZE", "freeze": "FREEZE", "full": "FULL"}


def _once(name: str):
    """Register once (a module re-import must not trip the registry)."""
    def register(fn):
        return OPS.get(name) or op(name)(fn)
    return register


@_once("analyze_table")
def analyze_table(schema: str, table: str) -> sql.Composable:
    return sql.SQL("ANALYZE {}").format(qualified(schema, table))


@_once("vacuum_table")
def vacuum_table(schema: str, table: str, options: list[str] | None = None) -> sql.Composable:
    opts = []
    for o in options or []:
        if o not in _VACUUM_OPTIONS:
            raise UnsafeInput(f"unknown VACUUM option {o!r}")
        opts.append(sql.SQL(_VACUUM_OPTIONS[o]))  # type: ignore[arg-type]  # fixed keyword
    if not opts:
        return sql.SQL("VACUUM {}").format(qualified(schema, table))
    return sql.SQL("VACUUM ({}) {}").format(sql.SQL(", ").join(opts), qualified(schema, table))


_SEQ_TYPES = {"smallint", "integer", "bigint"}


@_once("alter_sequence_as")
def alter_sequence_as(schema: str, name: str, type: str) -> sql.Composable:  # noqa: A002
    if type not in _SEQ_TYPES:
        raise UnsafeInput(f"a sequence type is smallint, integer or bigint, not {type!r}")
    return sql.SQL("ALTER SEQUENCE {} AS {}").format(qualified(schema, name), sql.SQL(type))  # type: ignore[arg-type]


@_once("analyzed_recently")
def analyzed_recently(schema: str, table: str, seconds: int = 3600) -> sql.Composable:
    """True when the table was analyzed (by hand or autovacuum) in the last ``seconds``."""
    return sql.SQL(
        "SELECT coalesce((SELECT greatest(pg_stat_get_last_analyze_time(c.oid), "
        "pg_stat_get_last_autoanalyze_time(c.oid)) > now() - make_interval(secs => {}) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = {} AND c.relname = {}), false)").format(
        sql.Literal(int(seconds)), sql.Literal(schema), sql.Literal(table))


@_once("vacuumed_recently")
def vacuumed_recently(schema: str, table: str, seconds: int = 3600) -> sql.Composable:
    return sql.SQL(
        "SELECT coalesce((SELECT greatest(pg_stat_get_last_vacuum_time(c.oid), "
        "pg_stat_get_last_autovacuum_time(c.oid)) > now() - make_interval(secs => {}) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = {} AND c.relname = {}), false)").format(
        sql.Literal(int(seconds)), sql.Literal(schema), sql.Literal(table))


@_once("xid_age_below")
def xid_age_below(schema: str, table: str, limit: int) -> sql.Composable:
    return sql.SQL(
        "SELECT coalesce((SELECT age(c.relfrozenxid) < {} FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relname = {}), false)").format(
        sql.Literal(int(limit)), sql.Literal(schema), sql.Literal(table))


@_once("constraint_validated")
def constraint_validated(schema: str, table: str, constraint: str) -> sql.Composable:
    return sql.SQL(
        "SELECT coalesce((SELECT k.convalidated FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relname = {} "
        "AND k.conname = {}), false)").format(sql.Literal(schema), sql.Literal(table), sql.Literal(constraint))


@_once("sequence_type")
def sequence_type(schema: str, name: str) -> sql.Composable:
    return sql.SQL("SELECT (SELECT format_type(s.seqtypid, NULL) FROM pg_sequence s JOIN pg_class c "
                   "ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = {} AND c.relname = {})").format(sql.Literal(schema), sql.Literal(name))
