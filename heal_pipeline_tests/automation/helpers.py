"""Shared helpers for the automation tests: realistic log lines, settings from an explicit env."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from heal_pipeline.config import Settings


def jline(i: int, *, db: str = "shop", state: str = "42P01", message: str = 'relation "billing.refunds" does not exist',
          statement: str | None = "select * from billing.refunds where id = 1", severity: str = "ERROR") -> str:
    """One PostgreSQL 18 jsonlog line (keys in the server's order, absent keys omitted)."""
    rec = {"timestamp": f"2026-11-22 01:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d} UTC", "user": "app",
           "dbname": db, "pid": 4242, "remote_host": "[local]", "session_id": "6b02448e.2fa5",
           "line_num": i, "ps": "SELECT", "session_start": "2026-11-22 01:00:00 UTC", "vxid": f"0/{i}",
           "txid": 0, "error_severity": severity}
    if severity != "LOG":
        rec["state_code"] = state
    rec["message"] = message
    if statement is not None:
        rec["statement"] = statement
    rec.update({"application_name": "demo_app", "backend_type": "client backend", "query_id": 0})
    return json.dumps(rec, separators=(",", ":")) + "\n"


def log_line(i: int) -> str:
    return jline(i, severity="LOG", message="checkpoint starting: time", statement=None)


def cline(i: int, *, db: str = "shop", state: str = "42703",
          message: str = 'column "last_login_at" does not exist',
          statement: str = "select id, last_login_at\nfrom users where id = 1") -> str:
    """One csvlog record (26 columns, PG 14-18); the statement has a newline inside quotes."""
    row = [f"2026-11-22 01:25:{i % 60:02d}.{i % 1000:03d} UTC", "app", db, "4242", "[local]",
           "6b02448e.2fa5", str(i), "SELECT", "2026-11-22 01:00:00 UTC", f"0/{i}", "0", "ERROR", state,
           message, "", "", "", "", "", statement, "", "", "demo_app", "client backend", "", "0"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def settings(**env: str) -> Settings:
    """Settings from exactly this environment (nothing inherited from the test process)."""
    return Settings.from_env({k: str(v) for k, v in env.items()})
