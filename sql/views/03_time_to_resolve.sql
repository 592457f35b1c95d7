-- Mean and median time to resolve, per target and issue type (resolved issues only).
CREATE OR REPLACE VIEW heal.v_time_to_resolve AS
SELECT target_db, issue_type, count(*) AS resolved_issues,
       avg(resolved_at - first_seen) AS mean_time_to_resolve,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - first_seen))
           * interval '1 second' AS median_time_to_resolve
  FROM heal.issues
 WHERE status = 'resolved' AND resolved_at IS NOT NULL
 GROUP BY target_db, issue_type;
COMMENT ON VIEW heal.v_time_to_resolve IS 'Mean/median time from first seen to resolved, per type.';
