/* heal:introspect pg_stat_statements for this database (heal's own queries excluded) */
SELECT s.queryid::text AS queryid, s.query, s.calls::bigint AS calls,
       s.total_exec_time::float8 AS total_ms, s.mean_exec_time::float8 AS mean_ms,
       s.rows::bigint AS rows
  FROM {pgss} s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.query NOT LIKE '/* heal:%%'
 ORDER BY s.mean_exec_time DESC  -- slow_query ranks by mean: the slowest are never cut by the LIMIT
 LIMIT %(limit)s
