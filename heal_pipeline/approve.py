"""``heal approve FINGERPRINT…``: approve fixes without hand-typing YAML (issue 16, item 6).

* finds, in the heal store of every configured target (``HEAL_FLEET`` / ``HEAL_DATABASE_URL``, else the
  demo of the ``heal dev`` running in ``$HEAL_HOME``), the partition whose current ``fix_plan`` holds
  each fingerprint — an unknown or blocked fingerprint is a one-line error and nothing is launched;
* launches job ``heal_apply`` for that partition through the GraphQL API of the running Dagster
  webserver (``--url``, else ``HEAL_DAGSTER_URL``, else the port the running ``heal dev`` recorded),
  with the approval as run config and the tags ``dagster/partition``, ``heal/target_db``,
  ``heal/approved``; the run then shows in the UI like any other;
* ``--wait`` follows the run to its end and prints each fix's status from ``heal.fix_history``
  (``verified`` only when the fix verified), with its rollback command;
* ``heal approve --scaffold [--target NAME]`` prints the launchpad config with every open fixable
  fingerprint as a comment (the same text is ``fix_plan``'s ``launchpad_config`` metadata).

No Dagster import at module level: ``fix_plan`` renders :func:`scaffold_yaml` from here.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, HealError

JOB = "heal_apply"
LOCATION = "heal_pipeline"  # heal_pipeline.dev.LOCATION_NAME
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class TargetPlans:
    name: str
    store_dsn: str
    plans: list[Any]
    source: str


# ---------------------------------------------------------------------------------------------
# the launchpad scaffold
# ---------------------------------------------------------------------------------------------

def _comment(text: str, n: int = 90) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def scaffold_yaml(target: str, plans: list[Any]) -> str:
    """Launchpad run config for ``heal_apply`` on ``target``: every ready plan as a commented line
    (uncomment to approve), blocked plans listed below with their reason. Valid YAML as it stands
    (an empty approval: nothing but what the policy auto-applies)."""
    ready = [p for p in plans if not p.blocked]
    blocked = [p for p in plans if p.blocked]
    width = max((len(p.fingerprint) for p in ready), default=0) + 3
    lines = [f"# heal_apply for partition {target}: uncomment the fixes to approve",
             f"# ({len(ready)} ready, {len(blocked)} blocked; or run `heal approve FINGERPRINT…`)",
             "ops:", "  applied_fixes:", "    config:", "      approve: ["]
    for p in sorted(ready, key=lambda p: ({"auto": 0, "approval": 1}.get(p.tier, 2), p.issue_type, p.fingerprint)):
        lines.append(f'        # {(chr(34) + p.fingerprint + chr(34) + ","):<{width}} # {p.tier} · {_comment(p.summary)}')
    lines.append("      ]")
    lines.append("      # approve_all_auto: true   # also every plan of tier 'auto'")
    if blocked:
        lines.append("# blocked (cannot be approved until the reason is gone):")
        lines += [f"#   {p.fingerprint}: {_comment(p.blocked, 100)}" for p in blocked]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# where the plans are, where Dagster is
# ---------------------------------------------------------------------------------------------

def known_targets(env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(name, store DSN, where it came from) of every configured target, else the running heal dev demo."""
    from .config import Settings
    from .targets import default_target_name, targets_from_settings

    env = dict(os.environ if env is None else env)
    settings = Settings.from_env(env)
    if settings.fleet is not None or settings.database_url is not None:
        src = "HEAL_FLEET" if settings.fleet is not None else "HEAL_DATABASE_URL"
        return [(t.name, t.store_dsn, src) for t in targets_from_settings(settings).values()]
    from .devtarget import running_demo

    demo = running_demo(env)
    if demo is None:
        home = Path(env.get("HEAL_HOME") or ".heal").expanduser().absolute()
        raise ConfigError("no target database: set HEAL_DATABASE_URL or HEAL_FLEET, or start `heal dev` "
                          f"(no heal dev server is running in {home})")
    return [(default_target_name(demo.dsn), settings.effective_store_url or demo.dsn, demo.source)]


