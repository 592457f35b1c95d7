"""Code scanner: every SQL statement the application source runs, parsed by PostgreSQL's parser.

Public API: :func:`scan` (plain Python, no Dagster). Layout:

- ``python.py``   — Python-specific extraction with the stdlib ``ast`` (call sites, constants,
  imports, casts of bound arguments, loops over query results);
- ``flow.py``     — data flow the Python extractor follows beyond one call (wrappers traced to
  their callers, parameter lists built step by step, ORM table declarations);
- ``dialect.py``  — which engine a branch is written for (``if db.is_sqlite:``);
- ``template.py`` — language-neutral SQL templates (literal text, holes, references) and how
  they render to parseable SQL;
- ``sql.py``      — language-neutral SQL analysis with pglast (tables, columns, joins, casts,
  parameter bindings);
- ``assemble.py`` — sites + facts -> ``SqlStatement`` / ``CodeFinding``;
- ``scanner.py``  — walking, bad-input handling, the content-hash cache, parallelism, the
  cross-module post-pass.
- ``javascript/`` — the JavaScript/TypeScript language package (tree-sitter): the counterpart
  of ``python.py`` over the same template/sql/assemble core.
"""

from heal_pipeline.codescan.python import DEFAULT_CALL_NAMES
from heal_pipeline.codescan.scanner import (
    DEFAULT_EXCLUDE,
    DEFAULT_MAX_FILE_BYTES,
    SCANNER_VERSION,
    scan,
)
from heal_pipeline.codescan.sql import SqlFacts, analyze

__all__ = ["scan", "analyze", "SqlFacts", "DEFAULT_CALL_NAMES", "DEFAULT_EXCLUDE",
           "DEFAULT_MAX_FILE_BYTES", "SCANNER_VERSION"]
