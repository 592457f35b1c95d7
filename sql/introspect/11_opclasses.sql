/* heal:introspect operator classes: names for the oids of 04_indexes, and what heal needs to tell
   whether an index key uses its type's default class (GetDefaultOpClass, indexcmds.c) — ~200 rows */
SELECT opc.oid::int8 AS oid, opc.opcname::text AS name, opc.opcdefault AS is_default,
       opc.opcintype::int8 AS input_type, opc.opcmethod::int8 AS method
  FROM pg_opclass opc