def load_target_plans(env: dict[str, str] | None = None, only: str | None = None) -> list[TargetPlans]:
    from .store import load_fix_plans, open_store

    out = []
    targets = known_targets(env)
    if only is not None and only not in {t[0] for t in targets}:
        raise ConfigError(f"unknown target {only!r}; configured: {', '.join(sorted(t[0] for t in targets))}")
    for name, store_dsn, source in targets:
        if only is not None and name != only:
            continue
        if not store_dsn:  # a SQLite target without a PostgreSQL store keeps no fix_plans table here
            continue
        with open_store(store_dsn) as store:
            out.append(TargetPlans(name, store_dsn, load_fix_plans(store, name), source))
    return out


def partition_of(fingerprints: list[str], found: list[TargetPlans]) -> tuple[TargetPlans, list[Any]]:
    """The one target whose current plans hold every fingerprint (one-line errors otherwise)."""
    where: dict[str, list[TargetPlans]] = {}
    for tp in found:
        for p in tp.plans:
            where.setdefault(p.fingerprint, []).append(tp)
    unknown = [f for f in fingerprints if f not in where]
    if unknown:
        n = sum(len(tp.plans) for tp in found)
        raise HealError(f"unknown fingerprint(s) {', '.join(unknown)}: no current fix plan has them "
                        f"({n} plan(s) in {', '.join(tp.name for tp in found) or 'no target'}; "
                        "materialize fix_plan first, or see `heal approve --scaffold`)")
    names = {tp.name for f in fingerprints for tp in where[f]}
    if len(names) > 1:
        raise HealError(f"the fingerprints belong to several targets ({', '.join(sorted(names))}): "
                        "approve them per target (--target NAME)")
    tp = where[fingerprints[0]][0]
    plans = [p for p in tp.plans if p.fingerprint in set(fingerprints)]
    blocked = [p for p in plans if p.blocked]
    if blocked:
        raise HealError(f"plan {blocked[0].fingerprint} is blocked: {_comment(blocked[0].blocked, 200)}")
    return tp, plans


