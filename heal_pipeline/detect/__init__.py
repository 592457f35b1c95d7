"""Detection: one check per issue type, in a registry (plain Python, no Dagster).

Adding an issue type: a module here with a registered :class:`Check` (its docstring is its doc), a
line in ``RULES`` below, a case in ``heal_pipeline_tests/detect/cases/``, and — if fixable — a
planner in ``heal_pipeline/plan/``.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field

from ..model import Issue
from . import (  # noqa: F401  (explicit imports register the checks)
    pg001_fk_without_index,
    pg002_duplicate_index,
    pg003_invalid_index,
    pg004_unused_index,
    pg005_no_primary_key,
    pg006_unused_table,
    pg007_slow_query,
    pg008_type_mismatch,
    pg009_orphaned_rows,
    pg010_missing_table,
    pg011_broken_statement,
    pg012_schema_drift,
    py001_cast_workaround,
    py002_code_findings,
    pg020_stale_statistics,
    pg021_table_bloat,
    pg022_sequence_exhaustion,
    pg023_xid_wraparound,
    pg024_unvalidated_constraint,
)
from .base import REGISTRY, Check, DetectContext, Thresholds

# evaluation order (report order; checks that read another type's results call issues_of, which is
# memoised per context, so the order is never load-bearing)
RULES: tuple[str, ...] = (
    "type_mismatch",
    "cast_workaround",
    "fk_without_index",
    "orphaned_rows",
    "missing_table",
    "missing_column",
    "unused_table",
    "duplicate_index",
    "unused_index",
    "invalid_index",
    "no_primary_key",
    "slow_query",
    "unsafe_sql",
    "query_in_loop",
    "unparsed_sql",
    "stale_statistics",
    "table_bloat",
    "sequence_exhaustion",
    "xid_wraparound",
    "unvalidated_constraint",
    # after missing_table / missing_column / type_mismatch: it adds the server's verdict to them
    "broken_statement",
)

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Suppression:
    """Silence an issue by exact fingerprint, or by a glob over ``issue_type:schema.table.column/object``."""

    reason: str
    fingerprint: str | None = None
    pattern: str | None = None

    def matches(self, issue: Issue) -> bool:
        if self.fingerprint:
            return issue.fingerprint == self.fingerprint
        if self.pattern:
            return fnmatch.fnmatchcase(object_label(issue), self.pattern)
        return False


def object_label(issue: Issue) -> str:
    """`type:schema.table.column/object` or `type:file:line` — what patterns and humans read."""
    if issue.file:
        return f"{issue.issue_type}:{issue.file}:{issue.line}"
    path = ".".join(p for p in (issue.schema_name, issue.table_name, issue.column_name) if p)
    obj = f"/{issue.object_name}" if issue.object_name and issue.issue_type != "slow_query" else ""
    return f"{issue.issue_type}:{path}{obj}" if path or obj else f"{issue.issue_type}:{(issue.object_name or '')[:80]}"


def issues_of(ctx: DetectContext, issue_type: str) -> list[Issue]:
    """The issues of one type for this context (computed once, shared between checks)."""
    check = REGISTRY[issue_type]()
    return ctx.memo(f"issues:{issue_type}", lambda: list(check.detect(ctx)))  # type: ignore[return-value]


@dataclass
class DetectionResult:
    issues: list[Issue]
    suppressed: list[tuple[Issue, Suppression]] = field(default_factory=list)
    unchecked: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # scans heal's own data reads caused on target tables ({(schema, table): [seq, idx]}, issue 12.1)
    own_reads: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {t: 0 for t in RULES}
        for i in self.issues:
            out[i.issue_type] = out.get(i.issue_type, 0) + 1
        return out


def run_detection(ctx: DetectContext, suppressions: list[Suppression] | tuple = (),
                  only: set[str] | None = None) -> DetectionResult:
    issues: list[Issue] = []
    seconds: dict[str, float] = {}
    for issue_type in RULES:
        if only is not None and issue_type not in only:
            continue
        t0 = time.perf_counter()
        issues.extend(issues_of(ctx, issue_type))
        seconds[issue_type] = round(time.perf_counter() - t0, 4)
    kept: list[Issue] = []
    suppressed: list[tuple[Issue, Suppression]] = []
    seen: set[str] = set()
    for i in issues:
        if i.fingerprint in seen:
            continue
        seen.add(i.fingerprint)
        s = next((s for s in suppressions if s.matches(i)), None)
        if s is not None:
            suppressed.append((i, s))
        else:
            kept.append(i)
    kept.sort(key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.issue_type, object_label(i)))
    return DetectionResult(kept, suppressed, list(ctx.unchecked), seconds, dict(ctx.own_reads))


__all__ = ["REGISTRY", "RULES", "Check", "DetectContext", "Thresholds", "Suppression",
           "DetectionResult", "run_detection", "issues_of", "object_label"]
