"""The ``heal`` command.

    heal dev [--port 3000] [--reset-demo]   embedded PostgreSQL + demo estate + Dagster UI
    heal stop                               stop what `heal dev` left running in $HEAL_HOME
    heal snapshot [--json]                  snapshot the target and print the counts
    heal approve FINGERPRINT… [--wait]      launch heal_apply for the plan's partition (heal_pipeline.approve)

Target of every command that reads one: ``--dsn``, else ``HEAL_DATABASE_URL``, else the demo database
of the ``heal dev`` running in ``$HEAL_HOME``; stderr says which (heal_pipeline.devtarget).
    heal demo build [--dsn ADMIN_DSN]       (re)build the demo estate

Every user error is one line on stderr (``heal: error: …``) and exit status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .errors import HealError

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _home() -> Path:
    return Path(os.environ.get("HEAL_HOME") or ".heal")


def cmd_dev(args: argparse.Namespace) -> int:
    from .dev import run

    port = args.port or int(os.environ.get("HEAL_PORT", "3000"))
    return run(_home(), port=port, reset_demo=args.reset_demo, open_ui=not args.no_ui,
               initial_scan=not args.no_scan)


def cmd_stop(args: argparse.Namespace) -> int:  # noqa: ARG001
    from .dev import stop

    print("heal: stopped" if stop(_home()) else "heal: nothing was running")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from .devtarget import resolve
    from .introspect import take_snapshot
    from .targets import default_target_name

    target = resolve(args.dsn)  # --dsn, HEAL_DATABASE_URL, else the running heal dev demo
    dsn = target.dsn
    if dsn.startswith("sqlite:"):
        from .sqlite.target import sqlite_path
        from .sqlite.snapshot import take_sqlite_snapshot

        snap = take_sqlite_snapshot(sqlite_path(dsn, name="--dsn"), target_db=default_target_name(dsn))
    else:
        snap = take_snapshot(dsn, target_db=default_target_name(dsn))
    target.announce()  # on stderr, once it worked (an error stays one line)
    out = {"target_db": snap.target_db, "server_version": snap.server_version,
           "content_hash": snap.content_hash(), "counts": snap.counts(),
           "pg_stat_statements": snap.pg_stat_statements, "unavailable": snap.unavailable}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        engine = "" if snap.engine == "sqlite" else "PostgreSQL "
        print(f"{snap.target_db}: {engine}{snap.server_version}, hash {out['content_hash'][:12]}")
        for k, v in out["counts"].items():
            print(f"  {k:<14}{v:>8}")
        for k, v in snap.unavailable.items():
            print(f"  not checked: {k}: {v}")
    return 0


def cmd_demo_build(args: argparse.Namespace) -> int:
    if getattr(args, "sqlite", None):  # a SQLite slice of the estate (heal_pipeline.sqlite.demo)
        from .sqlite.demo import build_sqlite_demo

        print(json.dumps(build_sqlite_demo(args.sqlite, replace=args.replace)))
        return 0
    from .demo.estate import build_estate

    admin = args.dsn
    if not admin:
        from .embedded import EmbeddedServer

        server = EmbeddedServer(_home().absolute() / "pg" / "data")
        admin = server.start().dsn("postgres")
    summary = build_estate(admin, args.name, replace=args.replace)
    print(json.dumps({k: v for k, v in summary.items() if k != "dsn"}, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heal", description="Keep a PostgreSQL database and its code consistent.")
    sub = p.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the demo (or HEAL_DATABASE_URL) with the Dagster UI")
    dev.add_argument("--port", type=int, default=None, help="UI port on 127.0.0.1 (default 3000 or HEAL_PORT)")
    dev.add_argument("--reset-demo", action="store_true", help="rebuild the demo estate from scratch")
    dev.add_argument("--no-ui", action="store_true", help="prepare and scan, then exit")
    dev.add_argument("--no-scan", action="store_true", help="skip the initial scan")
    dev.set_defaults(func=cmd_dev)

    stop = sub.add_parser("stop", help="stop what `heal dev` left running")
    stop.set_defaults(func=cmd_stop)

    snap = sub.add_parser("snapshot", help="snapshot the target database and print counts")
    snap.add_argument("--dsn", help="target DSN (default HEAL_DATABASE_URL, else the running heal dev demo)")
    snap.add_argument("--json", action="store_true")
    snap.set_defaults(func=cmd_snapshot)

    demo = sub.add_parser("demo", help="demo estate commands")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    build = demo_sub.add_parser("build", help="(re)build the demo estate")
    build.add_argument("--dsn", help="superuser DSN of the server (default: the heal dev server)")
    build.add_argument("--name", default="heal_demo")
    build.add_argument("--replace", action="store_true",
                       help="rebuild an existing demo database (only one heal created as a demo)")
    build.add_argument("--sqlite", metavar="PATH", help="write a SQLite demo file (with app/ and migrations/) instead")
    build.set_defaults(func=cmd_demo_build)

    for register in _extensions():
        register(sub)
    return p


def _extensions():
    """Subcommands contributed by other modules (check, demo-traffic, rollback…)."""
    import importlib
    import importlib.util

    out = []
    for mod in ("heal_pipeline.check", "heal_pipeline.traffic", "heal_pipeline.apply.cli", "heal_pipeline.sqlite.cli",
                "heal_pipeline.approve"):
        if importlib.util.find_spec(mod) is None:  # not built yet; a broken module still fails loudly
            continue
        m = importlib.import_module(mod)
        if hasattr(m, "register_cli"):
            out.append(m.register_cli)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HealError as exc:
        print(f"heal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
