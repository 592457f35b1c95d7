"""Notifications against a real local HTTP endpoint: run failures and new critical issues."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from heal_pipeline import notify
from heal_pipeline.config import database_name
from heal_pipeline.defs.automation import evaluate_critical_issues, heal_run_failure_alert
from heal_pipeline.store import open_store

from .helpers import settings

SECRET_PATH = "/services/T000/B000/s3cr3t-t0ken"


class Hook:
    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "type": self.headers.get("Content-Type"),
                                      "json": json.loads(body)})
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_send_posts_json_and_never_leaks_the_url(hook):
    d = notify.send({"event": "x", "error": "cannot connect to postgresql://app:pw@db/shop password=pw"},
                    url=hook.url)
    assert d.sent and d.status == 200
    (req,) = hook.requests
    assert req["path"] == SECRET_PATH and req["type"] == "application/json"
    assert "pw" not in json.dumps(req["json"]) and "postgresql://db/" in req["json"]["error"]
    assert "s3cr3t" not in d.describe() and d.target == f"http://127.0.0.1:{hook.server.server_address[1]}/…"
    hook.status = 500
    bad = notify.send({"event": "x"}, url=hook.url)
    assert not bad.sent and bad.error == "HTTP 500 Internal Server Error" and "s3cr3t" not in bad.describe()
    assert notify.send({"event": "x"}, env={}) is None  # no webhook configured


def test_send_times_out_and_refuses_other_schemes():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)  # accepts the connection, never answers
    try:
        d = notify.send({"event": "x"}, url=f"http://127.0.0.1:{s.getsockname()[1]}/x", timeout=0.5)
        assert not d.sent and "timed out" in d.error.lower()
    finally:
        s.close()
    assert "unsupported URL scheme" in notify.send({}, url="file:///etc/passwd").error


def test_run_failure_sensor_alerts_with_a_real_failed_run(hook, instance, monkeypatch, caplog):
    from heal_pipeline.definitions import defs

    monkeypatch.setenv("HEAL_DATABASE_URL", "postgresql://nobody:hunter2@127.0.0.1:1/x?connect_timeout=2")
    monkeypatch.setenv("HEAL_TARGET_NAME", "x")
    monkeypatch.setenv("HEAL_WEBHOOK_URL", hook.url)
    instance.add_dynamic_partitions("target_db", ["x"])
    result = defs.resolve_job_def("heal_scan").execute_in_process(
        instance=instance, partition_key="x", raise_on_error=False,
        tags={"heal/target_db": "x", "heal/trigger": "schedule"})
    assert not result.success
    event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    ctx = dg.build_run_status_sensor_context(
        sensor_name="heal_run_failure_alert", dagster_event=event, dagster_instance=instance,
        dagster_run=result.dagster_run).for_run_failure()
    with caplog.at_level(logging.INFO):
        heal_run_failure_alert(ctx)
    (req,) = hook.requests
    body = req["json"]
    assert body["event"] == "heal.run_failure" and body["run_id"] == result.run_id
    assert body["job"] == "heal_scan" and body["target_db"] == "x" and body["trigger"] == "schedule"
    assert "hunter2" not in json.dumps(body)
    assert "s3cr3t" not in caplog.text


def _issue(conn, target, fp, severity="critical", **kw):
    conn.execute("INSERT INTO heal.issues (fingerprint, issue_type, severity, target_db, schema_name, table_name,"
                 " detail) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (fp, kw.get("issue_type", "missing_table"), severity, target, "billing", kw.get("table", "refunds"),
                  kw.get("detail", "table billing.refunds is used by the application but does not exist")))


def test_new_critical_issue_sensor(hook, fresh_dsn):
    target = database_name(fresh_dsn)
    s = settings(HEAL_DATABASE_URL=fresh_dsn)
    sent: list = []

    def send(payload):
        sent.append(payload)
        return notify.send(payload, url=hook.url)

    with open_store(fresh_dsn) as conn:
        _issue(conn, target, "fp-old")
        first = evaluate_critical_issues(None, settings=s, send=send)
        assert not sent and "watching" in first.skip_reason.skip_message  # existing issues: baseline only

        _issue(conn, target, "fp-new")
        _issue(conn, target, "fp-warn", severity="warning")
        _issue(conn, "another_db", "fp-elsewhere")
        second = evaluate_critical_issues(first.cursor, settings=s, send=send)
        assert len(hook.requests) == 1, (first.cursor, second.cursor, second.skip_reason)
        (req,) = hook.requests
        body = req["json"]
        assert body["event"] == "heal.critical_issues" and body["target_db"] == target
        assert [i["fingerprint"] for i in body["issues"]] == ["fp-new"]
        assert body["issues"][0]["object"] == "billing.refunds"
        assert "1 new critical issue" in second.skip_reason.skip_message

        # nothing new: nothing sent
        third = evaluate_critical_issues(second.cursor, settings=s, send=send)
        assert len(hook.requests) == 1 and "no new critical issue" in third.skip_reason.skip_message

        # the endpoint fails: the cursor stays, the next tick delivers
        hook.status = 503
        _issue(conn, target, "fp-later", table="tickets")
        fourth = evaluate_critical_issues(third.cursor, settings=s, send=send)
        assert "retried next tick" in fourth.skip_reason.skip_message
        assert fourth.cursor == third.cursor
        hook.status = 200
        fifth = evaluate_critical_issues(fourth.cursor, settings=s, send=send)
        assert [i["fingerprint"] for i in hook.requests[-1]["json"]["issues"]] == ["fp-later"]
        sixth = evaluate_critical_issues(fifth.cursor, settings=s, send=send)
        assert "no new critical issue" in sixth.skip_reason.skip_message and len(hook.requests) == 3


def test_critical_issue_sensor_without_a_store_or_webhook(fresh_dsn):
    s = settings(HEAL_DATABASE_URL=fresh_dsn)
    res = evaluate_critical_issues(None, settings=s)
    assert "no heal store yet" in res.skip_reason.skip_message
    target = database_name(fresh_dsn)
    with open_store(fresh_dsn) as conn:
        c = evaluate_critical_issues(None, settings=s).cursor
        _issue(conn, target, "fp-1")
        logged: list[str] = []
        res = evaluate_critical_issues(c, settings=s, warn=logged.append)  # no HEAL_WEBHOOK_URL: log only
    assert any("new critical missing_table on billing.refunds" in m for m in logged)
    assert json.loads(res.cursor)["targets"][target]["fps"] == ["fp-1"]


def test_unreachable_store_is_a_note(instance):
    s = settings(HEAL_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x?connect_timeout=2")
    res = evaluate_critical_issues(None, settings=s)
    assert "cannot connect to the heal store" in res.skip_reason.skip_message


def test_the_payload_text_is_readable():
    p = notify.run_failure_payload(run_id="0123456789abcdef", job_name="heal_scan",
                                   tags={"dagster/partition": "shop"}, message="boom\ntrace")
    assert p["text"] == "heal: run 01234567 of heal_scan for shop failed: boom"
