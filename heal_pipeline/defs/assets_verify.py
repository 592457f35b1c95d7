"""statement_checks: every scanned statement analyzed by the target server itself (never executed)."""

import os
import time
from collections import Counter

import dagster as dg

from ..db import connect
from ..errors import ConfigError, HealError
from ..store import load_code_scan, open_store
from ..verify import coverage, coverage_line, verify_statements
from .assets import _fail, _table, code_findings
from .constants import GROUP_CODESCAN, OWNERS, target_db_partitions, partitioned_check
from .resources import HealResource

#: share of verifiable statements whose check failed (timeout, connection, permission, lock)
DEFAULT_MAX_UNCHECKED = 0.05


def max_unchecked_share() -> float:
    raw = os.environ.get("HEAL_VERIFY_MAX_UNCHECKED", "").strip()
    if not raw:
        return DEFAULT_MAX_UNCHECKED
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"HEAL_VERIFY_MAX_UNCHECKED must be a share between 0 and 1, got {raw!r}")
    return value


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_CODESCAN,
    kinds={"postgres"},
    owners=OWNERS,
    code_version="1",
    deps=[code_findings],
    description=(
        "Every statement of the code scan prepared on the target (Parse/Describe/Close inside a READ "
        "ONLY transaction that is rolled back; never executed): ok with parameter and result types, "
        "rejected with SQLSTATE and file:line, or not verifiable with a reason (DDL/utility never "
        "sent, identifier holes, objects the code creates at run time, lock, timeout, permission). "
        "Coverage is never silent: the asset check fails when too many verifiable statements could "
        "not be checked (HEAL_VERIFY_MAX_UNCHECKED, default 5 %)."
    ),
    check_specs=[partitioned_check(
        "statements_checked", asset="statement_checks",
        description="Fails when the share of verifiable statements that could not be checked "
                    "(timeout, lost connection, permission, lock) is above HEAL_VERIFY_MAX_UNCHECKED.")],
)
def statement_checks(context: dg.AssetExecutionContext, heal: HealResource):
    target = heal.target(context.partition_key)
    try:
        limit = max_unchecked_share()
        if not target.source_dirs:
            code = None
        else:
            with open_store(target.store_dsn) as store:
                code = load_code_scan(store, target.name)
        if code is None:
            context.log.warning("no code scan: statements not verified (reported as not checked)")
            yield dg.MaterializeResult(metadata={"configured": dg.MetadataValue.bool(False)})
            yield dg.AssetCheckResult(check_name="statements_checked", passed=False,
                                      severity=dg.AssetCheckSeverity.WARN,
                                      metadata={"reason": dg.MetadataValue.text("no code scan")})
            return
        t0 = time.perf_counter()
        with connect(target.dsn, purpose="target database") as conn:
            checks = verify_statements(conn, code.statements)
        seconds = time.perf_counter() - t0
    except HealError as exc:
        raise _fail(exc) from None
    cov = coverage(checks)
    line = coverage_line(cov)
    context.log.info(line)
    rejected = [c for c in checks if c.status == "rejected"]
    states = Counter(c.sqlstate for c in rejected)
    yield dg.MaterializeResult(metadata={
        "summary": dg.MetadataValue.text(line),
        "extracted": dg.MetadataValue.int(cov["extracted"]),
        "ok": dg.MetadataValue.int(cov["ok"]),
        "rejected": dg.MetadataValue.int(cov["rejected"]),
        "not_verifiable": dg.MetadataValue.int(cov["not_verifiable"]),
        **{f"not_verifiable/{k}": dg.MetadataValue.int(v) for k, v in cov["by_reason"].items()},
        **{f"rejected/{k}": dg.MetadataValue.int(v) for k, v in sorted(states.items())},
        "unchecked_share": dg.MetadataValue.float(round(cov["unchecked_share"], 4)),
        "seconds": dg.MetadataValue.float(round(seconds, 4)),
        "rejections": _table([{"file": c.file, "line": c.error_line or c.line, "sqlstate": c.sqlstate or "",
                               "message": c.message[:200]} for c in rejected[:50]],
                             [("file", "string"), ("line", "int"), ("sqlstate", "string"), ("message", "string")]),
    })
    yield dg.AssetCheckResult(
        check_name="statements_checked", passed=cov["unchecked_share"] <= limit,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unchecked": dg.MetadataValue.int(cov["unchecked"]),
                  "verifiable": dg.MetadataValue.int(cov["verifiable"]),
                  "unchecked_share": dg.MetadataValue.float(round(cov["unchecked_share"], 4)),
                  "threshold": dg.MetadataValue.float(limit)})
