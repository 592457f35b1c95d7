/* heal:introspect what the text of a CHECK constraint's deparse depends on besides its own catalog
   row and its table's column names (heal_pipeline/introspect/checkdefs.py): the server version, the
   settings that print names and constants, and every row version of the catalogs whose names
   ruleutils.c prints (functions, operators, types — a table's rowtype is renamed with the table —,
   enum labels, collations, schemas). One md5; any CREATE/ALTER/DROP of such an object changes it
   and the next snapshot asks the server for every CHECK definition again (rows in scan order: a
   rewrite of a catalog only costs such a refresh). ~12 ms at 10,000 tables. */
SELECT md5(concat_ws('|',
         current_setting('server_version_num'), current_database(), current_user,
         current_setting('search_path'), current_schemas(true)::text,
         current_setting('DateStyle'), current_setting('IntervalStyle'), current_setting('TimeZone'),
         current_setting('extra_float_digits'), current_setting('bytea_output'),
         current_setting('standard_conforming_strings'), current_setting('quote_all_identifiers'),
         current_setting('lc_monetary'),
         (SELECT md5(string_agg(p.oid::text || ':' || p.xmin::text, ',')) FROM pg_proc p),
         (SELECT md5(string_agg(o.oid::text || ':' || o.xmin::text, ',')) FROM pg_operator o),
         (SELECT md5(string_agg(t.oid::text || ':' || t.xmin::text, ','))
            FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace
           WHERE tn.nspname !~ '^pg_(toast|temp_|toast_temp_)'),
         (SELECT md5(string_agg(e.oid::text || ':' || e.xmin::text, ',')) FROM pg_enum e),
         (SELECT md5(string_agg(c.oid::text || ':' || c.xmin::text, ',')) FROM pg_collation c),
         (SELECT md5(string_agg(n.oid::text || ':' || n.xmin::text, ',')) FROM pg_namespace n)
       )) AS environment
