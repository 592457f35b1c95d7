"""Notifications: a JSON POST to ``HEAL_WEBHOOK_URL`` (Slack/Teams/any HTTP endpoint). Plain Python.

Stdlib only (``urllib.request``), with a timeout. Nothing secret is ever logged or sent:

* the webhook URL itself is a secret (Slack puts the token in the path): logs show only its scheme
  and host (:func:`redact_url`);
* every text put in a payload goes through :func:`scrub`, which replaces connection strings and
  ``password=…`` pairs (a DSN in an error message, say).

:func:`send` never raises: it returns a :class:`Delivery` saying whether the endpoint accepted it.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_S = 5.0
USER_AGENT = "heal-notify/1"

_URL_WITH_SCHEME = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_SECRET_PAIR = re.compile(r"\b(password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*('[^']*'|\"[^\"]*\"|\S+)",
                          re.IGNORECASE)


def webhook_url(env: dict[str, str] | None = None) -> str | None:
    url = (os.environ if env is None else env).get("HEAL_WEBHOOK_URL") or None
    return url.strip() if url else None


def redact_url(url: str) -> str:
    """'https://hooks.example.com/services/T0/B0/xyz?k=v' -> 'https://hooks.example.com/…'."""
    try:
        u = urllib.parse.urlsplit(url)
    except ValueError:
        return "<webhook>"
    host = u.hostname or "?"
    if u.port:
        host = f"{host}:{u.port}"
    return f"{u.scheme or '?'}://{host}/…"


def scrub(text: Any) -> Any:
    """Remove connection strings and secrets from a text (or, recursively, a JSON-like value)."""
    if isinstance(text, str):
        text = _URL_WITH_SCHEME.sub(lambda m: redact_url(m.group(0)), text)
        return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}=…", text)
    if isinstance(text, dict):
        return {k: scrub(v) for k, v in text.items()}
    if isinstance(text, (list, tuple)):
        return [scrub(v) for v in text]
    return text


@dataclass
class Delivery:
    sent: bool  # the endpoint answered 2xx
    status: int | None = None
    error: str | None = None  # one line, no URL
    target: str = ""  # redacted URL

    def describe(self) -> str:
        if self.sent:
            return f"webhook {self.target} accepted it (HTTP {self.status})"
        return f"webhook {self.target} failed: {self.error}"


def send(payload: dict[str, Any], *, url: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
         env: dict[str, str] | None = None) -> Delivery | None:
    """POST ``payload`` (scrubbed) as JSON. None when no webhook is configured."""
    url = url or webhook_url(env)
    if not url:
        return None
    target = redact_url(url)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return Delivery(False, error=f"unsupported URL scheme {scheme!r} (http or https)", target=target)
    body = json.dumps(scrub(payload), default=str).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http/https checked)
            resp.read(65536)
            status = resp.status
    except urllib.error.HTTPError as exc:
        return Delivery(False, status=exc.code, error=f"HTTP {exc.code} {exc.reason}", target=target)
    except urllib.error.URLError as exc:
        return Delivery(False, error=scrub(f"{type(exc.reason).__name__}: {exc.reason}"), target=target)
    except (TimeoutError, OSError, ValueError) as exc:
        return Delivery(False, error=scrub(f"{type(exc).__name__}: {exc}"), target=target)
    ok = 200 <= status < 300
    return Delivery(ok, status=status, error=None if ok else f"HTTP {status}", target=target)


# ------------------------------------------------------------------------------------------
# payloads
# ------------------------------------------------------------------------------------------

def run_failure_payload(*, run_id: str, job_name: str, tags: dict[str, str], message: str | None,
                        failed_steps: list[str] | None = None) -> dict[str, Any]:
    text = (message or "").strip()
    first = text.splitlines()[0] if text else ""
    target = tags.get("heal/target_db") or tags.get("dagster/partition")
    where = f" for {target}" if target else ""
    return scrub({
        "event": "heal.run_failure",
        "run_id": run_id,
        "job": job_name,
        "target_db": target,
        "trigger": tags.get("heal/trigger"),
        "error": first[:500],
        "failed_steps": failed_steps or [],
        "text": f"heal: run {run_id[:8]} of {job_name}{where} failed: {first[:200]}",
    })


def critical_issues_payload(target_db: str, issues: list[dict[str, Any]]) -> dict[str, Any]:
    lines = [f"- {i.get('issue_type')}: {i.get('object') or ''} — {str(i.get('detail') or '')[:160]}"
             for i in issues[:10]]
    more = f"\n… and {len(issues) - 10} more" if len(issues) > 10 else ""
    return scrub({
        "event": "heal.critical_issues",
        "target_db": target_db,
        "count": len(issues),
        "issues": issues[:50],
        "text": f"heal: {len(issues)} new critical issue(s) in {target_db}\n" + "\n".join(lines) + more,
    })
