"""The SQLSTATE codes heal cares about, with PostgreSQL's condition names (Appendix A of the manual).

``SQLSTATES`` maps a code to its condition name, ``KINDS`` maps the codes heal acts on to the
``kind`` that :func:`heal_pipeline.logs.diagnose.diagnose` reports. :func:`sqlstate_name` falls back
to the class name (first two characters) for codes not in the table. :func:`infer_sqlstate` guesses a
code from the message text, for PostgreSQL's stderr format, which carries no SQLSTATE by default.
"""

from __future__ import annotations

import re

__all__ = ["SQLSTATES", "CLASSES", "KINDS", "sqlstate_name", "sqlstate_class", "infer_sqlstate"]

SQLSTATES: dict[str, str] = {
    # class 08 connection exception
    "08000": "connection_exception",
    "08003": "connection_does_not_exist",
    "08006": "connection_failure",
    "08P01": "protocol_violation",
    # class 0A
    "0A000": "feature_not_supported",
    # class 21/22 data exception
    "21000": "cardinality_violation",
    "22001": "string_data_right_truncation",
    "22003": "numeric_value_out_of_range",
    "22007": "invalid_datetime_format",
    "22008": "datetime_field_overflow",
    "22012": "division_by_zero",
    "22023": "invalid_parameter_value",
    "22P02": "invalid_text_representation",
    "22P05": "untranslatable_character",
    "22021": "character_not_in_repertoire",
    # class 23 integrity constraint violation
    "23000": "integrity_constraint_violation",
    "23502": "not_null_violation",
    "23503": "foreign_key_violation",
    "23505": "unique_violation",
    "23514": "check_violation",
    "23P01": "exclusion_violation",
    # class 25 / 28 / 3D / 3F
    "25001": "active_sql_transaction",
    "25006": "read_only_sql_transaction",
    "25P02": "in_failed_sql_transaction",
    "28000": "invalid_authorization_specification",
    "28P01": "invalid_password",
    "3D000": "invalid_catalog_name",
    "3F000": "invalid_schema_name",
    # class 40 transaction rollback
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    # class 42 syntax error or access rule violation
    "42501": "insufficient_privilege",
    "42601": "syntax_error",
    "42602": "invalid_name",
    "42622": "name_too_long",
    "42701": "duplicate_column",
    "42702": "ambiguous_column",
    "42703": "undefined_column",
    "42704": "undefined_object",
    "42710": "duplicate_object",
    "42725": "ambiguous_function",
    "42803": "grouping_error",
    "42804": "datatype_mismatch",
    "42809": "wrong_object_type",
    "42830": "invalid_foreign_key",
    "42846": "cannot_coerce",
    "42883": "undefined_function",
    "42P01": "undefined_table",
    "42P02": "undefined_parameter",
    "42P07": "duplicate_table",
    "42P10": "invalid_column_reference",
    "42P18": "indeterminate_datatype",
    # class 53 / 54 / 55 / 57
    "53100": "disk_full",
    "53200": "out_of_memory",
    "53300": "too_many_connections",
    "54000": "program_limit_exceeded",
    "54001": "statement_too_complex",
    "55000": "object_not_in_prerequisite_state",
    "55P03": "lock_not_available",
    "57014": "query_canceled",
    "57P01": "admin_shutdown",
    "57P05": "idle_session_timeout",
    "25P03": "idle_in_transaction_session_timeout",
    # PL/pgSQL, internal
    "P0001": "raise_exception",
    "XX000": "internal_error",
    "XX001": "data_corrupted",
}

CLASSES: dict[str, str] = {
    "08": "connection_exception", "0A": "feature_not_supported", "21": "cardinality_violation",
    "22": "data_exception", "23": "integrity_constraint_violation", "25": "invalid_transaction_state",
    "28": "invalid_authorization_specification", "3D": "invalid_catalog_name",
    "3F": "invalid_schema_name", "40": "transaction_rollback",
    "42": "syntax_error_or_access_rule_violation", "53": "insufficient_resources",
    "54": "program_limit_exceeded", "55": "object_not_in_prerequisite_state",
    "57": "operator_intervention", "58": "system_error", "P0": "plpgsql_error", "XX": "internal_error",
}

