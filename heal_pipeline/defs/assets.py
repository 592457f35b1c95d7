"""The lineage graph: schema_snapshot → code_findings + failed_queries → issue_set → fix_plan → applied_fixes."""


import time
from collections import Counter

import dagster as dg

from ..errors import HealError
from ..introspect import compute_drift, drift_rows, drift_total
from ..scan import code_cache_dir, scan_code, snapshot_cache_dir, take_target_snapshot
from ..config import database_name
from ..store import (ingest_failed_queries, latest_snapshot_hash, load_log_cursor, open_store, previous_snapshot,
                     save_code_scan, save_snapshot)
from .constants import GROUP_CODESCAN, GROUP_INTROSPECT, OWNERS, target_db_partitions
from .resources import HealResource


def _fail(exc: HealError) -> dg.Failure:
    return dg.Failure(description=str(exc))


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_INTROSPECT,
    kinds={"postgres"},
    owners=OWNERS,
    code_version="1",
    description=(
        "The whole catalog of the target database — tables, columns (type, typmod, nullability, "
        "default), PK/FK/unique/check constraints (incl. NOT VALID), indexes (definition, columns, "
        "valid, unique, partial, size), scan statistics with stats_reset, views, functions, "
        "triggers, extensions and pg_stat_statements — read in a constant number of catalog "
        "queries in one read-only transaction, stored in heal.schema_snapshots with a content "
        "hash. Metadata shows the counts and the drift since the previous snapshot."
    ),
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("snapshot_id", "bigint"), dg.TableColumn("target_db", "string"),
        dg.TableColumn("run_id", "string"), dg.TableColumn("taken_at", "timestamp"),
        dg.TableColumn("content_hash", "string"), dg.TableColumn("server_version", "string"),
        dg.TableColumn("stats_reset", "timestamp"), dg.TableColumn("counts", "json"),
        dg.TableColumn("drift", "json"), dg.TableColumn("unavailable", "json"),
        dg.TableColumn("snapshot", "json")])},
)
def schema_snapshot(context: dg.AssetExecutionContext, heal: HealResource) -> dg.MaterializeResult:
    target = heal.target(context.partition_key)
    started = time.perf_counter()
    try:
        # PostgreSQL, or a sqlite: file (heal_pipeline.sqlite); CHECK texts remembered across runs
        snap = take_target_snapshot(target, cache_dir=snapshot_cache_dir(heal.settings()))
        seconds = time.perf_counter() - started
        content_hash = snap.content_hash()
        with open_store(target.store_dsn) as store:
            # equal structural hashes mean no drift: the previous body is read only when it differs
            before_hash = latest_snapshot_hash(store, target.name)
            before = snap if before_hash == content_hash else previous_snapshot(store, target.name)
            drift = compute_drift(before, snap)
            snapshot_id = save_snapshot(store, snap, drift=drift, run_id=context.run.run_id,
                                        seconds=seconds, content_hash=content_hash)
    except HealError as exc:
        raise _fail(exc) from None

    counts = snap.counts()
    rows = drift_rows(drift) if before is not None else []
    metadata: dict[str, object] = {
        **{f"count/{k}": dg.MetadataValue.int(v) for k, v in counts.items()},
        "snapshot_id": dg.MetadataValue.int(snapshot_id),
        "content_hash": dg.MetadataValue.text(content_hash),
        "server_version": dg.MetadataValue.text(snap.server_version),
        "stats_reset": dg.MetadataValue.text(snap.stats_reset or "never"),
        "pg_stat_statements": dg.MetadataValue.text(snap.pg_stat_statements),
        "catalog_queries": dg.MetadataValue.int(snap.query_count),
        "seconds": dg.MetadataValue.float(round(seconds, 4)),
        "drift/total": dg.MetadataValue.int(drift_total(drift) if before is not None else 0),
        "drift/first_snapshot": dg.MetadataValue.bool(before is None),
        "drift": dg.MetadataValue.table(
            records=[dg.TableRecord(r) for r in rows[:200]],
            schema=dg.TableSchema(columns=[
                dg.TableColumn("kind", "string"), dg.TableColumn("change", "string"),
                dg.TableColumn("object", "string")]),
        ),
    }
    if snap.unavailable:
        metadata["unavailable"] = dg.MetadataValue.json(snap.unavailable)
    context.log.info(
        f"snapshot of {target.name}: {counts['tables']} tables, {counts['indexes']} indexes, "
        f"{snap.query_count} catalog queries in {seconds:.3f}s; drift "
        f"{'n/a (first snapshot)' if before is None else drift_total(drift)}")
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(content_hash))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: ("" if r.get(k) is None else r.get(k)) for k, _t in columns}) for r in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(k, t) for k, t in columns]))


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_CODESCAN,
    kinds={"python", "postgres"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Every SQL statement the application source runs (file, line, call, SQL text, tables, "
        "columns, casts, joins, bound parameters), parsed by the real PostgreSQL parser (pglast), "
        "plus code-side findings: cast workarounds, SQL composed from runtime values, queries in "
        "loops, unparseable SQL, untraceable calls, skipped files. Source roots: HEAL_SOURCE_DIRS. "
        "Incremental: unchanged files are served from a content-hash cache. Stored in "
        "heal.code_statements / heal.code_findings."
    ),
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("file", "string"), dg.TableColumn("line", "int"), dg.TableColumn("call", "string"),
        dg.TableColumn("sql", "string"), dg.TableColumn("tables", "json"), dg.TableColumn("columns", "json"),
        dg.TableColumn("casts", "json"), dg.TableColumn("joins", "json")])},
)
def code_findings(context: dg.AssetExecutionContext, heal: HealResource) -> dg.MaterializeResult:
    target = heal.target(context.partition_key)
    if not target.source_dirs:
        context.log.warning("HEAL_SOURCE_DIRS is not set: code-based checks will report 'not checked'")
        return dg.MaterializeResult(metadata={"configured": dg.MetadataValue.bool(False),
                                              "note": dg.MetadataValue.text("HEAL_SOURCE_DIRS is not set")})
    try:
        code = scan_code(target, cache_dir=code_cache_dir(heal.settings()))
        assert code is not None
        with open_store(target.store_dsn) as store:
            save_code_scan(store, target.name, code, context.run.run_id)
    except HealError as exc:
        raise _fail(exc) from None
    kinds = Counter(f.kind for f in code.findings)
    per_file = Counter(s.file for s in code.statements)
    stmt_kinds = Counter(s.statement_kind or "?" for s in code.statements)
    sample = [{"file": s.file, "line": s.line, "call": s.call, "sql": " ".join(s.sql.split())[:120],
               "tables": ", ".join(f"{t.schema + '.' if t.schema else ''}{t.name}" for t in s.tables)}
              for s in code.statements[:25]]
    return dg.MaterializeResult(metadata={
        "configured": dg.MetadataValue.bool(True),
        "roots": dg.MetadataValue.json([str(r) for r in target.source_dirs]),
        "statements": dg.MetadataValue.int(len(code.statements)),
        "files/scanned": dg.MetadataValue.int(code.files_scanned),
        "files/parsed": dg.MetadataValue.int(code.files_parsed),
        "files/cached": dg.MetadataValue.int(code.files_cached),
        "files/skipped": dg.MetadataValue.int(code.files_skipped),
        "seconds": dg.MetadataValue.float(round(code.seconds, 4)),
        **{f"findings/{k}": dg.MetadataValue.int(v) for k, v in sorted(kinds.items())},
        **{f"statements/{k}": dg.MetadataValue.int(v) for k, v in sorted(stmt_kinds.items())},
        "top_files": _table([{"file": f, "statements": n} for f, n in per_file.most_common(10)],
                            [("file", "string"), ("statements", "int")]),
        "sample": _table(sample, [("file", "string"), ("line", "int"), ("call", "string"),
                                  ("sql", "string"), ("tables", "string")]),
    })


