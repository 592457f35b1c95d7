/* heal:introspect indexes — definition, key columns, validity, size, scans */
SELECT n.nspname::text                     AS schema,
       t.relname::text                     AS "table",
       i.relname::text                     AS name,
       pg_get_indexdef(x.indexrelid)       AS definition,
       am.amname::text                     AS method,
       ARRAY(SELECT a.attname::text   -- NULL marks an expression position
               FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                                       AND k.attnum > 0
              ORDER BY k.ord)              AS columns,
       x.indnkeyatts::int                  AS key_count,
       pg_get_expr(x.indexprs, x.indrelid) AS expressions,
       pg_get_expr(x.indpred, x.indrelid)  AS predicate,
       x.indisunique                       AS is_unique,
       x.indisprimary                      AS is_primary,
       x.indisvalid                        AS is_valid,
       x.indisready                        AS is_ready,
       x.indisexclusion                    AS is_exclusion,
       con.conname::text                   AS constraint_name,
       ARRAY(SELECT opc.opcname::text
               FROM unnest(x.indclass::oid[]) WITH ORDINALITY AS k(opc, ord)
               JOIN pg_opclass opc ON opc.oid = k.opc
              ORDER BY k.ord)              AS opclasses,
       pg_relation_size(x.indexrelid)      AS size_bytes,
       coalesce(s.idx_scan, 0)             AS idx_scan,
       coalesce(s.idx_tup_read, 0)         AS idx_tup_read,
       to_jsonb(s) ->> 'last_idx_scan'     AS last_idx_scan
  FROM pg_index x
  JOIN pg_class i      ON i.oid = x.indexrelid
  JOIN pg_class t      ON t.oid = x.indrelid
  JOIN pg_namespace n  ON n.oid = t.relnamespace
  JOIN pg_am am        ON am.oid = i.relam
  LEFT JOIN pg_constraint con
         ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
  LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid
 WHERE t.relkind IN ('r', 'p', 'm')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = t.oid
                      AND dep.deptype = 'e')
 ORDER BY 1, 2, 3
