"""issue_set: the detected issues of one target, with their history, and the checks on them."""

from collections import Counter

import dagster as dg

from ..errors import HealError
from ..present import evidence_brief, evidence_markdown, object_of, short
from ..scan import checked_types, detect_target, make_context
from ..store import (load_code_scan, load_failed_queries, load_suppressions, open_store,
                     previous_snapshot, record_detection, stats_coverage_seconds)
from .assets import _fail, _table, code_findings, failed_queries, schema_snapshot
from .constants import GROUP_DETECT, OWNERS, target_db_partitions, partitioned_check
from .resources import HealResource

#: severity, object and fingerprint first: what one reads (and copies) at 1366-1600 px; the detail
#: is cut to DETAIL_CHARS here, its full text is in the markdown summary
ISSUE_COLUMNS = [("severity", "string"), ("object", "string"), ("fingerprint", "string"),
                 ("issue_type", "string"), ("detail", "string"), ("evidence", "string")]


def issue_rows(issues) -> list[dict]:
    return [{"severity": i.severity, "object": object_of(i), "fingerprint": i.fingerprint,
             "issue_type": i.issue_type, "detail": short(i.detail), "evidence": evidence_brief(i)} for i in issues]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def summary_markdown(target: str, result, record: dict, limit: int = 200) -> str:
    counts = Counter(i.severity for i in result.issues)
    lines = [f"### {target}: {len(result.issues)} open issue(s) — "
             f"{counts.get('critical', 0)} critical, {counts.get('warning', 0)} warning, {counts.get('info', 0)} info",
             f"new {record['new']}, resolved {record['resolved']}, suppressed {record['suppressed']}", "",
             "| severity | object | fingerprint | type | detail |", "|---|---|---|---|---|"]
    for i in result.issues[:limit]:
        lines.append(f"| {i.severity} | {_cell(object_of(i))} | `{i.fingerprint}` | `{i.issue_type}` | {_cell(i.detail)} |")
    if len(result.issues) > limit:
        lines.append(f"\n… and {len(result.issues) - limit} more in heal.issues")
    if result.unchecked:
        lines += ["", "**Not checked** (never counted as clean):"]
        lines += [f"- `{u['check']}`: {u['reason']}" for u in result.unchecked]
    return "\n".join(lines)


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_DETECT,
    kinds={"postgres"},
    owners=OWNERS,
    code_version="1",
    deps=[schema_snapshot, code_findings, failed_queries],
    description=(
        "The issues of the target: type mismatches (declared and implicit) and the code casts that "
        "hide them, FKs without indexes, orphaned rows, missing tables/columns, unused tables, "
        "duplicate/unused/invalid indexes, tables without a primary key, slow queries, unsafe SQL, "
        "queries in loops and unparseable SQL — each with a stable fingerprint, a severity and its "
        "evidence. Current state in heal.issues, one row per issue per run in heal.issue_history. "
        "Checks that could not run are listed as 'not checked', never counted as clean."
    ),
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("fingerprint", "string"), dg.TableColumn("issue_type", "string"),
        dg.TableColumn("severity", "string"), dg.TableColumn("target_db", "string"),
        dg.TableColumn("schema_name", "string"), dg.TableColumn("table_name", "string"),
        dg.TableColumn("column_name", "string"), dg.TableColumn("object_name", "string"),
        dg.TableColumn("file", "string"), dg.TableColumn("line", "int"), dg.TableColumn("detail", "string"),
        dg.TableColumn("evidence", "json"), dg.TableColumn("status", "string"),
        dg.TableColumn("first_seen", "timestamp"), dg.TableColumn("last_seen", "timestamp")])},
    check_specs=[
        partitioned_check("no_critical_issues", asset="issue_set",
                          description="Fails (ERROR) when any open issue is critical."),
        partitioned_check("all_checks_ran", asset="issue_set",
                          description="Warns when a check could not run (no code roots, no permission, "
                                      "statistics window not covered, a timeout)."),
    ],
)
def issue_set(context: dg.AssetExecutionContext, heal: HealResource):
    target = heal.target(context.partition_key)
    try:
        with open_store(target.store_dsn) as store:
            snap = previous_snapshot(store, target.name)
            if snap is None:
                raise HealError(f"no schema snapshot of {target.name} yet: materialize schema_snapshot first")
            code = load_code_scan(store, target.name) if target.source_dirs else None
            failed = load_failed_queries(store, target.name)
            from ..logs import load_durations  # noqa: PLC0415 - slow_query from the log's duration lines

            durations = load_durations(store, target.name) if target.query_log is not None else None
            coverage = stats_coverage_seconds(store, target.name, snap.stats_reset, snap.taken_at)
            ctx = make_context(target, snap, code, failed, coverage_s=coverage, durations=durations)
            result = detect_target(target, ctx, load_suppressions(store, target.name))  # engine hook
            record = record_detection(store, target.name, result, context.run.run_id, checked_types(result))
    except HealError as exc:
        raise _fail(exc) from None
    by_type = result.counts()
    unchecked_types = {u["check"] for u in result.unchecked}
    sev = Counter(i.severity for i in result.issues)
    critical = [i for i in result.issues if i.severity == "critical"]
    yield dg.MaterializeResult(metadata={
        "summary": dg.MetadataValue.md(summary_markdown(target.name, result, record)),
        "issues": _table(issue_rows(result.issues), ISSUE_COLUMNS),
        # every critical issue with all of its evidence: failed statement, file:line references, counts
        "critical_evidence": dg.MetadataValue.md(evidence_markdown(critical)),
        "open": dg.MetadataValue.int(len(result.issues)),
        **{f"severity/{k}": dg.MetadataValue.int(sev.get(k, 0)) for k in ("critical", "warning", "info")},
        # numbers, so the Plots tab draws them per run; a type whose check could not run has no point
        # in that run (a gap, never a 0 that reads as clean)
        **{f"type/{k}": dg.MetadataValue.int(v) for k, v in by_type.items() if k not in unchecked_types or v},
        "not_checked/count": dg.MetadataValue.int(len(unchecked_types)),
        # the same counts under the target's name: the Plots tab's "Events" view mixes the partitions
        # of a fleet, a label of one target draws that target's trend alone
        **{f"trend/{target.name}/{k}": dg.MetadataValue.int(v) for k, v in
           (("open", len(result.issues)), *((s, sev.get(s, 0)) for s in ("critical", "warning", "info")))},
        **{f"change/{k}": dg.MetadataValue.int(v) for k, v in record.items()},
        "not_checked": dg.MetadataValue.json(result.unchecked),
        "detect_seconds": dg.MetadataValue.json(result.seconds),
        "dagster/row_count": dg.MetadataValue.int(len(result.issues)),
    })
    yield dg.AssetCheckResult(
        check_name="no_critical_issues", passed=not critical, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"critical": dg.MetadataValue.int(len(critical)),
                  "fingerprints": dg.MetadataValue.json([i.fingerprint for i in critical[:50]])})
    yield dg.AssetCheckResult(
        check_name="all_checks_ran", passed=not result.unchecked, severity=dg.AssetCheckSeverity.WARN,
        metadata={"not_checked": dg.MetadataValue.json(result.unchecked)})
