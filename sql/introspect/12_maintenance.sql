/* heal:introspect maintenance — vacuum/analyze/freeze facts of tables (issue 15), one row per table
   in plain columns named like heal_pipeline.model.TableMaintenance's fields (to_jsonb per row cost
   twice as much at 10,000 tables); sequences and wraparound ages are 13_maintenance_other.sql, sent
   in the same round trip.

   tables: the bloat estimate is the heap beyond what the live rows need: reltuples × (tuple header 24
   + line pointer 4 + Σ pg_stats.avg_width), pages holding block_size − 24 usable bytes; NULL when
   pg_stats has nothing for the table. */
WITH tables AS (
  SELECT n.nspname::text                                  AS schema,
         c.relname::text                                  AS "table",
         c.reltuples::bigint                              AS reltuples,
         c.relpages::bigint                               AS relpages,
         pg_stat_get_live_tuples(c.oid)                   AS n_live_tup,
         pg_stat_get_dead_tuples(c.oid)                   AS n_dead_tup,
         pg_stat_get_mod_since_analyze(c.oid)             AS n_mod_since_analyze,
         pg_stat_get_last_vacuum_time(c.oid)::text        AS last_vacuum,
         pg_stat_get_last_autovacuum_time(c.oid)::text    AS last_autovacuum,
         pg_stat_get_last_analyze_time(c.oid)::text       AS last_analyze,
         pg_stat_get_last_autoanalyze_time(c.oid)::text   AS last_autoanalyze,
         pg_stat_get_autovacuum_count(c.oid)              AS autovacuum_count,
         age(c.relfrozenxid)::bigint                      AS xid_age,
         mxid_age(c.relminmxid)::bigint                   AS mxid_age,
         CASE WHEN w.width IS NOT NULL AND c.reltuples > 0 THEN
              greatest(0, c.relpages::bigint * current_setting('block_size')::bigint
                          - (ceil(c.reltuples * (28 + w.width)
                                  / (current_setting('block_size')::numeric - 24))
                             * current_setting('block_size')::bigint)::bigint)
         END                                              AS est_bloat_bytes,
         (28 + w.width)::bigint                           AS avg_row_bytes,
         current_setting('autovacuum_vacuum_threshold')::float8
           + current_setting('autovacuum_vacuum_scale_factor')::float8 * greatest(c.reltuples, 0)
                                                          AS vacuum_threshold,
         current_setting('autovacuum_analyze_threshold')::float8
           + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
                                                          AS analyze_threshold
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN (SELECT s.schemaname, s.tablename, sum(s.avg_width)::bigint AS width  -- one pass, hashed
                 FROM pg_stats s WHERE NOT s.inherited GROUP BY 1, 2) w
           ON w.schemaname = n.nspname AND w.tablename = c.relname
   WHERE c.relkind IN ('r', 'm')
     AND n.nspname <> ALL (%(exclude)s::text[])
     AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
)
SELECT * FROM tables
