-- heal store, version 5: where the failed_queries asset stopped reading each log.
CREATE TABLE IF NOT EXISTS heal.log_cursors (
    target_db   text NOT NULL,
    path        text NOT NULL,
    cursor      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_db, path)
);
