"""Statement verifier: every SQL statement the application runs, analyzed by PostgreSQL itself.

Public API (plain Python over psycopg, no Dagster):

- :func:`verify_statements` — PREPARE/Describe/DEALLOCATE each statement inside a READ ONLY
  transaction that is rolled back; nothing is executed;
- :func:`verify_in_transaction` — the same inside the caller's open transaction (sees its
  uncommitted DDL), wrapped in a savepoint so the caller's transaction stays usable;
- :func:`changed` — statements that went from ``ok`` to ``rejected`` between two runs;
- :func:`statements_touching` — the statements that reference some tables;
- :func:`coverage` / :func:`coverage_line` — extracted / ok / rejected / not_verifiable by reason.

``rewrite.py`` decides what is sent (placeholders, holes, one-statement rule, DDL/utility never
sent); ``core.py`` talks to the server.
"""

from heal_pipeline.verify.core import (
    UNCHECKED_REASONS,
    StatementCheck,
    changed,
    coverage,
    coverage_line,
    statements_touching,
    verify_in_transaction,
    verify_statements,
)
from heal_pipeline.verify.rewrite import Plan, prepare_text

__all__ = ["StatementCheck", "verify_statements", "verify_in_transaction", "changed",
           "statements_touching", "coverage", "coverage_line", "UNCHECKED_REASONS", "Plan",
           "prepare_text"]
