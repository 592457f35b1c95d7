"""``heal check``: the scan in process, for CI. Reads the target, writes nothing anywhere.

    heal check [--json] [--fail-on critical|warning|info] [--baseline FILE] [--write-baseline FILE]

Exit status: 0 when no issue at or above ``--fail-on`` is outside the baseline, 1 when some are,
2 on an error (one line on stderr). A baseline lets a team adopt heal on a legacy database: record
today's issues once (``--write-baseline``), then fail only on new ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import Settings, describe_dsn
from .detect import SEVERITY_ORDER, object_label
from .errors import ConfigError, HealError
from .scan import scan_target
from .targets import targets_from_settings

BASELINE_VERSION = 1


def load_baseline(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"baseline file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"baseline file {path} is not valid JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("issues"), list):
        raise ConfigError(f"baseline file {path} has no 'issues' list (write one with --write-baseline)")
    out = set()
    for item in data["issues"]:
        fp = item.get("fingerprint") if isinstance(item, dict) else item
        if not isinstance(fp, str):
            raise ConfigError(f"baseline file {path}: every issue needs a 'fingerprint' string")
        out.add(fp)
    return out


def write_baseline(path: Path, issues) -> None:
    data = {"version": BASELINE_VERSION, "tool": "heal",
            "issues": [{"fingerprint": i.fingerprint, "issue_type": i.issue_type,
                        "object": object_label(i), "severity": i.severity} for i in issues]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [min(max(len(str(r[i])) for r in rows + [header]), 70) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    for r in rows:
        out.append(fmt.format(*(str(c)[:70] for c in r)))
    return "\n".join(out)


def _statement_coverage(outcome) -> dict | None:
    if outcome.statement_checks is None:
        return None
    from .verify import coverage  # noqa: PLC0415

    return coverage(outcome.statement_checks)


def code_language(file: str | None) -> str | None:
    """The language of a code-side issue's file (python, javascript, typescript), None for others."""
    if not file:
        return None
    if file.endswith(".py"):
        return "python"
    from .codescan.javascript import language_of  # noqa: PLC0415

    return language_of(file)