MAX_LOG_ROUNDS = 8  # × 64 MiB per materialization; the rest is read by the next run


@dg.asset(
    partitions_def=target_db_partitions,
    group_name=GROUP_CODESCAN,
    kinds={"postgres"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Failed statements read from the PostgreSQL server log (jsonlog or csvlog) or an application "
        "log (HEAL_QUERY_LOG), grouped by SQLSTATE and normalized statement, with counts and first/last "
        "seen; stored in heal.failed_queries. Reads only what is new since the last run (a cursor that "
        "survives rotation, truncation, partial lines and garbage lines). They feed missing_table, "
        "missing_column and runtime evidence (42883/22P02/23503 → the matching issue or broken_statement); "
        "duration lines go to heal.logged_statements (slow_query without pg_stat_statements); an app's "
        "JSON log is read through HEAL_QUERY_LOG_KEYS and unrecognised lines are counted."
    ),
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("sqlstate", "string"), dg.TableColumn("message", "string"),
        dg.TableColumn("statement", "string"), dg.TableColumn("normalized", "string"),
        dg.TableColumn("count", "int"), dg.TableColumn("first_seen", "timestamp"),
        dg.TableColumn("last_seen", "timestamp")])},
)
def failed_queries(context: dg.AssetExecutionContext, heal: HealResource) -> dg.MaterializeResult:
    from ..logs import merge_durations, merge_failed, read_new, sqlstate_name

    target = heal.target(context.partition_key)
    if target.query_log is None:
        return dg.MaterializeResult(metadata={
            "configured": dg.MetadataValue.bool(False),
            "note": dg.MetadataValue.text("HEAL_QUERY_LOG is not set: failed queries are not read")})
    path = str(target.query_log)
    try:
        with open_store(target.store_dsn) as store:
            cursor = load_log_cursor(store, target.name, path)
            batches, garbage, rotated, truncated, nbytes, reason, notes = [], 0, False, False, 0, None, []
            more, slow, unrecognised, unrec_samples = False, [], 0, []
            for _ in range(MAX_LOG_ROUNDS):
                res = read_new(path, cursor, database=database_name(target.dsn), keys=target.log_keys)
                batches.append(res.failed)
                slow.append(res.slow)  # duration lines: slow_query without pg_stat_statements
                unrecognised += res.unrecognised
                unrec_samples += res.unrecognised_samples[:5 - len(unrec_samples)]
                cursor = res.cursor
                garbage += res.garbage
                rotated |= res.rotated
                truncated |= res.truncated
                nbytes += res.bytes_read
                reason = res.reason
                notes += res.notes
                more = res.more
                if not more:
                    break
            new = merge_failed(*batches)
            durations = merge_durations(*slow)
            ingest_failed_queries(store, target.name, path, new, cursor, durations=durations)
    except HealError as exc:
        raise _fail(exc) from None
    by_state = Counter()
    for f in new:
        by_state[f.sqlstate] += f.count
    rows = [{"sqlstate": f.sqlstate, "name": sqlstate_name(f.sqlstate) or "", "count": f.count,
             "message": f.message[:160], "statement": " ".join((f.statement or "").split())[:160]}
            for f in sorted(new, key=lambda f: -f.count)[:25]]
    return dg.MaterializeResult(metadata={
        "configured": dg.MetadataValue.bool(True),
        "log": dg.MetadataValue.path(path),
        "new_failures": dg.MetadataValue.int(sum(f.count for f in new)),
        "new_groups": dg.MetadataValue.int(len(new)),
        **{f"sqlstate/{k}": dg.MetadataValue.int(v) for k, v in sorted(by_state.items())},
        "bytes_read": dg.MetadataValue.int(nbytes),
        "garbage_lines": dg.MetadataValue.int(garbage),
        "unrecognised_lines": dg.MetadataValue.int(unrecognised),  # never silently skipped
        "unrecognised_samples": dg.MetadataValue.json(unrec_samples),
        "logged_statements": dg.MetadataValue.int(len(durations)),
        "unread_remaining": dg.MetadataValue.bool(more),  # the rest is read by the next run
        "rotated": dg.MetadataValue.bool(rotated),
        "truncated": dg.MetadataValue.bool(truncated),
        "reader_note": dg.MetadataValue.text(reason or "; ".join(notes) or "ok"),
        "groups": _table(rows, [("sqlstate", "string"), ("name", "string"), ("count", "int"),
                                ("message", "string"), ("statement", "string")]),
    })
