/* heal:introspect server */
SELECT current_database()                                   AS database,
       current_setting('server_version')                    AS server_version,
       current_setting('server_version_num')::int           AS server_version_num,
       to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS taken_at,
       (SELECT to_char(d.stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
          FROM pg_stat_database d WHERE d.datname = current_database()) AS stats_reset,
       ARRAY(SELECT n.nspname::text FROM pg_namespace n
              WHERE n.nspname <> ALL (%(exclude)s::text[])
                AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              ORDER BY 1)                                    AS schemas,
       (SELECT e.extnamespace::regnamespace::text FROM pg_extension e
         WHERE e.extname = 'pg_stat_statements')             AS pgss_schema,
       (SELECT count(*) FROM pg_class
         WHERE relkind IN ('r', 'p', 'i', 'v', 'm', 'f'))::int AS relations,
       ARRAY(SELECT word::text FROM pg_get_keywords() WHERE catcode <> 'U') AS reserved_words, -- quote_identifier
       current_setting('quote_all_identifiers')::bool       AS quote_all_identifiers
