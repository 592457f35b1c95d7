"""failed_queries core: read failed statements from PostgreSQL's log (jsonlog, csvlog, stderr) or an
application log, group them, and say what each one is about. Plain Python, no Dagster.

- ``parse.py``     — bytes → :class:`LogRecord` (formats, partial lines, garbage);
- ``normalize.py`` — ``normalize(sql)`` and grouping into :class:`~heal_pipeline.model.FailedQuery`;
- ``tail.py``      — ``read_new(path, cursor)``: incremental reads with a JSON cursor (rotation,
  truncation, byte cap);
- ``sqlstate.py``  — the SQLSTATE codes heal cares about;
- ``diagnose.py``  — ``diagnose(failed)``: the table/column/types behind an error message;
- ``applog.py``    — an application's own JSON error log, read through a configurable key mapping;
- ``durations.py`` — ``duration: … ms  statement: …`` lines (``log_min_duration_statement``), grouped.
"""

from .applog import parse_key_mapping
from .diagnose import diagnose, split_qualified
from .durations import group_durations, load_durations, merge_durations, save_durations
from .normalize import group_failed, merge_failed, normalize
from .parse import FORMATS, LogRecord, detect_format, iso_timestamp, parse_chunk, parse_file, parse_text
from .sqlstate import KINDS, SQLSTATES, infer_sqlstate, sqlstate_name
from .tail import DEFAULT_MAX_BYTES, LogUnreadable, TailResult, cursor_at_end, read_new

__all__ = [
    "FORMATS", "LogRecord", "detect_format", "iso_timestamp", "parse_chunk", "parse_file", "parse_text",
    "normalize", "group_failed", "merge_failed",
    "DEFAULT_MAX_BYTES", "LogUnreadable", "TailResult", "read_new", "cursor_at_end",
    "KINDS", "SQLSTATES", "sqlstate_name", "infer_sqlstate",
    "diagnose", "split_qualified",
    "parse_key_mapping", "group_durations", "merge_durations", "save_durations", "load_durations",
]
