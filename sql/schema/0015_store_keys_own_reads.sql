-- heal store, version 15 (issue 12 items 6 and 1).
-- (6) Every store table has a primary key: heal.code_findings and heal.detection_runs had none, so the
--     peers heal is compared with (splinter, pg-index-health) flagged heal's own schema. Surrogate
--     identity keys: neither table has a natural key (a file may hold several findings of one kind at one
--     position; a run may be recorded without a run_id). ADD COLUMN … IDENTITY fills existing rows.
-- (1) heal.own_reads: the ledger of the scans heal itself causes on the target's tables (relationship
--     sampling, orphan counts), measured from pg_stat_xact_user_tables inside heal's own read-only
--     transaction; unused_table and unused_index subtract them from the scan deltas between snapshots.
-- The migrator runs this file in one transaction with SET LOCAL lock_timeout = '10s' already in force;
-- it is repeated here so the file is safe on its own too.
SET LOCAL lock_timeout = '10s';

ALTER TABLE heal.code_findings
    ADD COLUMN IF NOT EXISTS finding_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE heal.detection_runs
    ADD COLUMN IF NOT EXISTS detection_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

CREATE TABLE IF NOT EXISTS heal.own_reads (
    read_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_db    text        NOT NULL,
    run_id       text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    source       text        NOT NULL,  -- detect | plan
    schema_name  text        NOT NULL,
    table_name   text        NOT NULL,
    index_name   text,                  -- NULL: the table's own counters; else one index's idx_scan
    seq_scan     bigint      NOT NULL DEFAULT 0,
    idx_scan     bigint      NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS own_reads_target_time_idx ON heal.own_reads (target_db, recorded_at);
COMMENT ON TABLE heal.own_reads IS
    'Scans heal itself caused on target tables (from pg_stat_xact_user_tables of its own transactions); unused_table subtracts them from the statistics deltas between snapshots.';
