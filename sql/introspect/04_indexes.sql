/* heal:introspect indexes — definition, key columns, validity, size, scans.
   pg_get_indexdef costs ~50 µs an index (syscache lookups and a pg_opclass scan per key column), so
   it runs only for indexes heal cannot spell itself: the plain ones (no expression, no reloptions, a
   built-in access method, every key column with its type's default opclass and collation) come back
   with definition NULL and are spelt in Python (heal_pipeline/introspect/indexdef.py) from the
   trailing columns, byte-for-byte as pg_get_indexdef would (heal_pipeline_tests/introspect). */
SELECT n.nspname::text                     AS schema,
       t.relname::text                     AS "table",
       i.relname::text                     AS name,
       CASE WHEN x.indexprs IS NULL AND i.reloptions IS NULL
             AND am.amname IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
             AND NOT EXISTS (
                 SELECT 1
                   FROM unnest(x.indkey::int2[], x.indclass::oid[], x.indcollation::oid[])
                        WITH ORDINALITY AS k(attnum, opc, coll, ord)
                   LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                   LEFT JOIN pg_opclass oc  ON oc.oid = k.opc
                   LEFT JOIN pg_type ty     ON ty.oid = a.atttypid
                  WHERE k.ord <= x.indnkeyatts
                    AND NOT coalesce(oc.opcdefault AND ty.typtype <> 'd'
                             AND (k.coll = 0 OR k.coll = a.attcollation)
                             AND (oc.opcintype = a.atttypid
                                  OR (a.atttypid = 'pg_catalog.varchar'::regtype  -- text_ops: GetDefaultOpClass's preferred binary-compatible match
                                      AND oc.opcintype = 'pg_catalog.text'::regtype
                                      AND NOT EXISTS (SELECT 1 FROM pg_opclass o2
                                                       WHERE o2.opcmethod = oc.opcmethod AND o2.opcdefault
                                                         AND o2.opcintype = a.atttypid))), false)
                 )
             AND ao.attrelid IS NULL  -- no per-column opclass options (PG 13+)
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
       {nulls_not_distinct}                AS _nulls_not_distinct
  FROM pg_index x
  JOIN pg_class i      ON i.oid = x.indexrelid
  JOIN pg_class t      ON t.oid = x.indrelid
  JOIN pg_namespace n  ON n.oid = t.relnamespace
  JOIN pg_am am        ON am.oid = i.relam
  LEFT JOIN (SELECT DISTINCT ia.attrelid FROM pg_attribute ia WHERE ia.attoptions IS NOT NULL) ao
         ON ao.attrelid = x.indexrelid
  LEFT JOIN pg_constraint con
         ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
 WHERE t.relkind IN ('r', 'p', 'm')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = t.oid
                      AND dep.deptype = 'e')
 ORDER BY 1, 2, 3
