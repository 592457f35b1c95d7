/* heal:introspect views and materialized views */
SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind = 'm' AS materialized,
       pg_get_viewdef(c.oid) AS definition
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND c.oid NOT IN (SELECT dep.objid FROM pg_depend dep  -- extension members, by the reference index
                               WHERE dep.refclassid = 'pg_extension'::regclass
                                 AND dep.refobjid IN (SELECT e.oid FROM pg_extension e)
                                 AND dep.classid = 'pg_class'::regclass AND dep.deptype = 'e')
 ORDER BY 1, 2
