-- heal store, version 10: fixes as journaled change sets.
-- * status gains 'rolled_back_with_conflicts' (a rollback that kept rows the application changed after
--   the fix, listed in `conflicts`) and 'reverted_regression' (an automatic revert after a measured
--   regression).
-- * journal: every unit of work (a transaction, a concurrent statement, a backfill, a file rename) is
--   recorded *before* it runs (intent), just before COMMIT with the transaction id on the target
--   (pg_xact_status tells after a crash whether it committed), and after it ran (done). Every entry
--   point recovers 'running' rows from it before doing anything else.
-- * change_set: the fingerprints planned, approved and applied together (a schema fix and the code
--   edits that depend on it).
ALTER TABLE heal.fix_history DROP CONSTRAINT IF EXISTS fix_history_status_check;
ALTER TABLE heal.fix_history ADD CONSTRAINT fix_history_status_check
    CHECK (status IN ('running', 'verified', 'failed', 'skipped', 'rolled_back',
                      'rolled_back_with_conflicts', 'reverted_regression'));
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS journal jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS conflicts jsonb;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS change_set text[];
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS statement_checks jsonb;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS recovered_at timestamptz;
COMMENT ON COLUMN heal.fix_history.journal IS
    'Step journal: {event: intent|commit|done|cleanup, list, idxs, xid, at} entries, written before and after every unit of work; read by crash recovery.';
COMMENT ON COLUMN heal.fix_history.conflicts IS
    'Rows the application changed after the fix that a rollback kept instead of overwriting: {table, key, keys, count}.';
