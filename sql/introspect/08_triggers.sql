/* heal:introspect user triggers */
SELECT n.nspname::text AS schema, c.relname::text AS "table", tg.tgname::text AS name,
       pg_get_triggerdef(tg.oid) AS definition, tg.tgenabled::text AS enabled
  FROM pg_trigger tg
  JOIN pg_class c     ON c.oid = tg.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT tg.tgisinternal
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2, 3
