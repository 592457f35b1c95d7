/* heal:introspect tables — one row per ordinary, partitioned or foreign table.
   Statistics come from the pg_stat_get_* functions directly (the pg_stat_all_tables view computes
   ~25 of them per row, plus a per-table sum over its indexes that heal derives from the index rows).
   The two brace holes are filled by heal with fixed column expressions chosen by server version. */
SELECT n.nspname::text AS schema,
       c.relname::text AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned' ELSE 'foreign' END AS kind,
       CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 'u' THEN 'unlogged' ELSE 'temporary' END
                                                    AS persistence,
       c.reltuples::bigint                          AS estimated_rows,
       c.relpages::bigint * current_setting('block_size')::bigint AS size_bytes, -- heap pages as of the last VACUUM/ANALYZE (no file stat per table)
       c.relispartition                             AS is_partition,
       d.description                                AS comment,
       pg_stat_get_numscans(c.oid)                  AS seq_scan,
       0::bigint                                    AS idx_scan,        -- summed from index rows
       pg_stat_get_live_tuples(c.oid)               AS n_live_tup,
       pg_stat_get_dead_tuples(c.oid)               AS n_dead_tup,
       pg_stat_get_tuples_inserted(c.oid)           AS n_tup_ins,
       pg_stat_get_tuples_updated(c.oid)            AS n_tup_upd,
       pg_stat_get_tuples_deleted(c.oid)            AS n_tup_del,
       {last_seq_scan}                              AS last_seq_scan,   -- PG 16+, else NULL
       NULL::text                                   AS last_idx_scan,   -- max over index rows
       pg_stat_get_last_analyze_time(c.oid)::text   AS last_analyze,
       pg_stat_get_last_autoanalyze_time(c.oid)::text AS last_autoanalyze,
       NULL::text                                   AS stats_reset      -- per-database only (00_server)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_description d
         ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
 WHERE c.relkind IN ('r', 'p', 'f')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND c.oid NOT IN (SELECT dep.objid FROM pg_depend dep  -- extension members, by the reference index
                               WHERE dep.refclassid = 'pg_extension'::regclass
                                 AND dep.refobjid IN (SELECT e.oid FROM pg_extension e)
                                 AND dep.classid = 'pg_class'::regclass AND dep.deptype = 'e')
 ORDER BY 1, 2
