"""``heal sqlite fix`` / ``heal sqlite rollback``: fixes on a SQLite target from the command line.

    heal sqlite fix --dsn sqlite:////abs/app.db [--source-dir DIR] [--approve] [--only TYPE] [--json]
    heal sqlite rollback FIX_ID --dsn sqlite:////abs/app.db [--json]

Scans the file like ``heal check``, plans every fixable issue, runs the ``auto`` tier (and the
``approval`` tier with ``--approve``), each after a backup, and records them in ``heal.fix_history``
(store: ``HEAL_STORE_URL``, default the embedded server of ``heal dev``). A rollback rebuilds the
plan from its history row (op + args, never the rendered text).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..errors import ConfigError


def _target(args):
    from ..config import Settings
    from ..targets import targets_from_settings

    env = dict(os.environ)
    if args.dsn:
        env["HEAL_DATABASE_URL"] = args.dsn
        env.pop("HEAL_FLEET", None)
    settings = Settings.from_env(env)
    if getattr(args, "source_dir", None):
        settings.source_dirs = [Path(p) for p in args.source_dir]
    targets = targets_from_settings(settings)
    if len(targets) != 1:
        raise ConfigError("pass --dsn sqlite:////path/to/app.db (one SQLite target)")
    (t,) = targets.values()
    if not t.dsn.startswith("sqlite:"):
        raise ConfigError(f"{t.name} is not a SQLite target (heal sqlite works on sqlite: URLs)")
    return t, settings


def _store(settings):
    from ..store import open_store

    dsn = settings.store_url
    if not dsn:
        from ..embedded import EmbeddedServer

        dsn = EmbeddedServer(settings.home.absolute() / "pg" / "data").start().dsn("postgres")
    return open_store(dsn)


def cmd_fix(args: argparse.Namespace) -> int:
    from ..apply.policy import Policy
    from ..scan import scan_target
    from .pipeline import apply_target, plan_target

    target, settings = _target(args)
    issues = [i for i in scan_target(target).result.issues if not args.only or i.issue_type in args.only]
    plans = plan_target(target, issues)
    # the command line applies the auto tier, and the approval tier with --approve (never manual)
    approved = {p.fingerprint for p in plans if args.approve and p.tier == "approval"}
    store = _store(settings)
    try:
        done = {r["fingerprint"]: r for r in apply_target(
            target, issues, approved, Policy(dry_run=False, auto_apply_tiers=("auto",)), settings.home, store)}
    finally:
        store.close()
    results = [{"summary": p.summary, "tier": p.tier, "notes": p.notes, **done[p.fingerprint]}
               if p.fingerprint in done else {"summary": p.summary, "tier": p.tier, "status": "needs approval"}
               for p in plans]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        for r in results:
            extra = f" fix {r['fix_id']}" if r.get("fix_id") else ""
            lock = f", write lock {r['lock_s']:.3f} s" if r.get("lock_s") is not None else ""
            why = r.get("reason") or r.get("error")
            print(f"{r['status']:<15}{extra} {r['summary']}{lock}{': ' + why if why else ''}")
    return 1 if any(r["status"] == "failed" for r in results) else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .pipeline import rollback_fix_id

    target, settings = _target(args)
    store = _store(settings)
    try:
        out = rollback_fix_id(target, args.fix_id, store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"heal: fix {args.fix_id}: {out['status']}" + (f" ({len(out['conflicts'])} conflict(s): "
              + ", ".join(str(c.get('key', c.get('keys'))) for c in out["conflicts"][:5]) + ")"
              if out["conflicts"] else "") + (f": {out['error']}" if out.get("error") else ""))
    return 0 if out["status"].startswith("rolled_back") else 1


def register_cli(sub) -> None:
    p = sub.add_parser("sqlite", help="fixes on a SQLite target (12-step rebuild, backups, rollback)")
    s = p.add_subparsers(dest="sqlite_command", required=True)
    fix = s.add_parser("fix", help="scan, then run the SQLite fixes (auto tier; approval tier with --approve)")
    fix.add_argument("--dsn", help="sqlite:////abs/path.db (default HEAL_DATABASE_URL)")
    fix.add_argument("--source-dir", action="append")
    fix.add_argument("--approve", action="store_true", help="also run approval-tier fixes")
    fix.add_argument("--only", action="append", help="issue type to fix (repeatable)")
    fix.add_argument("--json", action="store_true")
    fix.set_defaults(func=cmd_fix)
    rb = s.add_parser("rollback", help="roll back a SQLite fix, keeping rows the app wrote since")
    rb.add_argument("fix_id", type=int)
    rb.add_argument("--dsn")
    rb.add_argument("--json", action="store_true")
    rb.set_defaults(func=cmd_rollback)
