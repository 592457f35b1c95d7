/* heal:introspect maintenance — sequences and the database's wraparound ages (issue 15): rows of
   (kind, data), kind 'sequence' (fields of heal_pipeline.model.SequenceStat) or 'database'.
   sequences: last_value is NULL when the sequence was never used (or the role may not read it);
   ownership is pg_depend 'a' (serial / OWNED BY) or 'i' (identity). */
WITH sequences AS (
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
SELECT 'sequence' AS kind, to_jsonb(sequences) AS data FROM sequences
UNION ALL
SELECT 'database', to_jsonb(wraparound) FROM wraparound
