-- Open issues per target, type and severity (critical first).
CREATE OR REPLACE VIEW heal.v_open_issues AS
SELECT target_db, issue_type, severity, count(*) AS open_issues,
       min(first_seen) AS oldest_first_seen, max(last_seen) AS last_seen
  FROM heal.issues
 WHERE status = 'open'
 GROUP BY target_db, issue_type, severity;
COMMENT ON VIEW heal.v_open_issues IS 'Open issues by target, type and severity.';
