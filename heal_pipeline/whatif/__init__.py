"""What-if before acting (issue 15 item 2): HypoPG estimates of an index change (no Dagster here)."""

from .hypo import (NOT_ESTIMATED, IndexWhatIf, StatementCost, hypopg_status, whatif_create_index,
                   whatif_drop_index, whatif_rule)

__all__ = ["NOT_ESTIMATED", "IndexWhatIf", "StatementCost", "hypopg_status", "whatif_create_index",
           "whatif_drop_index", "whatif_rule"]
