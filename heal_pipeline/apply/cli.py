"""``heal rollback <fix_id>`` (and ``heal fixes``): registered by ``heal_pipeline.cli`` when present.

Target from ``--dsn``, ``HEAL_DATABASE_URL``, else the running ``heal dev`` demo (heal_pipeline.devtarget), store from ``HEAL_STORE_URL`` (default: the target).
"""

from __future__ import annotations

import argparse
import json


def _dsns(args: argparse.Namespace):
    from ..config import Settings

    from ..devtarget import resolve

    settings = Settings.from_env()
    resolved = resolve(args.dsn)  # --dsn, HEAL_DATABASE_URL, else the running heal dev demo
    target = resolved.dsn
    store = args.store_dsn or settings.store_url or target
    return target, store, resolved.announce


def cmd_rollback(args: argparse.Namespace) -> int:
    from ..config import Settings, is_sqlite_url
    from .executor import rollback_fix
    from .policy import load_policy

    if is_sqlite_url(args.dsn or Settings.from_env().database_url):
        from ..sqlite.cli import cmd_rollback as sqlite_rollback  # same rule: rows the app wrote are kept

        return sqlite_rollback(args)
    target, store, announce = _dsns(args)
    res = rollback_fix(args.fix_id, target, store, policy=load_policy(), lock_wait_s=args.wait)
    announce()
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=str))
    else:
        line = f"heal: fix {args.fix_id}: {res.status}"
        if res.fix_id:
            line += f" (recorded as fix {res.fix_id})"
        if res.reason:
            line += f": {res.reason}"
        if res.schema_restored is not None:
            line += f"; schema restored: {'yes' if res.schema_restored else 'NO'}"
        print(line)
    if res.conflicts:
        for desc, c in res.conflicts.items():
            print(f"heal:   kept {c['count']} row(s) the application changed after the fix ({desc}): "
                  f"keys {', '.join(c['keys'][:20])}{' …' if c['count'] > 20 else ''}")
    return 0 if res.status in ("rolled_back", "rolled_back_with_conflicts") else 1


def cmd_fixes(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..targets import default_target_name
    from .history import recent

    target, store, announce = _dsns(args)
    conn = open_store(store)
    try:
        rows = recent(conn, default_target_name(target), args.limit)
    finally:
        conn.close()
    announce()
    if not rows:
        print("heal: no fixes recorded for this target")
        return 0
    from ..present import fixes_table  # a header, timestamps, each fact once

    print("\n".join(fixes_table(rows)))
    return 0


def register_cli(subparsers) -> None:
    rb = subparsers.add_parser("rollback", help="roll back a fix heal applied (by fix id)")
    rb.add_argument("fix_id", type=int, help="heal.fix_history.fix_id")
    rb.add_argument("--dsn", help="target DSN (default HEAL_DATABASE_URL, else the running heal dev demo)")
    rb.add_argument("--store-dsn", help="heal store DSN (default HEAL_STORE_URL, else the target)")
    rb.add_argument("--wait", type=float, default=None, help="seconds to wait for the fix lock")
    rb.add_argument("--json", action="store_true")
    rb.set_defaults(func=cmd_rollback)

    fx = subparsers.add_parser("fixes", help="list recent fixes from heal.fix_history")
    fx.add_argument("--dsn", help="target DSN (default HEAL_DATABASE_URL, else the running heal dev demo)")
    fx.add_argument("--store-dsn", help="heal store DSN (default HEAL_STORE_URL, else the target)")
    fx.add_argument("--limit", type=int, default=20)
    fx.set_defaults(func=cmd_fixes)
