-- heal store, version 16: what a code statement creates or drops, and the SQL dialect the code
-- attributes it to (issue 12 items 3 and 4). Columns only, with defaults: no rewrite.
SET LOCAL lock_timeout = '10s';
ALTER TABLE heal.code_statements ADD COLUMN IF NOT EXISTS ddl jsonb NOT NULL DEFAULT '[]';
ALTER TABLE heal.code_statements ADD COLUMN IF NOT EXISTS dialect text;
ALTER TABLE heal.code_statements ADD COLUMN IF NOT EXISTS other_dialect boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN heal.code_statements.ddl IS
    'Relations the statement creates or drops ([{action, kind, schema, name, temporary, conditional}]): definitions in code, never references (they are not in `tables`)';
COMMENT ON COLUMN heal.code_statements.dialect IS
    'The SQL dialect the code attributes the statement to (e.g. sqlite inside `if db.is_sqlite:`); NULL = no attribution, runs on the target';
COMMENT ON COLUMN heal.code_statements.other_dialect IS
    'true = attributed to another engine than the target''s: kept for the record, never used for PostgreSQL findings';
