-- heal store, version 13 (issue 15): shadow mode, workload watches, holds. Independent of 0010+.
CREATE SCHEMA IF NOT EXISTS heal;

-- What auto-apply *would* have done in each scheduled run under the policy of that run (whether or
-- not auto-apply is enabled): one row per fixable plan, in run order.
CREATE TABLE IF NOT EXISTS heal.shadow_fixes (
    shadow_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text,
    target_db     text        NOT NULL,
    fingerprint   text        NOT NULL,
    issue_type    text        NOT NULL,
    tier          text        NOT NULL,
    severity      text,
    position      integer     NOT NULL,      -- run order (heal_pipeline.plan.priority)
    would_apply   boolean     NOT NULL,      -- with auto-apply enabled under this policy
    applies_now   boolean     NOT NULL,      -- under the policy as it is (auto-apply on or off)
    reason        text,                      -- why not (policy gate, trust ramp, hold, blocked)
    summary       text,
    policy_source text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS shadow_fixes_target_time_idx ON heal.shadow_fixes (target_db, recorded_at DESC);
COMMENT ON TABLE heal.shadow_fixes IS
    'Shadow mode: per scheduled run, what auto-apply would have done under the current policy (read a week of it before enabling auto-apply).';

-- Workload watch of an applied index/type change: pg_stat_statements figures before, after the window,
-- the verdict, and the rollback when it regressed.
CREATE TABLE IF NOT EXISTS heal.workload_watches (
    watch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fix_id          bigint      NOT NULL,
    target_db       text        NOT NULL,
    fingerprint     text        NOT NULL,
    issue_type      text        NOT NULL,
    tables          text[]      NOT NULL DEFAULT '{}',
    status          text        NOT NULL
                    CHECK (status IN ('watching', 'kept', 'improved', 'reverted_regression', 'revert_failed',
                                      'inconclusive', 'cannot_run')),
    before_stats    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    after_stats     jsonb,
    verdict         jsonb,
    reason          text,
    rollback_fix_id bigint,
    started_at      timestamptz NOT NULL DEFAULT now(),
    due_at          timestamptz NOT NULL,
    evaluated_at    timestamptz
);
CREATE INDEX IF NOT EXISTS workload_watches_due_idx ON heal.workload_watches (target_db, status, due_at);

-- A fingerprint heal must not fix again before held_until (set after a regression revert: no flapping).
CREATE TABLE IF NOT EXISTS heal.fix_holds (
    target_db   text        NOT NULL,
    fingerprint text        NOT NULL,
    held_until  timestamptz NOT NULL,
    reason      text        NOT NULL,
    watch_id    bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_db, fingerprint)
);
