/* heal:introspect operator classes used by indexes (to name the oids of 04_indexes) */
SELECT opc.oid::int8 AS oid, opc.opcname::text AS name
  FROM pg_opclass opc
 WHERE opc.oid IN (SELECT DISTINCT unnest(indclass::oid[]) FROM pg_index)
