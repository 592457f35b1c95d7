-- Tables that break most: distinct issues ever recorded against each table, and how many are open.
CREATE OR REPLACE VIEW heal.v_tables_that_break AS
SELECT h.target_db, h.schema_name, h.table_name,
       count(DISTINCT h.fingerprint) AS issues_ever,
       count(DISTINCT h.issue_type) AS issue_types,
       (SELECT count(*) FROM heal.issues i
         WHERE i.target_db = h.target_db AND i.schema_name = h.schema_name
           AND i.table_name = h.table_name AND i.status = 'open') AS open_now,
       max(h.detected_at) AS last_detected
  FROM heal.issue_history h
 WHERE h.table_name IS NOT NULL
 GROUP BY h.target_db, h.schema_name, h.table_name;
COMMENT ON VIEW heal.v_tables_that_break IS 'Per table: distinct issues ever, types, open now.';
