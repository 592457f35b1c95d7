"""Applying fixes: policy, executor (backup, lock-safe execution, verification), audit, rollback.

Plain Python, no Dagster::

    from heal_pipeline.apply import apply_plan, rollback_fix, load_policy
    policy = load_policy()                                   # HEAL_POLICY, else dry-run defaults
    result = apply_plan(plan, target_dsn, store_dsn, policy, run_id, approve=False, redetect=None)
    result.status                                            # verified | failed | skipped | rolled_back
    rollback_fix(result.fix_id, target_dsn, store_dsn)
"""

from .executor import (FIX_LOCK_KEY, FixResult, FixSession, apply_plan, apply_plans, rollback_fix)
from .policy import Policy, TableRule, load_policy, policy_from_dict
from .redetect import default_redetect

__all__ = ["FIX_LOCK_KEY", "FixResult", "FixSession", "apply_plan", "apply_plans", "rollback_fix", "Policy",
           "TableRule", "load_policy", "policy_from_dict", "default_redetect"]
