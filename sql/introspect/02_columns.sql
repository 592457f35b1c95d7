/* heal:introspect columns — tables, views, materialized views, foreign tables */
WITH rels AS (
    SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')
       AND n.nspname <> ALL (%(exclude)s::text[])
       AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND c.oid NOT IN (SELECT dep.objid FROM pg_depend dep  -- extension members, by the reference index
                                   WHERE dep.refclassid = 'pg_extension'::regclass
                                     AND dep.refobjid IN (SELECT e.oid FROM pg_extension e)
                                     AND dep.classid = 'pg_class'::regclass AND dep.deptype = 'e')
)
SELECT r.schema                                AS schema,
       r.name                                  AS "table",
       a.attname::text                         AS name,
       a.attnum::int                           AS position,
       format_type(a.atttypid, a.atttypmod)    AS data_type,
       t.typname::text                         AS type_name,
       a.atttypmod::int                        AS typmod,
       a.attnotnull                            AS not_null,
       -- a default cannot name a column, so it deparses without its relation (relid 0): the same
       -- text, without opening every table (PG 16+ opens it: 10,000 relcache builds cold, ≈ 200 ms);
       -- a generated column's expression names columns and keeps its relation
       CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(ad.adbin, CASE WHEN a.attgenerated <> '' THEN ad.adrelid
                                                                      ELSE 0 END)
                                     FROM pg_attrdef ad
                                    WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) END
                                               AS "default",
       a.attidentity::text                     AS identity,
       a.attgenerated::text                    AS generated,
       CASE WHEN a.attcollation <> t.typcollation
            THEN (SELECT co.collname::text FROM pg_collation co WHERE co.oid = a.attcollation) END
                                               AS collation,
       -- not Column fields: what heal needs to tell a default operator class of an index key
       a.atttypid::int8                        AS _type_oid,
       a.attcollation::int8                    AS _collation_oid,
       t.typtype = 'd'                         AS _domain
  FROM rels r
  JOIN pg_attribute a ON a.attrelid = r.oid
  JOIN pg_type t      ON t.oid = a.atttypid
 WHERE a.attnum > 0
   AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum  -- integer sort: cheap, and keeps each table's columns in order
