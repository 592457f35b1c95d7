-- heal store, version 14: fixes on SQLite targets (heal_pipeline/sqlite). Columns only; statuses and
-- `conflicts` are those of 0010 (a rollback that kept rows the app wrote since is
-- 'rolled_back_with_conflicts', the keys in `conflicts`).
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS engine text NOT NULL DEFAULT 'postgresql';
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS outcome text;
ALTER TABLE heal.fix_history ADD COLUMN IF NOT EXISTS lock_ms double precision;
COMMENT ON COLUMN heal.fix_history.engine IS 'The target''s engine: postgresql, or sqlite (heal_pipeline/sqlite)';
COMMENT ON COLUMN heal.fix_history.outcome IS 'SQLite fixes: the executor''s own outcome word (verified, skipped, rolled_back_with_conflicts…)';
COMMENT ON COLUMN heal.fix_history.lock_ms IS
    'SQLite fixes: how long the write lock was held (BEGIN IMMEDIATE to COMMIT), measured';