#: the ``kind`` diagnose() reports per code (codes not listed → "other")
KINDS: dict[str, str] = {
    "42P01": "missing_table",
    "42703": "missing_column",
    "3F000": "missing_schema",
    "42883": "type_mismatch",  # "operator does not exist"; "function f(t) does not exist" → missing_function
    "42804": "type_mismatch",
    "42846": "type_mismatch",
    "22P02": "invalid_input",
    "22007": "invalid_input",
    "22001": "value_too_long",
    "22003": "out_of_range",
    "23502": "not_null_violation",
    "23503": "fk_violation",
    "23505": "unique_violation",
    "23514": "check_violation",
    "42702": "ambiguous_column",
    "42601": "syntax_error",
    "42501": "permission_denied",
    "57014": "canceled",
    "55P03": "lock_timeout",
    "40P01": "deadlock",
    "40001": "serialization_failure",
}


def sqlstate_class(code: str | None) -> str | None:
    return CLASSES.get(code[:2]) if code else None


def sqlstate_name(code: str | None) -> str | None:
    """Condition name of ``code``; the class name for codes outside the table; None for None."""
    if not code:
        return None
    return SQLSTATES.get(code) or sqlstate_class(code) or "unknown"


_INFER: list[tuple[re.Pattern, str]] = [(re.compile(p), c) for p, c in [
    (r'^relation ".*" does not exist', "42P01"),
    (r'^missing FROM-clause entry for table ".*"', "42P01"),
    (r'^column .* does not exist', "42703"),
    (r'^record ".*" has no field ".*"', "42703"),
    (r'^operator does not exist: ', "42883"),
    (r'^function .*\(.*\) does not exist', "42883"),
    (r'^column ".*" is of type .* but expression is of type ', "42804"),
    (r'^argument of .* must be type .*, not type ', "42804"),
    (r'^cannot cast type .* to ', "42846"),
    (r'^invalid input syntax for type (?:timestamp|date|time|interval)', "22007"),
    (r'^invalid input (?:syntax for type|value for enum) ', "22P02"),
    (r'^value too long for type ', "22001"),
    (r'^(?:smallint|integer|bigint|numeric field|value ".*" is) out of range', "22003"),
    (r'^null value in column ".*" (?:of relation ".*" )?violates not-null constraint', "23502"),
    (r'^(?:insert or update|update or delete) on table ".*" violates foreign key constraint', "23503"),
    (r'^duplicate key value violates unique constraint', "23505"),
    (r'^new row for relation ".*" violates check constraint', "23514"),
    (r'^column reference ".*" is ambiguous', "42702"),
    (r'^syntax error at ', "42601"),
    (r'^permission denied for ', "42501"),
    (r'^schema ".*" does not exist', "3F000"),
    (r'^database ".*" does not exist', "3D000"),
    (r'^password authentication failed for user', "28P01"),
    (r'^canceling statement due to (?:statement timeout|user request)', "57014"),
    (r'^canceling statement due to lock timeout', "55P03"),
    (r'^could not obtain lock on ', "55P03"),
    (r'^deadlock detected', "40P01"),
    (r'^could not serialize access due to ', "40001"),
    (r'^current transaction is aborted, commands ignored', "25P02"),
    (r'^division by zero', "22012"),
    (r'^relation ".*" already exists', "42P07"),
    (r'^column ".*" of relation ".*" already exists', "42701"),
    (r'^terminating connection due to administrator command', "57P01"),
    (r'^sorry, too many clients already', "53300"),
]]


def infer_sqlstate(message: str | None) -> str | None:
    """The SQLSTATE PostgreSQL uses for ``message`` (English messages only), or None."""
    if not message:
        return None
    for pattern, code in _INFER:
        if pattern.match(message):
            return code
    return None
