-- heal store, version 14: fixes on SQLite targets (heal_pipeline/sqlite). Columns only; the
-- status values are those of 0003 (a rollback that kept rows the app wrote since is status
-- 'rolled_back' with outcome 'rolled_back_with_conflicts' and the conflicting keys).
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS engine text NOT NULL DEFAULT 'postgresql';
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS outcome text;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS conflicts jsonb;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS lock_ms double precision;
COMMENT ON COLUMN heal.fix_history.lock_ms IS
    'SQLite fixes: how long the write lock was held (BEGIN IMMEDIATE to COMMIT), measured';
