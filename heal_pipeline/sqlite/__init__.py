"""SQLite target databases (issue 14): snapshot, detection, fixes with the 12-step table rebuild,
backups through the backup API and row-preserving rollback. Plain Python, no Dagster.

- ``target``     — ``sqlite:`` URLs, read-only / write connections, one-line errors for bad files;
- ``snapshot``   — ``sqlite_schema`` + pragma table-valued functions → :class:`~heal_pipeline.model.Snapshot`;
- ``sqlparse``   — the app's SQL read in the SQLite dialect (sqlglot);
- ``detect``     — the issue types that make sense on SQLite (reused checks + SQLite hooks);
- ``applog``     — runtime errors (``no such table``…) from the app's own log;
- ``fix`` / ``rebuild`` / ``backup`` — plans, the executor, backups and rollback;
- ``demo``       — a SQLite slice of the demo estate with planted issues.
"""

from .target import SqliteError, is_sqlite_url, sqlite_path  # noqa: F401
