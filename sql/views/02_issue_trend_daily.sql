-- Daily trend: distinct issues seen per day (from the per-run history), per target and type.
CREATE OR REPLACE VIEW heal.v_issue_trend_daily AS
SELECT date_trunc('day', detected_at)::date AS day, target_db, issue_type,
       count(DISTINCT fingerprint) FILTER (WHERE status = 'open') AS open_issues,
       count(DISTINCT fingerprint) FILTER (WHERE severity = 'critical' AND status = 'open') AS critical,
       count(DISTINCT run_id) AS runs
  FROM heal.issue_history
 GROUP BY 1, 2, 3;
COMMENT ON VIEW heal.v_issue_trend_daily IS 'Distinct open issues per day, target and type.';
