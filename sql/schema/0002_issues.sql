-- heal store, version 2: code scan results, failed queries, issues (current + history), suppressions.

CREATE TABLE IF NOT EXISTS heal.code_scans (
    scan_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_db       text NOT NULL,
    run_id          text,
    scanned_at      timestamptz NOT NULL DEFAULT now(),
    roots           jsonb NOT NULL,
    files_scanned   int NOT NULL,
    files_parsed    int NOT NULL,
    files_cached    int NOT NULL,
    files_skipped   int NOT NULL,
    statements      int NOT NULL,
    findings        int NOT NULL,
    seconds         double precision
);

CREATE TABLE IF NOT EXISTS heal.code_statements (
    target_db       text    NOT NULL,
    run_id          text,
    scanned_at      timestamptz NOT NULL DEFAULT now(),
    statement_id    text    NOT NULL,
    file            text    NOT NULL,
    line            int     NOT NULL,
    col             int     NOT NULL,
    call            text    NOT NULL,
    source_kind     text    NOT NULL,
    function_name   text,
    statement_kind  text,
    sql             text    NOT NULL,
    tables          jsonb   NOT NULL DEFAULT '[]',
    columns         jsonb   NOT NULL DEFAULT '[]',
    joins           jsonb   NOT NULL DEFAULT '[]',
    casts           jsonb   NOT NULL DEFAULT '[]',
    params          jsonb   NOT NULL DEFAULT '[]',
    parse_error     text,
    dynamic         boolean NOT NULL DEFAULT false,
    in_loop         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (target_db, statement_id)
);

CREATE TABLE IF NOT EXISTS heal.code_findings (
    target_db   text NOT NULL,
    run_id      text,
    scanned_at  timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    file        text NOT NULL,
    line        int  NOT NULL,
    col         int  NOT NULL,
    detail      text NOT NULL,
    schema_name text,
    table_name  text,
    column_name text,
    function_name text,
    evidence    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS code_findings_target_idx ON heal.code_findings (target_db, kind);

CREATE TABLE IF NOT EXISTS heal.failed_queries (
    target_db   text NOT NULL,
    group_key   text NOT NULL,
    sqlstate    text NOT NULL,
    message     text NOT NULL,
    statement   text,
    normalized  text NOT NULL,
    database    text,
    user_name   text,
    detail      text,
    hint        text,
    count       bigint NOT NULL,
    first_seen  timestamptz,
    last_seen   timestamptz,
    source      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_db, group_key)
);

CREATE TABLE IF NOT EXISTS heal.issues (
    fingerprint  text PRIMARY KEY,
    issue_type   text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    target_db    text NOT NULL,
    schema_name  text,
    table_name   text,
    column_name  text,
    object_name  text,
    file         text,
    line         int,
    detail       text NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '{}',
    fixable      boolean NOT NULL DEFAULT false,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'suppressed')),
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    run_id       text,
    suppression_reason text
);
CREATE INDEX IF NOT EXISTS issues_target_status_idx ON heal.issues (target_db, status, severity);

CREATE TABLE IF NOT EXISTS heal.issue_history (
    history_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       text,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    fingerprint  text NOT NULL,
    issue_type   text NOT NULL,
    severity     text NOT NULL,
    target_db    text NOT NULL,
    schema_name  text,
    table_name   text,
    column_name  text,
    object_name  text,
    file         text,
    line         int,
    detail       text NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL
);
CREATE INDEX IF NOT EXISTS issue_history_target_time_idx ON heal.issue_history (target_db, detected_at);
CREATE INDEX IF NOT EXISTS issue_history_fingerprint_idx ON heal.issue_history (fingerprint, detected_at);

CREATE TABLE IF NOT EXISTS heal.detection_runs (
    run_id       text,
    target_db    text NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    counts       jsonb NOT NULL,
    unchecked    jsonb NOT NULL DEFAULT '[]',
    seconds      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS heal.suppressions (
    suppression_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_db    text,            -- NULL: every target
    fingerprint  text,
    pattern      text,            -- glob over 'issue_type:schema.table.column/object' or 'issue_type:file:line'
    reason       text NOT NULL,
    created_by   text NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((fingerprint IS NULL) <> (pattern IS NULL))
);
