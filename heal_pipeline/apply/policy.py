"""Fix policy: what heal may apply, where, how often. Dry-run by default.

A TOML (``tomllib``) or JSON file, named by ``HEAL_POLICY``::

    dry_run = false                       # default true: nothing is applied
    auto_apply_tiers = ["auto"]           # default []: scheduled runs apply nothing
    protected_tables = ["billing.*", "public.users"]   # globs over schema.table: never touched
    max_rows_to_rewrite = 100000          # plans that rewrite/move more rows are skipped
    cooldown = "1h"                       # per fingerprint, after an attempt
    max_attempts = 3                      # then the fingerprint is quarantined (loop prevention)
    disabled_issue_types = ["unused_table"]
    lock_timeout = "2s"                   # every fix statement
    statement_timeout = "5m"
    long_statement_timeout = "1h"         # index builds, validation, backfill batches
    lock_retries = 3                      # on lock timeout (55P03), with exponential backoff
    retry_backoff = "1s"
    fix_lock_wait = "30s"                 # wait for another heal run's fix lock, then skip
    auto_after_approvals = 3              # trust ramp: N verified approved fixes of a type before its
                                          # tier auto is honoured (default 0: honoured at once)
    watch_window = "15m"                  # workload watch after an index/type change (issue 15)
    watch_min_calls = 20                  # calls per statement after the change before it is judged
    regression_mean_pct = 20              # a statement above the floor got this much slower → revert
    regression_total_pct = 10             # or the affected set's total time (per call) grew this much
    regression_floor_ms = 1.0             # statements faster than this (mean) are never judged
    hold = "7d"                           # after a regression revert: the fingerprint is not fixed again

    [thresholds]
    small_table_rows = 100000             # type change in one transaction at or below
    batch_size = 5000
    batch_pause = "10ms"                  # a bare number is seconds; units: ms s m h d w
    backup_max_rows = 5000000

    [auto_after_approvals_by_type]        # per-type trust ramp (overrides auto_after_approvals)
    stale_statistics = 0

    [tables."app.orders"]                 # per-table switches (globs), first match wins
    enabled = false
    [tables."analytics.*"]
    issue_types = ["fk_without_index", "invalid_index"]   # only these fixes there

Approval: tier ``approval`` is applied only when the caller passes ``approve=True`` (a human approved
that fix, e.g. from the Dagster launchpad); an explicit approval also overrides ``dry_run``.
Tier ``manual`` is never applied. Every other rule applies to approved fixes too.

A bad file raises :class:`~heal_pipeline.errors.ConfigError` with one line naming the file and key.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import TIERS, FixPlan

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(frozen=True)
class TableRule:
    pattern: str
    enabled: bool = True
    issue_types: tuple[str, ...] | None = None  # None: every type

    def allows(self, issue_type: str) -> bool:
        return self.enabled and (self.issue_types is None or issue_type in self.issue_types)


@dataclass(frozen=True)
class Policy:
    dry_run: bool = True
    auto_apply_tiers: tuple[str, ...] = ()
    protected_tables: tuple[str, ...] = ()
    tables: tuple[TableRule, ...] = ()
    disabled_issue_types: tuple[str, ...] = ()
    max_rows_to_rewrite: int | None = 1_000_000
    cooldown_s: float = 3600.0
    max_attempts: int = 3
    lock_timeout_s: float = 2.0
    statement_timeout_s: float = 300.0
    long_timeout_s: float = 3600.0
    lock_retries: int = 3
    retry_backoff_s: float = 1.0
    fix_lock_wait_s: float = 30.0
    small_table_rows: int | None = None
    batch_size: int | None = None
    batch_pause_s: float | None = None
    backup_max_rows: int | None = None
    # --- issue 15: trust ramp and workload watch (add-only) ---
    auto_after_approvals: int = 0
    auto_after_approvals_by_type: tuple[tuple[str, int], ...] = ()  # [auto_after_approvals_by_type] table
    watch_window_s: float = 900.0
    watch_min_calls: int = 20
    regression_mean_pct: float = 20.0
    regression_total_pct: float = 10.0
    regression_floor_ms: float = 1.0
    hold_s: float = 7 * 86400.0
    source: str = "defaults"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # ---- decisions ------------------------------------------------------------------
    def table_rule(self, table: str) -> TableRule | None:
        for r in self.tables:
            if fnmatch.fnmatchcase(table, r.pattern):
                return r
        return None

    def is_protected(self, table: str) -> bool:
        return any(fnmatch.fnmatchcase(table, g) for g in self.protected_tables)

    def gate(self, plan: FixPlan, *, approve: bool = False) -> str | None:
        """Why this plan may not be applied now (None: allowed). History checks are separate."""
        if plan.blocked:
            return f"blocked: {plan.blocked}"
        if plan.tier == "manual":
            return "tier manual: never applied automatically (see the plan's notes)"
        if plan.tier == "approval" and not approve:
            return "tier approval: waiting for approval"
        if plan.tier == "auto" and not approve and "auto" not in self.auto_apply_tiers:
            return "tier auto is not in the policy's auto_apply_tiers"
        if self.dry_run and not approve:
            return "dry run (policy dry_run = true)"
        if plan.issue_type in self.disabled_issue_types:
            return f"fixes of {plan.issue_type} are disabled by policy"
        for t in plan.tables:
            if self.is_protected(t):
                return f"{t} is a protected table"
            rule = self.table_rule(t)
            if rule is not None and not rule.allows(plan.issue_type):
                return f"policy switch for {rule.pattern} does not allow {plan.issue_type} fixes"
        if (self.max_rows_to_rewrite is not None and plan.rows_rewritten is not None
                and plan.rows_rewritten > self.max_rows_to_rewrite):
            return (f"would rewrite {plan.rows_rewritten} rows, more than max_rows_to_rewrite "
                    f"{self.max_rows_to_rewrite}")
        return None


def approvals_needed(policy: "Policy", issue_type: str) -> int:
    """Verified approved fixes of ``issue_type`` needed before its tier ``auto`` is honoured."""
    return dict(policy.auto_after_approvals_by_type).get(issue_type, policy.auto_after_approvals)


def trust_ramp_reason(policy: "Policy", plan: FixPlan, verified_approvals: int) -> str | None:
    """Why an ``auto`` plan may not run unapproved yet (None: the ramp is passed or not configured)."""
    need = approvals_needed(policy, plan.issue_type)
    if plan.tier == "auto" and verified_approvals < need:
        return (f"trust ramp: {verified_approvals} of {need} verified approved {plan.issue_type} fixes so far "
                "(policy auto_after_approvals)")
    return None


def parse_seconds(value: Any, *, name: str, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"policy {source}: {name} must be a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(f"policy {source}: {name} must not be negative")
        return float(value)
    m = _DUR.match(str(value))
    if not m:
        raise ConfigError(f"policy {source}: {name}={value!r} is not a duration (examples: 500ms, 2s, 5m, 1h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _int(value: Any, *, name: str, source: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"policy {source}: {name} must be a non-negative integer, got {value!r}")
    return value


def _strs(value: Any, *, name: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"policy {source}: {name} must be a list of strings")
    return tuple(value)


_DURATIONS = {"cooldown": "cooldown_s", "lock_timeout": "lock_timeout_s", "statement_timeout": "statement_timeout_s",
              "long_statement_timeout": "long_timeout_s", "retry_backoff": "retry_backoff_s",
              "fix_lock_wait": "fix_lock_wait_s"}
_THRESHOLDS = {"small_table_rows", "batch_size", "batch_pause", "backup_max_rows"}


def policy_from_dict(data: dict[str, Any], source: str = "<dict>") -> Policy:
    if not isinstance(data, dict):
        raise ConfigError(f"policy {source}: the top level must be a table/object")
    kw: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key == "dry_run":
            if not isinstance(value, bool):
                raise ConfigError(f"policy {source}: dry_run must be true or false")
            kw["dry_run"] = value
        elif key == "auto_apply_tiers":
            tiers = _strs(value, name=key, source=source)
            bad = [t for t in tiers if t not in TIERS or t == "manual"]
            if bad:
                raise ConfigError(f"policy {source}: auto_apply_tiers has {bad}; allowed: auto, approval")
            kw["auto_apply_tiers"] = tiers
        elif key in ("protected_tables", "disabled_issue_types"):
            kw[key] = _strs(value, name=key, source=source)
        elif key == "max_rows_to_rewrite":
            kw[key] = _int(value, name=key, source=source, allow_none=True)
        elif key in ("max_attempts", "lock_retries"):
            n = _int(value, name=key, source=source)
            if key == "max_attempts" and n == 0:
                raise ConfigError(f"policy {source}: max_attempts must be at least 1")
            kw[key] = n
        elif key in _DURATIONS:
            kw[_DURATIONS[key]] = parse_seconds(value, name=key, source=source)
        elif key == "thresholds":
            if not isinstance(value, dict):
                raise ConfigError(f"policy {source}: [thresholds] must be a table")
            for tk, tv in value.items():
                if tk not in _THRESHOLDS:
                    raise ConfigError(f"policy {source}: unknown key thresholds.{tk} "
                                      f"(known: {', '.join(sorted(_THRESHOLDS))})")
                if tk == "batch_pause":
                    kw["batch_pause_s"] = parse_seconds(tv, name=f"thresholds.{tk}", source=source)
                else:
                    n = _int(tv, name=f"thresholds.{tk}", source=source)
                    if tk == "batch_size" and n == 0:
                        raise ConfigError(f"policy {source}: thresholds.batch_size must be at least 1")
                    kw[tk] = n
        elif key in ("auto_after_approvals", "watch_min_calls"):
            kw[key] = _int(value, name=key, source=source)
        elif key == "auto_after_approvals_by_type":
            if not isinstance(value, dict):
                raise ConfigError(f"policy {source}: [auto_after_approvals_by_type] must be a table of issue_type = N")
            kw[key] = tuple(sorted((str(k), _int(v, name=f"{key}.{k}", source=source)) for k, v in value.items()))
        elif key in ("regression_mean_pct", "regression_total_pct", "regression_floor_ms"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"policy {source}: {key} must be a non-negative number, got {value!r}")
            kw[key] = float(value)
        elif key in ("watch_window", "hold"):
            kw[f"{key}_s"] = parse_seconds(value, name=key, source=source)
        elif key == "tables":
            if not isinstance(value, dict):
                raise ConfigError(f"policy {source}: [tables] must be a table of \"schema.table\" globs")
            rules = []
            for pattern, spec in value.items():
                if not isinstance(spec, dict):
                    raise ConfigError(f"policy {source}: tables.{pattern!r} must be a table")
                unknown = set(spec) - {"enabled", "issue_types"}
                if unknown:
                    raise ConfigError(f"policy {source}: unknown key tables.{pattern!r}.{sorted(unknown)[0]} "
                                      "(known: enabled, issue_types)")
                enabled = spec.get("enabled", True)
                if not isinstance(enabled, bool):
                    raise ConfigError(f"policy {source}: tables.{pattern!r}.enabled must be true or false")
                types = spec.get("issue_types")
                rules.append(TableRule(pattern, enabled,
                                       None if types is None else _strs(types, name=f"tables.{pattern!r}.issue_types",
                                                                        source=source)))
            kw["tables"] = tuple(rules)
        else:
            known = sorted({"dry_run", "auto_apply_tiers", "protected_tables", "disabled_issue_types",
                            "max_rows_to_rewrite", "max_attempts", "lock_retries", "thresholds", "tables",
                            "auto_after_approvals", "auto_after_approvals_by_type", "watch_window",
                            "watch_min_calls", "regression_mean_pct", "regression_total_pct",
                            "regression_floor_ms", "hold", *_DURATIONS})
            raise ConfigError(f"policy {source}: unknown key {key!r} (known: {', '.join(known)})")
    return Policy(**kw)


def load_policy(path: str | os.PathLike | None = None, *, env: dict[str, str] | None = None) -> Policy:
    """The policy from ``path`` (or ``HEAL_POLICY``); defaults (dry run) when neither is set."""
    if path is None:
        path = (os.environ if env is None else env).get("HEAL_POLICY") or None
    if path is None:
        return Policy()
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"policy file {p} does not exist (HEAL_POLICY)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"policy file {p} is not UTF-8 text (expected TOML or JSON; HEAL_POLICY)") from None
    except OSError as exc:
        raise ConfigError(f"policy file {p} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"policy file {p} is not UTF-8 text (a binary file?): expected TOML or JSON") from None
    if "\x00" in text:
        raise ConfigError(f"policy file {p} is not text (NUL bytes): expected TOML or JSON")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"policy {p}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy {p}: invalid TOML: {str(exc).splitlines()[0]}") from None
    return policy_from_dict(data, str(p))
