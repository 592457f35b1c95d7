/* heal:introspect maintenance — vacuum/analyze/freeze facts, sequences, wraparound age (issue 15).
   One round trip: rows of (kind, data) where kind is 'table' (fields of
   heal_pipeline.model.TableMaintenance), 'sequence' (SequenceStat) or 'database' (wraparound ages).

   tables: the bloat estimate is the heap beyond what the live rows need: reltuples × (tuple header 24
   + line pointer 4 + Σ pg_stats.avg_width), pages holding block_size − 24 usable bytes; NULL when
   pg_stats has nothing for the table.
   sequences: last_value is NULL when the sequence was never used (or the role may not read it);
   ownership is pg_depend 'a' (serial / OWNED BY) or 'i' (identity). */
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
), sequences AS (
  SELECT s.schemaname::text                               AS schema,
         s.sequencename::text                             AS name,
         format_type(s.data_type::oid, NULL)              AS data_type,
         s.last_value                                     AS last_value,
         s.max_value                                      AS max_value,
         s.increment_by                                   AS increment,
         s.cycle                                          AS cycle,
         tn.nspname::text                                 AS owned_schema,
         t.relname::text                                  AS owned_table,
         a.attname::text                                  AS owned_column,
         format_type(a.atttypid, a.atttypmod)             AS column_type,
         coalesce(a.attidentity::text, '')                AS identity
    FROM pg_sequences s
    JOIN pg_namespace sn ON sn.nspname = s.schemaname
    JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = s.sequencename AND sc.relkind = 'S'
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = sc.oid
                         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND d.refobjsubid > 0
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
   WHERE s.schemaname <> ALL (%(exclude)s::text[])
     AND s.schemaname NOT IN ('pg_catalog', 'information_schema')
), wraparound AS (
  SELECT age(d.datfrozenxid)::bigint                       AS database_xid_age,
         mxid_age(d.datminmxid)::bigint                    AS database_mxid_age,
         current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
    FROM pg_database d
   WHERE d.datname = current_database()
)
SELECT 'table' AS kind, to_jsonb(tables) AS data FROM tables
UNION ALL
SELECT 'sequence', to_jsonb(sequences) FROM sequences
UNION ALL
SELECT 'database', to_jsonb(wraparound) FROM wraparound
