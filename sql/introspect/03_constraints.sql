/* heal:introspect constraints — PK, FK, unique, check, exclusion (NOT VALID included).
   Column arrays come back as attnums and are named from the columns query (no per-row subqueries).
   pg_get_constraintdef runs only for what heal cannot spell itself: plain primary keys, unique
   constraints and foreign keys come back with definition NULL plus the trailing facts, and are
   spelt in Python (heal_pipeline/introspect/constraintdef.py) byte-for-byte as the server would
   (heal_pipeline_tests/introspect/test_constraintdef.py). Exclusions and keys with INCLUDE always
   ask the server here. Checks come back NULL too: their text is remembered by row version, and what
   is not is asked in a second query (heal_pipeline/introspect/checkdefs.py) — a cold backend builds
   the relcache of every table it deparses a check of, ≈ 20 µs a table. */
SELECT n.nspname::text   AS schema,
       c.relname::text   AS "table",
       con.conname::text AS name,
       CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'f' THEN 'foreign_key'
                        WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' ELSE 'exclusion' END AS kind,
       con.conkey::int[]                               AS columns,     -- attnums, named in Python
       CASE WHEN (con.contype IN ('p', 'u') AND x.indnatts = x.indnkeyatts)
                 OR (con.contype = 'f' AND fc.oid IS NOT NULL {fk_plain})
              OR con.contype = 'c'
            THEN NULL ELSE pg_get_constraintdef(con.oid) END AS definition,
       con.convalidated                                AS validated,
       con.condeferrable                               AS deferrable,
       fn.nspname::text                                AS ref_schema,
       fc.relname::text                                AS ref_table,
       con.confkey::int[]                              AS ref_columns, -- attnums of the referenced table
       CASE WHEN con.contype = 'f' THEN con.confdeltype::text END AS on_delete,
       CASE WHEN con.contype = 'f' THEN con.confupdtype::text END AS on_update,
       ic.relname::text                                AS index_name,
       -- not Constraint fields: what heal needs to spell a plain definition
       con.confmatchtype::text                         AS _match,
       con.condeferred                                 AS _deferred,
       CASE WHEN con.contype = 'f' THEN pg_table_is_visible(fc.oid) END AS _ref_visible,
       CASE WHEN con.contype = 'u' THEN {nulls_not_distinct} ELSE false END AS _nulls_not_distinct,
       con.oid::int8                                   AS _oid,  -- what the server spells later is asked by oid
       -- a CHECK's text comes from heal's memory of it by row version, or a second query (checkdefs.py)
       CASE WHEN con.contype = 'c' THEN con.xmin::text END AS _xmin
  FROM pg_constraint con
  JOIN pg_class c      ON c.oid = con.conrelid
  JOIN pg_namespace n  ON n.oid = c.relnamespace
  LEFT JOIN pg_class fc     ON fc.oid = con.confrelid
  LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
  LEFT JOIN pg_class ic     ON ic.oid = con.conindid
  LEFT JOIN pg_index x      ON x.indexrelid = con.conindid AND con.contype IN ('p', 'u')
 WHERE con.contype IN ('p', 'f', 'u', 'c', 'x')
   AND c.relkind IN ('r', 'p', 'f')
   AND n.nspname <> ALL (%(exclude)s::text[])
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2, 3
