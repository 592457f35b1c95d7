"""Fixes on SQLite targets: plans (the shared FixPlan/FixStep shapes), the executor, rollback.

Ops (``FixStep.op``, plain JSON ``args``, ``FixStep.kind`` "ddl"):

- ``create_index``  {table, columns, name}           fk_without_index (tier auto)
- ``create_table``  {table, sql}                     missing_table, from a migration or inferred (approval)
- ``add_column``    {table, column, type}            missing_column, nullable (approval)
- ``rebuild``       {table, types: {column: type}, add_constraints: [...]}
                                                     type_mismatch / no_primary_key: the 12-step rebuild (approval)

Every change is preceded by a backup through the backup API (``plan.backup_ref``), runs with
busy_timeout and bounded BEGIN IMMEDIATE retries (SQLite has no lock_timeout), and is verified
(row count and per-row checksums on the key, ``integrity_check``, ``foreign_key_check``). A fix
and its rollback are recorded in ``heal.fix_history`` when a store connection is given.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from ..model import FixPlan, FixStep, Issue
from .backup import backup_dir, load_image, save_image, take_backup
from .rebuild import NEW_PREFIX, Refused, begin_immediate, key_columns, q, rebuild_table, retyped_create_sql, row_hash, table_image
from .target import SqliteError, open_readonly, open_write, target_name

RATE_SAMPLE = 20_000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _measure_copy_rate(conn: sqlite3.Connection, table: str, types: dict[str, str]) -> tuple[int, float]:
    """(rows, estimated lock seconds): the conversion of a sample, timed, scaled to the row count."""
    rows = conn.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
    cols = [r[0] for r in conn.execute("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", (table,))]
    conv = ", ".join(f"CAST({q(c)} AS {types[c]})" if c in types else q(c) for c in cols)
    t0 = time.perf_counter()
    n = len(conn.execute(f"SELECT {conv} FROM {q(table)} LIMIT {RATE_SAMPLE}").fetchall())
    dt = time.perf_counter() - t0
    # copy + index rebuild + checksums ≈ 6x a plain read of the converted rows (measured in bench_sqlite)
    return rows, (dt / max(n, 1)) * rows * 6


def plan_fix(issue: Issue, path: Path) -> FixPlan | None:
    """A plan for one SQLite issue, or None when heal has no SQLite fix for its type."""
    ev = issue.evidence or {}
    t = issue.table_name
    base = dict(fingerprint=issue.fingerprint, issue_type=issue.issue_type, target_db=issue.target_db,
                issue={"type": issue.issue_type, "table": t, "column": issue.column_name, "evidence": ev},
                tables=[f"main.{t}"] if t else [], planned_at=_now(),
                backup="a copy of the whole file through the SQLite backup API (WAL included), verified "
                       "with integrity_check, before the change")
    if issue.issue_type == "fk_without_index":
        cols = tuple(ev.get("columns") or ())
        name = ev.get("suggested_index") or f"{t}_{'_'.join(cols)}_idx"
        sql = f"CREATE INDEX {q(name)} ON {q(t)} ({', '.join(q(c) for c in cols)})"
        with open_readonly(path) as conn:
            rows = conn.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0]
        return FixPlan(**base, tier="auto", summary=f"create index {name} on {t} ({', '.join(cols)})",
                       steps=[FixStep(f"create index {name}", sql, "write lock (whole file)", op="create_index",
                                      args={"table": t, "columns": list(cols), "name": name})],
                       rows_affected=rows, verification="index present; integrity_check ok",
                       notes=[f"SQLite takes the database write lock while it sorts {rows} rows"])
    if issue.issue_type == "missing_table" and ev.get("migration"):
        mig = ev["migration"]
        return FixPlan(**base, tier="approval", summary=f"create table {t} from {mig['file']}:{mig['line']}",
                       steps=[FixStep(f"create table {t}", mig["sql"], "write lock (whole file)", op="create_table",
                                      args={"table": t, "sql": mig["sql"]})],
                       verification="table present; integrity_check ok")
    if issue.issue_type == "missing_column" and ev.get("inferred_type") is not None:
        typ = ev["inferred_type"]
        sql = f"ALTER TABLE {q(t)} ADD COLUMN {q(issue.column_name)} {typ}"
        return FixPlan(**base, tier="approval", summary=f"add column {t}.{issue.column_name} {typ}",
                       steps=[FixStep(f"add column {issue.column_name}", sql, "write lock (whole file)",
                                      op="add_column", args={"table": t, "column": issue.column_name, "type": typ})],
                       verification="column present; integrity_check ok")
    if issue.issue_type == "no_primary_key" and ev.get("candidate_key"):
        key = list(ev["candidate_key"])
        con = f"PRIMARY KEY ({', '.join(q(c) for c in key)})"
        with open_readonly(path) as conn:
            rows, lock_s = _measure_copy_rate(conn, t, {})
        return FixPlan(**base, tier="approval", summary=f"rebuild {t} with {con} (12-step table rebuild)",
                       steps=[FixStep(f"rebuild {t}: add {con}", f"-- 12-step rebuild of {t} adding {con}",
                                      "write lock (whole file) for the whole rebuild", op="rebuild",
                                      args={"table": t, "types": {}, "add_constraints": [con]})],
                       rows_affected=rows, rows_rewritten=rows,
                       verification="row count and every row equal on the key; integrity_check ok",
                       notes=[f"holds the write lock for ~{lock_s:.3f} s ({rows} rows measured)"])
    if issue.issue_type == "missing_table" and not ev.get("migration") and ev.get("columns") and t:
        cols = [c["name"] for c in ev["columns"]]
        sql = f"CREATE TABLE {q(t)} ({', '.join(q(c) + (' ' + c_t if c_t else '') for c, c_t in ((c['name'], c.get('type')) for c in ev['columns']))})"
        return FixPlan(**base, tier="approval", inferred=True,
                       summary=f"create table {t} ({', '.join(cols)}) inferred from the code (no migration defines it)",
                       steps=[FixStep(f"create table {t} (inferred)", sql, "write lock (whole file)", op="create_table",
                                      args={"table": t, "sql": sql})],
                       verification="table present; integrity_check ok",
                       notes=["definition inferred from the code's usage: review the columns and types"])
    if issue.issue_type == "type_mismatch" and ev.get("parent", {}).get("data_type") and issue.column_name:
        typ = ev["parent"]["data_type"]
        types = {issue.column_name: typ}
        with open_readonly(path) as conn:
            rows, lock_s = _measure_copy_rate(conn, t, types)
        return FixPlan(**base, tier="approval",
                       summary=f"rebuild {t} with {issue.column_name} {typ} (12-step table rebuild)",
                       steps=[FixStep(f"rebuild {t}: {issue.column_name} → {typ}",
                                      f"-- 12-step rebuild of {t}: CREATE TABLE {NEW_PREFIX}{t} (... {issue.column_name} "
                                      f"{typ} ...); INSERT … SELECT CAST(…); DROP; RENAME; indexes/triggers/views",
                                      "write lock (whole file) for the whole rebuild", op="rebuild",
                                      args={"table": t, "types": types})],
                       rows_affected=rows, rows_rewritten=rows,
                       verification="row count and per-row checksums on the key equal in the new representation; "
                                    "foreign_key_check adds no violation; integrity_check ok",
                       notes=[f"holds the write lock for ~{lock_s:.3f} s ({rows} rows measured; other writers "
                              "wait on their busy_timeout, readers are not blocked until COMMIT)"])
    return None


def _exec_simple(conn: sqlite3.Connection, step: FixStep, retries: int) -> tuple[float, dict]:
    attempts = begin_immediate(conn, retries=retries)
    t0 = time.perf_counter()
    try:
        conn.execute(step.sql)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return time.perf_counter() - t0, {"attempts": attempts}


def apply_plan(plan: FixPlan, path: Path, home: Path, *, store=None, retries: int = 3, pause=None) -> dict:
    """Run a plan on the SQLite file: backup, change, verify. Returns the outcome (and records it)."""
    path = Path(path)
    conn = open_write(path)
    fix_id = _record_start(store, plan) if store is not None else None
    out: dict = {"fix_id": fix_id, "status": "failed", "steps": []}
    try:
        backup, backup_s = take_backup(conn, backup_dir(home), target_name(path))
        plan.backup_ref = str(backup)
        out.update(backup_ref=str(backup), backup_s=round(backup_s, 4))
        lock_total = 0.0
        for i, step in enumerate(plan.steps):
            t0 = time.perf_counter()
            if step.op == "rebuild":
                r = rebuild_table(conn, step.args["table"], step.args["types"], retries=retries, pause=pause,
                                  add_constraints=tuple(step.args.get("add_constraints") or ()))
                save_image(backup, r.table, r.post_image)
                lock_total += r.lock_s
                info = {"rows": r.rows, "lock_s": round(r.lock_s, 4), "copy_s": round(r.copy_s, 4),
                        "attempts": r.attempts, "checksum": r.checksum}
            elif step.op in ("create_index", "create_table", "add_column"):
                lock_s, info = _exec_simple(conn, step, retries)
                lock_total += lock_s
                info["lock_s"] = round(lock_s, 4)
            else:
                raise SqliteError(f"unknown SQLite fix op {step.op!r}")
            out["steps"].append({"index": i, "op": step.op, "seconds": round(time.perf_counter() - t0, 4), **info})
        verify = verify_file(conn)
        out.update(verify=verify, lock_s=round(lock_total, 4))
        out["status"] = "verified" if verify["integrity_check"] == "ok" else "failed"
    except Refused as exc:
        out.update(status="skipped", error=str(exc), samples=[repr(s) for s in exc.samples])
    except SqliteError as exc:
        out.update(status="failed", error=str(exc))
    except sqlite3.Error as exc:
        out.update(status="failed", error=f"SQLite: {exc}")
    finally:
        conn.close()
        if store is not None:
            _record_end(store, fix_id, out, plan)
    return out


def verify_file(conn: sqlite3.Connection) -> dict:
    ic = conn.execute("PRAGMA integrity_check").fetchall()
    fk = conn.execute("SELECT count(*) FROM pragma_foreign_key_check").fetchone()[0]
    return {"integrity_check": ic[0][0] if len(ic) == 1 else "; ".join(r[0] for r in ic[:5]),
            "foreign_key_violations": fk}


# ---- rollback ----------------------------------------------------------------------------------

def rollback(plan: FixPlan, result: dict, path: Path, *, store=None, retries: int = 3) -> dict:
    """Undo a fix without overwriting rows the app wrote since (they are kept and reported)."""
    if not result.get("backup_ref"):
        raise SqliteError("this fix has no backup: it cannot be rolled back")
    backup = Path(result["backup_ref"])
    if not backup.exists():
        raise SqliteError(f"backup {backup} is missing: cannot roll back")
    conn = open_write(path)
    out: dict = {"status": "failed", "conflicts": []}
    try:
        for step in reversed(plan.steps):
            t = step.args["table"]
            if step.op == "create_index":
                _exec_simple(conn, FixStep("drop", f"DROP INDEX IF EXISTS {q(step.args['name'])}", ""), retries)
            elif step.op == "create_table":
                n = conn.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0]
                if n:
                    keys = [r[0] for r in conn.execute(f"SELECT rowid FROM {q(t)} LIMIT 20")]
                    out["conflicts"].append({"table": t, "reason": f"{n} row(s) written since", "keys": keys})
                    continue  # never delete user data
                _exec_simple(conn, FixStep("drop", f"DROP TABLE {q(t)}", ""), retries)
            elif step.op == "add_column":
                c = step.args["column"]
                rows = [r[0] for r in conn.execute(f"SELECT rowid FROM {q(t)} WHERE {q(c)} IS NOT NULL LIMIT 20")]
                if rows:
                    out["conflicts"].append({"table": t, "column": c, "reason": "values written since", "keys": rows})
                    continue
                _exec_simple(conn, FixStep("drop", f"ALTER TABLE {q(t)} DROP COLUMN {q(c)}", ""), retries)
            elif step.op == "rebuild":
                out["conflicts"] += _unrebuild(conn, backup, t, step.args["types"], retries)
        out["verify"] = verify_file(conn)
        ok = out["verify"]["integrity_check"] == "ok"
        out["status"] = ("rolled_back_with_conflicts" if out["conflicts"] else "rolled_back") if ok else "failed"
    except SqliteError as exc:
        out["error"] = str(exc)
    finally:
        conn.close()
        if store is not None:
            _record_rollback(store, result.get("fix_id"), plan, out)
    return out


def _unrebuild(conn: sqlite3.Connection, backup: Path, table: str, types: dict[str, str], retries: int) -> list:
    image = load_image(backup, table)
    fk_was = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("ATTACH DATABASE ? AS heal_bak", (f"file:{backup}?mode=ro",))
    conflicts: list = []
    try:
        begin_immediate(conn, retries=retries)
        try:
            orig_sql = conn.execute("SELECT sql FROM heal_bak.sqlite_schema WHERE type = 'table' AND name = ?",
                                    (table,)).fetchone()[0]
            deps = conn.execute("SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger') "
                                "AND sql IS NOT NULL", (table,)).fetchall()
            views = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'view' AND sql LIKE ?",
                                 (f"%{table}%",)).fetchall()
            keys, is_rowid = key_columns(conn, table)
            cols = [r[0] for r in conn.execute("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid",
                                               (table,))]
            keysel = ", ".join("rowid" if k == "rowid" else q(k) for k in keys)
            # backup rows by their key in the post-fix representation
            bkey = ", ".join("rowid" if k == "rowid" else (f"CAST({q(k)} AS {types[k]})" if k in types else q(k))
                             for k in keys)
            rid = ["rowid"] if is_rowid else []
            selcols = ", ".join(rid + [q(c) for c in cols])
            original = {}
            for row in conn.execute(f"SELECT {bkey}, {selcols} FROM heal_bak.{q(table)}"):
                k = row[:len(keys)]
                original[repr(k if len(k) > 1 else k[0])] = row[len(keys):]
            new = NEW_PREFIX + table
            conn.execute(f"DROP TABLE IF EXISTS {q(new)}")
            conn.execute(retyped_create_sql(orig_sql, new, {}))
            restore, seen = [], set()
            for row in conn.execute(f"SELECT {keysel}, {selcols} FROM {q(table)}").fetchall():
                k = row[:len(keys)]
                rk = repr(k if len(k) > 1 else k[0])
                seen.add(rk)
                current = row[len(keys):]
                if rk in image and row_hash(current[len(rid):]) == image[rk] and rk in original:
                    restore.append(original[rk])  # unchanged since the fix: the original row
                else:
                    restore.append(current)  # written by the app since: kept as is
                    if rk in image:
                        conflicts.append({"table": table, "key": rk, "reason": "changed since the fix"})
            for rk in image.keys() - seen:
                conflicts.append({"table": table, "key": rk, "reason": "deleted since the fix (not resurrected)"})
            marks = ", ".join("?" * (len(rid) + len(cols)))
            conn.executemany(f"INSERT INTO {q(new)} ({selcols}) VALUES ({marks})", restore)
            for name, _s in views:
                conn.execute(f"DROP VIEW {q(name)}")
            conn.execute(f"DROP TABLE {q(table)}")
            conn.execute(f"ALTER TABLE {q(new)} RENAME TO {q(table)}")
            for (s,) in deps:
                conn.execute(s)
            for _n, s in views:
                conn.execute(s)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("DETACH DATABASE heal_bak")
        conn.execute(f"PRAGMA foreign_keys = {'ON' if fk_was else 'OFF'}")
    return conflicts


# ---- heal.fix_history ---------------------------------------------------------------------------

def _plan_json(plan: FixPlan) -> dict:
    return {"summary": plan.summary, "tier": plan.tier, "notes": plan.notes,
            "steps": [{"op": s.op, "args": s.args, "sql": s.sql} for s in plan.steps]}


def _record_start(store, plan: FixPlan) -> int:
    from psycopg.types.json import Jsonb  # noqa: PLC0415

    row = store.execute(
        "INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, tier, status, summary, approved,"
        " plan, engine) VALUES (%s, %s, %s, %s, 'running', %s, true, %s, 'sqlite') RETURNING fix_id",
        (plan.fingerprint, plan.issue_type, plan.target_db, plan.tier, plan.summary, Jsonb(_plan_json(plan))))
    return int(row.fetchone()[0])


def _record_end(store, fix_id: int, out: dict, plan: FixPlan) -> None:
    from psycopg.types.json import Jsonb  # noqa: PLC0415

    status = out["status"] if out["status"] in ("verified", "failed", "skipped") else "failed"
    store.execute(
        "UPDATE heal.fix_history SET status = %s, steps = %s, backup_ref = %s, error = %s, finished_at = now(),"
        " lock_ms = %s, outcome = %s, checksum_after = %s WHERE fix_id = %s",
        (status, Jsonb(json.loads(json.dumps(out["steps"], default=str))), out.get("backup_ref"), out.get("error"),
         (out.get("lock_s") or 0) * 1000, out["status"],
         next((s.get("checksum") for s in out["steps"] if s.get("checksum")), None), fix_id))


def _record_rollback(store, fix_id: int | None, plan: FixPlan, out: dict) -> None:
    from psycopg.types.json import Jsonb  # noqa: PLC0415

    row = store.execute(
        "INSERT INTO heal.fix_history (fingerprint, issue_type, target_db, tier, status, summary, approved,"
        " rollback_of, engine, outcome, conflicts, error, finished_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, true, %s, 'sqlite', %s, %s, %s, now()) RETURNING fix_id",
        (plan.fingerprint, plan.issue_type, plan.target_db, plan.tier,
         out["status"] if out["status"].startswith("rolled_back") else "failed", f"rollback: {plan.summary}",
         fix_id, out["status"], Jsonb(out["conflicts"]), out.get("error"))).fetchone()
    if fix_id is not None and out["status"].startswith("rolled_back"):
        store.execute("UPDATE heal.fix_history SET rolled_back_by = %s WHERE fix_id = %s", (row[0], fix_id))
