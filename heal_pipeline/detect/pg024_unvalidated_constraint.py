"""unvalidated_constraint: a constraint added NOT VALID and never validated."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, examined_schema, register

KINDS = ("foreign_key", "check", "not_null")


@register
class UnvalidatedConstraint(Check):
    """A ``NOT VALID`` constraint left behind: new rows are checked, the old ones never were.

    ``ADD CONSTRAINT … NOT VALID`` followed by ``VALIDATE CONSTRAINT`` is the safe way to add a
    constraint to a busy table; forgetting the second half leaves a constraint the planner cannot
    trust (no join removal, no constraint exclusion) and that may hide violating rows. Foreign keys
    whose old rows *do* violate it are reported as ``orphaned_rows`` instead (the data needs a fix
    first). Fix: an orphan check (for a foreign key), then ``VALIDATE CONSTRAINT`` (tier auto: SHARE
    UPDATE EXCLUSIVE, reads and writes go on; it fails without changing anything on a violation).

    Anti-pattern::

        ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
            REFERENCES customers (id) NOT VALID;   -- and the VALIDATE never shipped

    Best practice::

        ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
    """

    issue_type = "unvalidated_constraint"
    code = "PG024"
    name = "schema.unvalidated_constraint"
    severity = "warning"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        from . import issues_of

        cons = [c for c in ctx.snapshot.constraints
                if not c.validated and c.kind in KINDS and examined_schema(c.schema)]
        if not cons:
            return
        with_orphans = {(i.schema_name, i.table_name, (i.evidence or {}).get("constraint"))
                        for i in issues_of(ctx, "orphaned_rows")}
        for c in cons:
            if (c.schema, c.table, c.name) in with_orphans:
                continue
            yield ctx.issue(
                "unvalidated_constraint", self.severity,
                f"{c.kind.replace('_', ' ')} constraint {c.name} on {c.schema}.{c.table} is NOT VALID: rows "
                f"written before it was added were never checked. Fix: ALTER TABLE {c.schema}.{c.table} "
                f"VALIDATE CONSTRAINT {c.name}",
                schema_name=c.schema, table_name=c.table, object_name=c.name,
                evidence={"kind": c.kind, "definition": c.definition, "columns": list(c.columns),
                          "ref": ({"schema": c.ref_schema, "table": c.ref_table, "columns": list(c.ref_columns)}
                                  if c.kind == "foreign_key" else None)})
