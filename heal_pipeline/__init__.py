"""heal: keeps a PostgreSQL database and the application code that queries it consistent.

Core packages (``introspect``, ``codescan``, ``logs``, ``detect``, ``plan``, ``apply``, ``demo``) are plain
Python over psycopg / pglast / LibCST and never import Dagster; all Dagster wiring lives in ``defs``.
"""

__version__ = "0.1.0"
