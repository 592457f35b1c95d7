-- heal store, version 17 (issue 12, items 8 and 9): runtime evidence from the logs.
SET LOCAL lock_timeout = '10s';

-- statements the server logged with their duration (log_min_duration_statement): slow_query
-- without pg_stat_statements. One row per target and normalised statement; calls and times
-- accumulate across reads (the failed_queries asset stores them with the log cursor, in one
-- transaction).
CREATE TABLE IF NOT EXISTS heal.logged_statements (
    target_db   text NOT NULL,
    group_key   text NOT NULL,
    normalized  text NOT NULL,
    statement   text NOT NULL,
    database    text,
    calls       bigint NOT NULL,
    total_ms    double precision NOT NULL,
    max_ms      double precision NOT NULL,
    first_seen  timestamptz,
    last_seen   timestamptz,
    source      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_db, group_key)
);

-- the error position and CONTEXT of the latest occurrence: they say which operator, constant or
-- bound parameter failed (42883, 22P02), so runtime failures can be matched to issues.
ALTER TABLE heal.failed_queries ADD COLUMN IF NOT EXISTS cursor_position integer;
ALTER TABLE heal.failed_queries ADD COLUMN IF NOT EXISTS context text;
