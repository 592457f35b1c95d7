-- heal store, version 3: the audit trail of every fix heal executed (and every rollback).
-- One row per attempt that got past the policy: status 'running' while it executes, then
-- 'verified' | 'failed' | 'skipped'. A rollback is its own row (status 'rolled_back',
-- rollback_of = the fix) and the fix row gets rolled_back_by. Independent of 0002.
CREATE SCHEMA IF NOT EXISTS heal;

CREATE TABLE IF NOT EXISTS heal.fix_history (
    fix_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint         text        NOT NULL,
    issue_type          text        NOT NULL,
    target_db           text        NOT NULL,
    run_id              text,
    tier                text        NOT NULL CHECK (tier IN ('auto', 'approval', 'manual')),
    status              text        NOT NULL
                        CHECK (status IN ('running', 'verified', 'failed', 'skipped', 'rolled_back')),
    summary             text,
    approved            boolean     NOT NULL DEFAULT false,
    steps               jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- as executed, with timings
    completed_steps     integer[]   NOT NULL DEFAULT '{}',         -- forward step indexes that committed
    backup_ref          text,
    reverse             jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- op + args: rebuilt, never run as text
    checksum_before     text,
    checksum_after      text,
    checksum_original   text,                                      -- raw pre-fix state (rollback check)
    checksum_bound      text,                                      -- key bound of the checksums
    schema_hash_before  text,
    schema_hash_after   text,
    code_backups        jsonb,                                     -- {path: original text} for code fixes
    plan                jsonb,
    error               text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    rolled_back_by      bigint REFERENCES heal.fix_history (fix_id),
    rollback_of         bigint REFERENCES heal.fix_history (fix_id)
);
CREATE INDEX IF NOT EXISTS fix_history_target_fp_idx
    ON heal.fix_history (target_db, fingerprint, started_at DESC);
CREATE INDEX IF NOT EXISTS fix_history_rolled_back_by_idx ON heal.fix_history (rolled_back_by);
CREATE INDEX IF NOT EXISTS fix_history_rollback_of_idx ON heal.fix_history (rollback_of);
COMMENT ON TABLE heal.fix_history IS
    'Every fix heal executed (steps with timings, backup, reverse steps, checksums, honest status) and every rollback (status rolled_back, rollback_of the fix).';
