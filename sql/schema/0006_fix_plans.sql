-- heal store, version 6: the current fix plan of every open fixable issue (replaced by each fix_plan run).
CREATE TABLE IF NOT EXISTS heal.fix_plans (
    target_db    text NOT NULL,
    fingerprint  text NOT NULL,
    issue_type   text NOT NULL,
    tier         text NOT NULL,
    summary      text,
    blocked      text,
    rows_affected bigint,
    plan         jsonb NOT NULL,      -- steps as op + args (rebuilt on apply, never run from text)
    run_id       text,
    planned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_db, fingerprint)
);
