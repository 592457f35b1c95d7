/* heal:introspect which tables each view reads (pg_depend through the view's rewrite rule) */
SELECT DISTINCT vn.nspname::text AS view_schema, v.relname::text AS view_name,
       tn.nspname::text AS table_schema, t.relname::text AS table_name
  FROM pg_depend d
  JOIN pg_rewrite r    ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
  JOIN pg_class v      ON v.oid = r.ev_class
  JOIN pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_class t      ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
 WHERE v.relkind IN ('v', 'm') AND t.oid <> v.oid
   AND vn.nspname <> ALL (%(exclude)s::text[])
   AND vn.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2, 3, 4