def webserver_url(explicit: str | None, env: dict[str, str] | None = None) -> str:
    """``--url``, else ``HEAL_DAGSTER_URL``, else the UI of the heal dev running in ``$HEAL_HOME``."""
    env = dict(os.environ if env is None else env)
    url = explicit or env.get("HEAL_DAGSTER_URL")
    if url:
        return url.rstrip("/")
    from .dev import DevPaths, _is_recorded

    home = Path(env.get("HEAL_HOME") or ".heal").expanduser().absolute()
    run_file = DevPaths(home).run_file
    try:
        state = json.loads(run_file.read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("port") and _is_recorded(state, "dagster_pid", "dagster"):
        return f"http://127.0.0.1:{int(state['port'])}"
    raise ConfigError(f"no Dagster webserver: pass --url or set HEAL_DAGSTER_URL, or start `heal dev` "
                      f"(none is running in {home})")


# ---------------------------------------------------------------------------------------------
# the launch (GraphQL of the running webserver)
# ---------------------------------------------------------------------------------------------

def _client(url: str):
    from urllib.parse import urlparse

    from dagster_graphql import DagsterGraphQLClient

    u = urlparse(url)
    if not u.hostname:
        raise ConfigError(f"--url {url!r} is not a URL (example: http://127.0.0.1:3000)")
    try:
        return DagsterGraphQLClient(u.hostname, port_number=u.port, use_https=u.scheme == "https",
                                    path_prefix=u.path.rstrip("/"), timeout=60)
    except Exception as exc:  # noqa: BLE001 - connection refused, not a Dagster server, …
        raise HealError(f"cannot reach the Dagster webserver at {url}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def launch(url: str, partition: str, fingerprints: list[str], *, trigger: str = "heal approve") -> str:
    """Submit ``heal_apply`` for ``partition`` approving ``fingerprints``; returns the run id."""
    from dagster_graphql import DagsterGraphQLClientError

    client = _client(url)
    run_config = {"ops": {"applied_fixes": {"config": {"approve": list(fingerprints)}}}}
    tags = {"dagster/partition": partition, "heal/target_db": partition, "heal/trigger": trigger,
            "heal/approved": ",".join(sorted(fingerprints))[:200]}
    try:
        return client.submit_job_execution(JOB, repository_location_name=LOCATION, run_config=run_config,
                                           tags=tags)
    except DagsterGraphQLClientError as exc:
        raise HealError(f"Dagster refused to launch {JOB} for {partition}: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - transport errors
        raise HealError(f"cannot launch {JOB} through {url}: {_first_line(exc)}") from None


def wait_for(url: str, run_id: str, timeout: float) -> str:
    client = _client(url)
    deadline = time.monotonic() + timeout
    status = "QUEUED"
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in TERMINAL:
            return status
        time.sleep(1.0)
    raise HealError(f"run {run_id} not finished after {timeout:.0f}s (status {status}); see {url}/runs/{run_id}")


def run_fixes(store_dsn: str, run_id: str) -> list[dict[str, Any]]:
    from .store import open_store

    with open_store(store_dsn) as store:
        cur = store.execute("SELECT fix_id, fingerprint, issue_type, status, coalesce(error, '') FROM heal.fix_history"
                            " WHERE run_id = %s ORDER BY fix_id", (run_id,))
        return [dict(zip(("fix_id", "fingerprint", "issue_type", "status", "error"), r)) for r in cur.fetchall()]


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------

def cmd_approve(args: argparse.Namespace) -> int:
    if args.scaffold:
        found = load_target_plans(only=args.target)
        if not found:
            raise HealError("no target with a heal store to read plans from")
        print("\n".join(scaffold_yaml(tp.name, tp.plans) for tp in found), end="")
        return 0
    fingerprints = list(dict.fromkeys(f.strip() for f in args.fingerprints if f.strip()))
    if not fingerprints:
        raise HealError("name the fingerprint(s) to approve (see fix_plan's metadata or `heal approve --scaffold`)")
    tp, plans = partition_of(fingerprints, load_target_plans(only=args.target))
    url = webserver_url(args.url)
    run_id = launch(url, tp.name, fingerprints)
    print(f"heal: launched {JOB} for {tp.name} approving {', '.join(fingerprints)}: run {run_id}")
    print(f"heal:   {url}/runs/{run_id}")
    if not args.wait:
        return 0
    status = wait_for(url, run_id, args.timeout)
    rows = run_fixes(tp.store_dsn, run_id)
    for r in rows:
        extra = f" — roll back with `heal rollback {r['fix_id']}`" if r["status"] == "verified" else ""
        reason = f": {_comment(r['error'], 160)}" if r["error"] and r["status"] != "verified" else ""
        print(f"heal:   fix {r['fix_id']} {r['fingerprint']} ({r['issue_type']}): {r['status']}{reason}{extra}")
    missing = [f for f in fingerprints if f not in {r["fingerprint"] for r in rows}]
    for f in missing:
        print(f"heal:   {f}: not applied by this run (see the run's log)")
    print(f"heal: run {run_id} {status.lower()}")
    ok = status == "SUCCESS" and not missing and all(r["status"] == "verified" for r in rows
                                                     if r["fingerprint"] in fingerprints)
    return 0 if ok else 1


def register_cli(subparsers) -> None:
    ap = subparsers.add_parser("approve", help="approve fixes by fingerprint: launches heal_apply through Dagster")
    ap.add_argument("fingerprints", nargs="*", metavar="FINGERPRINT", help="e.g. fk_without_index:1a2b3c4d5e6f")
    ap.add_argument("--target", help="target (partition) name; default: the one whose plans hold the fingerprints")
    ap.add_argument("--url", help="Dagster webserver (default HEAL_DAGSTER_URL, else the running heal dev's UI)")
    ap.add_argument("--wait", action="store_true", help="follow the run and print each fix's status")
    ap.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    ap.add_argument("--scaffold", action="store_true",
                    help="print the launchpad config with every open fixable fingerprint as a comment")
    ap.set_defaults(func=cmd_approve)


__all__ = ["scaffold_yaml", "launch", "partition_of", "load_target_plans", "webserver_url", "register_cli"]

