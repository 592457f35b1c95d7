"""``heal demo-traffic``: fire realistic failing queries at the demo database.

The statements are the ones the demo application (``examples/demo_app``) really sends, and fail for
the reasons heal detects:

* ``billing/refunds.py`` reads ``billing.refunds`` — a table whose migration was never applied
  (42P01 undefined_table → ``missing_table``);
* ``users/repo.py`` selects ``public.users.last_login_at`` — a column not migrated yet
  (42703 undefined_column → ``missing_column``);
* the session lookup without its ``::text`` workaround joins ``auth.sessions.user_id`` (text) to
  ``public.users.id`` (integer) (42883 ``operator does not exist: text = integer`` → ``type_mismatch``);
* a user id that is not a number bound to an integer column (22P02 invalid input syntax).

Target: ``--dsn``, else ``HEAL_DATABASE_URL``, else the demo database of the ``heal dev`` server in
``$HEAL_HOME``. The server writes the failures to its log, ``failed_query_log_sensor`` sees them on its
next tick (every 30 s) and requests a ``heal_scan`` run for the target. Plain Python, no Dagster.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .config import describe_dsn, validate_dsn
from .errors import HealError

APPLICATION_NAME = "demo_app"
DEMO_DB = "heal_demo"


@dataclass(frozen=True)
class FailingQuery:
    label: str
    source: str  # where the demo application sends it
    sql: str
    params: tuple
    expect: str  # SQLSTATE


QUERIES: tuple[FailingQuery, ...] = (
    FailingQuery("missing table billing.refunds", "billing/refunds.py",
                 "SELECT r.id, r.amount_cents, r.reason, r.created_at FROM billing.refunds r "
                 "WHERE r.payment_id = %s ORDER BY r.created_at", (1,), "42P01"),
    FailingQuery("missing column public.users.last_login_at", "users/repo.py",
                 "SELECT id, email, last_login_at FROM public.users WHERE org_id = %s "
                 "AND last_login_at IS NOT NULL ORDER BY last_login_at DESC LIMIT %s", (1, 20), "42703"),
    FailingQuery("text = integer (auth.sessions.user_id vs public.users.id)", "auth/sessions.py",
                 "SELECT u.id, u.email, u.org_id FROM auth.sessions s JOIN public.users u "
                 "ON s.user_id = u.id WHERE s.token = %s AND s.expires_at > now()", ("tok-demo",), "42883"),
    FailingQuery("invalid integer text for public.users.id", "users/repo.py",
                 "SELECT id, email, org_id FROM public.users WHERE id = %s", ("17b",), "22P02"),
)


@dataclass
class Fired:
    query: FailingQuery
    sqlstate: str | None  # None: it did not fail
    message: str


def _home() -> Path:
    return Path(os.environ.get("HEAL_HOME") or ".heal")


def default_dsn(env: dict[str, str] | None = None) -> str:
    """HEAL_DATABASE_URL, else the demo database of a running ``heal dev`` server."""
    env = dict(os.environ if env is None else env)
    if env.get("HEAL_DATABASE_URL"):
        return validate_dsn(env["HEAL_DATABASE_URL"], name="HEAL_DATABASE_URL")
    from .embedded import EmbeddedServer  # noqa: PLC0415

    home = Path(env.get("HEAL_HOME") or ".heal").absolute()
    server = EmbeddedServer(home / "pg" / "data")
    if server.running_pid() is None:
        raise HealError(f"no target: set HEAL_DATABASE_URL, pass --dsn, or start `heal dev` "
                        f"(no heal dev server is running in {home})")
    return server.info().dsn(DEMO_DB)


def fire(dsn: str, *, count: int = 1, pause: float = 0.0) -> list[Fired]:
    """Send every failing query ``count`` times, each in its own autocommit statement."""
    if count < 1:
        raise HealError(f"--count must be at least 1, got {count}")
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name=APPLICATION_NAME)
    except psycopg.OperationalError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HealError(f"cannot connect to {describe_dsn(dsn)}: {msg}") from None
    out: list[Fired] = []
    with conn:
        for _ in range(count):
            for q in QUERIES:
                try:
                    conn.execute(q.sql, q.params)  # type: ignore[arg-type]  (constant SQL, bound params)
                    out.append(Fired(q, None, "succeeded (already fixed?)"))
                except psycopg.Error as exc:
                    diag = exc.diag
                    out.append(Fired(q, exc.sqlstate, (diag.message_primary or str(exc)).strip()))
                if pause:
                    time.sleep(pause)
    return out


def _ui_url() -> str | None:
    try:
        state = json.loads((_home() / "run" / "dev.json").read_text())
        return f"http://127.0.0.1:{int(state['port'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cmd_demo_traffic(args: argparse.Namespace) -> int:
    dsn = validate_dsn(args.dsn, name="--dsn") if args.dsn else default_dsn()
    fired = fire(dsn, count=args.count, pause=args.pause)
    failed = [f for f in fired if f.sqlstate]
    for f in fired[: len(QUERIES)]:
        state = f.sqlstate or "ok"
        note = "" if f.sqlstate in (None, f.query.expect) else f" (expected {f.query.expect})"
        print(f"  {state:<6} {f.query.label}  [{f.query.source}]: {f.message}{note}")
    print(f"heal: fired {len(fired)} queries at {describe_dsn(dsn)} ({len(failed)} failed, "
          f"application_name={APPLICATION_NAME})")
    url = _ui_url()
    print("heal: failed_query_log_sensor reads the server log every 30 s and requests a heal_scan run "
          "for this database" + (f"; watch it at {url}/runs" if url else " (Dagster UI → Runs)"))
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("demo-traffic", help="fire realistic failing queries at the demo database")
    p.add_argument("--count", type=int, default=1, help="how many times to send the set of %d failing "
                                                         "queries (default 1)" % len(QUERIES))
    p.add_argument("--dsn", help="target DSN (default HEAL_DATABASE_URL, else the heal dev demo database)")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between queries (default 0)")
    p.set_defaults(func=cmd_demo_traffic)
