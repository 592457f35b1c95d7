/* heal:introspect indexes — definition, key columns, validity, size, scans.
   pg_get_indexdef costs ~50 µs an index (syscache lookups and a pg_opclass scan per key column), so
   the server spells only what heal cannot: expressions, reloptions, an access method outside core,
   per-column opclass options. The others come back with definition NULL plus the trailing columns;
   heal checks in Python that every key column uses its type's default opclass and collation
   (heal_pipeline/introspect/build.py, from the columns and opclasses queries: a per-index subquery
   here cost a third of this query at 10,000 tables) and spells them (indexdef.py) byte-for-byte as
   pg_get_indexdef would; an index that fails the check is spelt by the server in a second query of
   the same transaction. Equality over every index shape: heal_pipeline_tests/introspect. */
SELECT n.nspname::text                     AS schema,
       t.relname::text                     AS "table",
       i.relname::text                     AS name,
       CASE WHEN x.indexprs IS NULL AND i.reloptions IS NULL
             AND am.amname IN ('btree', 'hash', 'gin', 'gist', 'spgist', 'brin')
             AND NOT EXISTS (SELECT 1 FROM pg_attribute ia  -- per-column opclass options (PG 13+)
                              WHERE ia.attrelid = x.indexrelid AND ia.attoptions IS NOT NULL)
            THEN NULL ELSE pg_get_indexdef(x.indexrelid) END AS definition,
       am.amname::text                     AS method,
       x.indkey::int2[]::int[]             AS columns,    -- attnums (0 = expression), named in Python
       x.indnkeyatts::int                  AS key_count,
       pg_get_expr(x.indexprs, x.indrelid) AS expressions,
       pg_get_expr(x.indpred, x.indrelid)  AS predicate,
       x.indisunique                       AS is_unique,
       x.indisprimary                      AS is_primary,
       x.indisvalid                        AS is_valid,
       x.indisready                        AS is_ready,
       x.indisexclusion                    AS is_exclusion,
       con.conname::text                   AS constraint_name,
       x.indclass::oid[]::int8[]           AS opclasses,  -- opclass oids, named in Python
       i.relpages::bigint * current_setting('block_size')::bigint AS size_bytes, -- as of build/VACUUM/ANALYZE
       pg_stat_get_numscans(x.indexrelid) AS idx_scan,
       pg_stat_get_tuples_returned(x.indexrelid) AS idx_tup_read,
       {last_idx_scan}                     AS last_idx_scan,
       -- not Index fields: what heal needs to spell a plain definition
       x.indexrelid::int8                  AS _oid,
       x.indoption::int2[]::int[]          AS _options,   -- per key column: 1 = DESC, 2 = NULLS FIRST
       i.relkind = 'I'                     AS _partitioned, -- "ON ONLY"
       {nulls_not_distinct}                AS _nulls_not_distinct,
       x.indcollation::oid[]::int8[]       AS _collations -- per key column (0 = none)
  FROM pg_index x
  JOIN pg_class i      ON i.oid = x.indexrelid
  JOIN pg_class t      ON t.oid = x.indrelid
  JOIN pg_namespace n  ON n.oid = t.relnamespace
  JOIN pg_am am        ON am.oid = i.relam
  LEFT JOIN pg_constraint con
         ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
 WHERE t.relkind IN ('r', 'p', 'm')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND t.oid NOT IN (SELECT dep.objid FROM pg_depend dep  -- extension members, by the reference index
                               WHERE dep.refclassid = 'pg_extension'::regclass
                                 AND dep.refobjid IN (SELECT e.oid FROM pg_extension e)
                                 AND dep.classid = 'pg_class'::regclass AND dep.deptype = 'e')
 ORDER BY 1, 2, 3