def run_check(args: argparse.Namespace) -> int:
    import os

    from .devtarget import running_demo

    env = dict(os.environ)
    source = "HEAL_FLEET" if env.get("HEAL_FLEET") else "HEAL_DATABASE_URL"
    if args.dsn:  # an explicit DSN is the one target, whatever a fleet file says
        env["HEAL_DATABASE_URL"] = args.dsn
        env.pop("HEAL_FLEET", None)
        source = "--dsn"
    elif not env.get("HEAL_DATABASE_URL") and not env.get("HEAL_FLEET"):
        demo = running_demo(env)  # nothing configured: the demo of a running `heal dev`
        if demo is not None:
            env["HEAL_DATABASE_URL"] = demo.dsn
            for k, v in demo.env.items():
                env.setdefault(k, v)
            source = demo.source
    settings = Settings.from_env(env)
    if args.source_dir:
        settings.source_dirs = [Path(p) for p in args.source_dir]
    targets = targets_from_settings(settings)
    if not targets:
        raise ConfigError("no target database: set HEAL_DATABASE_URL, pass --dsn, or start `heal dev`")
    if len(targets) > 1:
        raise ConfigError(f"heal check scans one target and {len(targets)} are configured "
                          f"({', '.join(sorted(targets))}): pass --dsn")
    (target,) = targets.values()
    if args.write_baseline:
        out = Path(args.write_baseline)
        if not out.parent.is_dir() or not os.access(out.parent, os.W_OK) or (
                out.exists() and not os.access(out, os.W_OK)):
            raise ConfigError(f"cannot write the baseline file {out}")
    failed = []
    durations = None
    log_truncated = False
    unrecognised, samples = 0, []
    if settings.query_log is not None and not target.dsn.startswith("sqlite:"):  # SQLite: the app log
        from .logs import merge_durations, merge_failed, read_new
        from .config import database_name

        cursor, batches, slow = None, [], []
        more = False
        for _ in range(16):
            res = read_new(settings.query_log, cursor, database=database_name(target.dsn), keys=target.log_keys)
            batches.append(res.failed)
            slow.append(res.slow)
            unrecognised += res.unrecognised
            samples += res.unrecognised_samples[:3 - len(samples)]
            cursor = res.cursor
            more = res.more
            if not more:
                break
        failed = merge_failed(*batches)
        durations = merge_durations(*slow)
        log_truncated = more
    baseline = load_baseline(Path(args.baseline)) if args.baseline else set()
    outcome = scan_target(target, failed=failed, durations=durations)
    print(f"heal: database {describe_dsn(target.dsn)} ({source})", file=sys.stderr)  # after: errors stay one line
    issues = outcome.result.issues
    if log_truncated:
        outcome.result.unchecked.append({"check": "failed_queries",
                                         "reason": "the query log has more than 1 GiB unread; only the first part was read"})
    if unrecognised:  # never silently skipped: a wrong HEAL_QUERY_LOG_KEYS mapping shows here
        outcome.result.unchecked.append({"check": "failed_queries", "reason": (
            f"{unrecognised} line(s) of the query log were not recognised (no SQLSTATE, no known format; "
            f"HEAL_QUERY_LOG_KEYS maps an application log's keys), e.g. line "
            + "; line ".join(f"{s['line']}: {s['reason']}" for s in samples))})
    if args.write_baseline:
        try:
            write_baseline(Path(args.write_baseline), issues)
        except OSError as exc:
            raise ConfigError(f"cannot write the baseline file {args.write_baseline}: {exc.strerror}") from None
    limit = SEVERITY_ORDER[args.fail_on]
    failing = [i for i in issues if SEVERITY_ORDER[i.severity] <= limit and i.fingerprint not in baseline]
    if args.json:
        print(json.dumps({
            "target_db": target.name,
            "fail_on": args.fail_on,
            "failing": len(failing),
            "issues": [{"fingerprint": i.fingerprint, "issue_type": i.issue_type, "severity": i.severity,
                        "object": object_label(i), "schema_name": i.schema_name, "table_name": i.table_name,
                        "column_name": i.column_name, "object_name": i.object_name, "file": i.file,
                        "line": i.line, "language": code_language(i.file), "detail": i.detail, "evidence": i.evidence,
                        "in_baseline": i.fingerprint in baseline} for i in issues],
            "not_checked": outcome.result.unchecked,
            "statements": _statement_coverage(outcome),
        }, indent=2, default=str))
    else:
        rows = [[i.severity, i.issue_type, object_label(i).split(":", 1)[1] + (
                     f" ({code_language(i.file)})" if code_language(i.file) not in (None, "python") else ""),
                 "baseline" if i.fingerprint in baseline else "NEW", i.detail] for i in issues]
        if rows:
            print(_table(rows, ["severity", "type", "object", "status", "detail"]))
        for u in outcome.result.unchecked:
            print(f"not checked: {u['check']}: {u['reason']}")
        if outcome.statement_checks is not None:
            from .verify import coverage, coverage_line  # noqa: PLC0415

            print(coverage_line(coverage(outcome.statement_checks)))
        if not args.write_baseline:
            print(f"\nheal check: {len(issues)} issue(s) on {target.name}; {len(failing)} at or above "
                  f"'{args.fail_on}' outside the baseline → {'FAIL' if failing else 'ok'}")
    if args.write_baseline:  # recording the baseline is the point of this run: it succeeds
        gap = "" if args.json else "\n"
        print(f"{gap}heal check: wrote {len(issues)} issue(s) on {target.name} to "
              f"{args.write_baseline} as the baseline; check against it with --baseline {args.write_baseline}",
              file=sys.stderr if args.json else sys.stdout)
        return 0
    return 1 if failing else 0


def register_cli(sub) -> None:
    p = sub.add_parser("check", help="scan the target in process and fail on issues (for CI)")
    p.add_argument("--dsn", help="target DSN (default HEAL_DATABASE_URL, else the running heal dev demo)")
    p.add_argument("--source-dir", action="append", help="source root (repeatable; default HEAL_SOURCE_DIRS)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fail-on", choices=["critical", "warning", "info"], default="critical",
                   help="lowest severity that fails the check (default critical)")
    p.add_argument("--baseline", help="JSON file of accepted fingerprints (from --write-baseline)")
    p.add_argument("--write-baseline", help="write the current issues as a baseline file (exit 0)")
    p.set_defaults(func=run_check)


__all__ = ["register_cli", "run_check", "load_baseline", "write_baseline", "HealError", "sys"]
