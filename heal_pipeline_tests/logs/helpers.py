"""Realistic PostgreSQL 18 log lines for the log tests."""

from __future__ import annotations

import csv
import io
import json

# verbatim PostgreSQL 18 output (docs/DAGSTER.md appendix, section 5)
PG18_CSV = (
    '2026-11-22 01:25:34.244 UTC,"postgres","postgres",12197,"[local]",6b02448e.2fa5,1,"SELECT",2026-11-22 01:25:34 UTC,0/5,0,ERROR,42P01,"relation ""x"" does not exist",,,,,,"select * from x",15,,"selfheal-demo","client backend",,0\n'
    '2026-11-22 01:25:34.245 UTC,"postgres","postgres",12197,"[local]",6b02448e.2fa5,2,"SELECT",2026-11-22 01:25:34 UTC,0/6,0,ERROR,42883,"operator does not exist: text = integer",,"No operator matches the given name and argument types. You might need to add explicit type casts.",,,,"select * from t where name = 1",28,,"selfheal-demo","client backend",,0\n'
    '2026-11-22 01:25:34.246 UTC,"postgres","postgres",12197,"[local]",6b02448e.2fa5,4,"INSERT",2026-11-22 01:25:34 UTC,0/8,754,ERROR,23505,"duplicate key value violates unique constraint ""t_pkey""","Key (id)=(1) already exists.",,,,,"insert into t values (1,\'dup\')",,,"selfheal-demo","client backend",,0\n'
)
PG18_JSON = (
    '{"timestamp":"2026-11-22 01:25:34.244 UTC","user":"postgres","dbname":"postgres","pid":12197,"remote_host":"[local]","session_id":"6b02448e.2fa5","line_num":1,"ps":"SELECT","session_start":"2026-11-22 01:25:34 UTC","vxid":"0/5","txid":0,"error_severity":"ERROR","state_code":"42P01","message":"relation \\"x\\" does not exist","statement":"select * from x","cursor_position":15,"application_name":"selfheal-demo","backend_type":"client backend","query_id":0}\n'
    '{"timestamp":"2026-11-22 01:25:34.245 UTC","user":"postgres","dbname":"postgres","pid":12197,"remote_host":"[local]","session_id":"6b02448e.2fa5","line_num":2,"ps":"SELECT","session_start":"2026-11-22 01:25:34 UTC","vxid":"0/6","txid":0,"error_severity":"ERROR","state_code":"42883","message":"operator does not exist: text = integer","hint":"No operator matches the given name and argument types. You might need to add explicit type casts.","statement":"select * from t where name = 1","cursor_position":28,"application_name":"selfheal-demo","backend_type":"client backend","query_id":0}\n'
)
LOG_LINE = ('{"timestamp":"2026-11-22 02:30:18.187 UTC","pid":8448,"session_id":"6b0253ba.2100","line_num":3,'
            '"session_start":"2026-11-22 02:30:18 UTC","txid":0,"error_severity":"LOG",'
            '"message":"database system is ready to accept connections","backend_type":"postmaster","query_id":0}\n')


def jline(i: int, state: str = "42P01", message: str = 'relation "x" does not exist',
          statement: str | None = "select * from x", *, severity: str = "ERROR", db: str = "app",
          second: int | None = None, **extra) -> str:
    """One jsonlog line in PostgreSQL's key order (absent keys omitted)."""
    s = i % 60 if second is None else second
    rec = {"timestamp": f"2026-11-22 01:{(i // 60) % 60:02d}:{s:02d}.{i % 1000:03d} UTC", "user": "app",
           "dbname": db, "pid": 12197, "remote_host": "[local]", "session_id": "6b02448e.2fa5",
           "line_num": i, "ps": "SELECT", "session_start": "2026-11-22 01:25:34 UTC", "vxid": f"0/{i}",
           "txid": 0, "error_severity": severity, "state_code": state, "message": message}
    rec.update({k: v for k, v in extra.items() if v is not None})
    if statement is not None:
        rec["statement"] = statement
    rec.update({"application_name": "shop", "backend_type": "client backend", "query_id": 0})
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"


def cline(i: int, state: str = "42P01", message: str = 'relation "x" does not exist',
          statement: str | None = "select * from x", *, severity: str = "ERROR", db: str = "app",
          detail: str | None = None, hint: str | None = None, cursor: int | None = None,
          columns: int = 26) -> str:
    """One csvlog record (26 columns in PG 14–18; 23/24 for older servers)."""
    row = [f"2026-11-22 01:25:{i % 60:02d}.{i % 1000:03d} UTC", "app", db, "12197", "[local]",
           "6b02448e.2fa5", str(i), "SELECT", "2026-11-22 01:25:34 UTC", f"0/{i}", "0", severity, state,
           message, detail or "", hint or "", "", "", "", statement or "",
           "" if cursor is None else str(cursor), "", "shop", "client backend", "", "0"][:columns]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()
