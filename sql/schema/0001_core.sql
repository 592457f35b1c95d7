-- heal store, version 1: the migration ledger and schema snapshots.
-- Every file under sql/schema is applied once, in name order, inside a transaction holding
-- an advisory lock, and recorded in heal.schema_migrations with its checksum. Files are written
-- to be idempotent anyway (IF NOT EXISTS), so a half-applied store converges.
CREATE SCHEMA IF NOT EXISTS heal;

CREATE TABLE IF NOT EXISTS heal.schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS heal.schema_snapshots (
    snapshot_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_db       text        NOT NULL,
    run_id          text,
    taken_at        timestamptz NOT NULL,
    content_hash    text        NOT NULL,
    server_version  text        NOT NULL,
    stats_reset     timestamptz,
    counts          jsonb       NOT NULL,
    drift           jsonb       NOT NULL,
    unavailable     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    seconds         double precision,
    snapshot        jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS schema_snapshots_target_taken_idx
    ON heal.schema_snapshots (target_db, taken_at DESC);
COMMENT ON TABLE heal.schema_snapshots IS
    'One row per schema_snapshot materialization: the whole catalog as jsonb, its structural hash and the drift since the previous snapshot of the same target.';
