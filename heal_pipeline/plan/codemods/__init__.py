"""LibCST codemods for code-side fixes (cast workarounds)."""

from .remove_casts import (RemoveCastCommand, RemoveHelperCommand, find_sql_casts, references,
                           remove_sql_casts, run_codemod)

__all__ = ["RemoveCastCommand", "RemoveHelperCommand", "find_sql_casts", "references", "remove_sql_casts",
           "run_codemod"]
