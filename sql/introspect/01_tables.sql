/* heal:introspect tables — one row per ordinary, partitioned or foreign table */
SELECT n.nspname::text AS schema,
       c.relname::text AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned' ELSE 'foreign' END AS kind,
       CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 'u' THEN 'unlogged' ELSE 'temporary' END
                                                    AS persistence,
       c.reltuples::bigint                          AS estimated_rows,
       pg_total_relation_size(c.oid)                AS size_bytes,
       c.relispartition                             AS is_partition,
       d.description                                AS comment,
       coalesce(s.seq_scan, 0)                      AS seq_scan,
       coalesce(s.idx_scan, 0)                      AS idx_scan,
       coalesce(s.n_live_tup, 0)                    AS n_live_tup,
       coalesce(s.n_dead_tup, 0)                    AS n_dead_tup,
       coalesce(s.n_tup_ins, 0)                     AS n_tup_ins,
       coalesce(s.n_tup_upd, 0)                     AS n_tup_upd,
       coalesce(s.n_tup_del, 0)                     AS n_tup_del,
       to_jsonb(s) ->> 'last_seq_scan'              AS last_seq_scan,   -- PG 16+
       to_jsonb(s) ->> 'last_idx_scan'              AS last_idx_scan,   -- PG 16+
       s.last_analyze::text                         AS last_analyze,
       s.last_autoanalyze::text                     AS last_autoanalyze,
       to_jsonb(s) ->> 'stats_reset'                AS stats_reset      -- PG 18+
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
  LEFT JOIN pg_description d
         ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
 WHERE c.relkind IN ('r', 'p', 'f')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
                      AND dep.deptype = 'e')
 ORDER BY 1, 2
