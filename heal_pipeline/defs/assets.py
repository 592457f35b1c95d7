"""The lineage graph: schema_snapshot → code_findings + failed_queries → issue_set → fix_plan → applied_fixes."""


import time

import dagster as dg

from ..errors import HealError
from ..introspect import compute_drift, drift_rows, drift_total, take_snapshot
from ..store import open_store, previous_snapshot, save_snapshot
from .constants import GROUP_INTROSPECT, OWNERS, target_db_partitions
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
)
def schema_snapshot(context: dg.AssetExecutionContext, heal: HealResource) -> dg.MaterializeResult:
    target = heal.target(context.partition_key)
    started = time.perf_counter()
    try:
        snap = take_snapshot(target.dsn, target_db=target.name)
        seconds = time.perf_counter() - started
        with open_store(target.store_dsn) as store:
            before = previous_snapshot(store, target.name)
            drift = compute_drift(before, snap)
            snapshot_id = save_snapshot(store, snap, drift=drift, run_id=context.run.run_id,
                                        seconds=seconds)
    except HealError as exc:
        raise _fail(exc) from None

    counts = snap.counts()
    rows = drift_rows(drift) if before is not None else []
    metadata: dict[str, object] = {
        **{f"count/{k}": dg.MetadataValue.int(v) for k, v in counts.items()},
        "snapshot_id": dg.MetadataValue.int(snapshot_id),
        "content_hash": dg.MetadataValue.text(snap.content_hash()),
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
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(snap.content_hash()))
