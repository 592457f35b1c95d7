"""``heal.fix_history`` reads and writes (the store; ``sql/schema/0003_fix_history.sql``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..model import FixPlan


def _j(value: Any) -> Jsonb:
    import json

    return Jsonb(json.loads(json.dumps(value, default=str)))


def insert_running(conn: psycopg.Connection, plan: FixPlan, *, run_id: str | None, approved: bool,
                   plan_json: dict, reverse_json: list, started_at: dt.datetime,
                   change_set: list[str] | None = None) -> int:
    row = conn.execute(
        """INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, run_id, tier, status, summary,
                                          approved, reverse, plan, backup_ref, started_at, change_set)
           VALUES (%s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, %s, %s, %s) RETURNING fix_id""",
        (plan.fingerprint, plan.issue_type, plan.target_db, run_id, plan.tier, plan.summary, approved,
         _j(reverse_json), _j(plan_json), plan.backup_ref, started_at, change_set)).fetchone()
    assert row is not None
    return int(row[0])


def update(conn: psycopg.Connection, fix_id: int, **fields: Any) -> None:
    allowed = {"status", "steps", "completed_steps", "backup_ref", "checksum_before", "checksum_after",
               "checksum_original", "checksum_bound", "schema_hash_before", "schema_hash_after", "code_backups", "error",
               "finished_at", "rolled_back_by", "rollback_of", "conflicts", "change_set", "statement_checks",
               "recovered_at"}
    from psycopg import sql

    sets = []
    values = []
    for k, v in fields.items():
        if k not in allowed:
            raise ValueError(k)
        sets.append(sql.SQL("{} = %s").format(sql.Identifier(k)))
        values.append(_j(v) if k in ("steps", "code_backups", "conflicts", "statement_checks") else v)
    q = sql.SQL("UPDATE heal.fix_history SET {} WHERE fix_id = %s").format(sql.SQL(", ").join(sets))
    conn.execute(q, (*values, fix_id))


def journal(conn: psycopg.Connection, fix_id: int, entry: dict[str, Any], *, completes: str | None = None) -> None:
    """Append one journal entry (durable before the caller goes on: the store is autocommit). A ``done``
    entry of the list ``completes`` also extends ``completed_steps``."""
    if completes is not None and entry.get("event") == "done" and entry.get("list") == completes:
        conn.execute("UPDATE heal.fix_history SET journal = journal || %s, completed_steps = completed_steps || %s"
                     " WHERE fix_id = %s", (_j([entry]), list(entry.get("idxs") or []), fix_id))
    else:
        conn.execute("UPDATE heal.fix_history SET journal = journal || %s WHERE fix_id = %s", (_j([entry]), fix_id))


def running(conn: psycopg.Connection, target_db: str) -> list[dict[str, Any]]:
    """Rows another (dead) heal process left 'running' on this target, oldest first."""
    cur = conn.execute("SELECT * FROM heal.fix_history WHERE target_db = %s AND status = 'running'"
                       " ORDER BY fix_id", (target_db,))
    cols = [d.name for d in cur.description or []]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def set_members(conn: psycopg.Connection, target_db: str, change_set: list[str], after_fix: int) -> list[dict[str, Any]]:
    """Verified, not rolled back fixes of the same change set applied after ``after_fix`` (newest first)."""
    cur = conn.execute(
        "SELECT * FROM heal.fix_history WHERE target_db = %s AND change_set = %s AND fix_id > %s"
        " AND status = 'verified' AND rolled_back_by IS NULL AND rollback_of IS NULL ORDER BY fix_id DESC",
        (target_db, list(change_set), after_fix))
    cols = [d.name for d in cur.description or []]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def mark_interrupted(conn: psycopg.Connection, target_db: str, by: str) -> int:
    """Rows left 'running' by a heal process that died (we hold the fix lock: nobody else runs)."""
    cur = conn.execute(
        "UPDATE heal.fix_history SET status = 'failed', finished_at = now(),"
        " error = coalesce(error || '; ', '') || %s WHERE target_db = %s AND status = 'running'",
        (f"interrupted: the heal process died mid-fix (found by {by})", target_db))
    return cur.rowcount


def attempts(conn: psycopg.Connection, target_db: str, fingerprint: str,
             plan: FixPlan | None = None) -> tuple[int, dt.datetime | None]:
    """(attempts that executed and were not rolled back by a human, time of the latest attempt).

    Counted per fingerprint *and* per object (issue type + schema/table/column/object of the issue): a
    fingerprint re-issued for the same object (new evidence, a renamed detail) does not reset the
    cooldown or max_attempts, so a fix cannot flap."""
    iss = (plan.issue or {}) if plan is not None else {}
    obj = [iss.get(k) for k in ("schema_name", "table_name", "column_name", "object_name")]
    same_object = plan is not None and any(obj)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE rolled_back_by IS NULL), max(started_at) FROM heal.fix_history"
        " WHERE target_db = %s AND status IN ('verified', 'failed', 'reverted_regression') AND rollback_of IS NULL"
        " AND (fingerprint = %s OR (%s AND issue_type = %s"
        "  AND plan->'issue'->>'schema_name' IS NOT DISTINCT FROM %s"
        "  AND plan->'issue'->>'table_name' IS NOT DISTINCT FROM %s"
        "  AND plan->'issue'->>'column_name' IS NOT DISTINCT FROM %s"
        "  AND plan->'issue'->>'object_name' IS NOT DISTINCT FROM %s))",
        (target_db, fingerprint, same_object, plan.issue_type if plan else "", *obj)).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def is_verified(conn: psycopg.Connection, target_db: str, fingerprint: str) -> bool:
    row = conn.execute(
        "SELECT status, rolled_back_by FROM heal.fix_history WHERE target_db = %s AND fingerprint = %s"
        " AND status IN ('verified', 'failed') ORDER BY started_at DESC, fix_id DESC LIMIT 1",
        (target_db, fingerprint)).fetchone()
    return bool(row and row[0] == "verified" and row[1] is None)


def load(conn: psycopg.Connection, fix_id: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM heal.fix_history WHERE fix_id = %s", (fix_id,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d.name for d in cur.description or []], row))


def recent(conn: psycopg.Connection, target_db: str, limit: int = 100) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT fix_id, fingerprint, issue_type, status, summary, error, started_at, finished_at,"
        " rolled_back_by, rollback_of FROM heal.fix_history WHERE target_db = %s"
        " ORDER BY fix_id DESC LIMIT %s", (target_db, limit))
    cols = [d.name for d in cur.description or []]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
