/* heal:introspect columns — tables, views, materialized views, foreign tables */
SELECT n.nspname::text                         AS schema,
       c.relname::text                         AS "table",
       a.attname::text                         AS name,
       a.attnum::int                           AS position,
       format_type(a.atttypid, a.atttypmod)    AS data_type,
       t.typname::text                         AS type_name,
       a.atttypmod::int                        AS typmod,
       a.attnotnull                            AS not_null,
       pg_get_expr(ad.adbin, ad.adrelid)       AS "default",
       a.attidentity::text                     AS identity,
       a.attgenerated::text                    AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END AS collation
  FROM pg_attribute a
  JOIN pg_class c      ON c.oid = a.attrelid
  JOIN pg_namespace n  ON n.oid = c.relnamespace
  JOIN pg_type t       ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef ad   ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
 WHERE a.attnum > 0
   AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
                      AND dep.deptype = 'e')
 ORDER BY 1, 2, 4
