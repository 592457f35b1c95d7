"""xid_wraparound: transaction-ID (or multixact) age approaching the wraparound limit."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register
from .pg020_stale_statistics import maintenance_facts

WRAP_LIMIT = 2_147_483_647  # 2^31 - 1: PostgreSQL stops assigning XIDs ~3 M before this


@register
class XidWraparound(Check):
    """A table whose oldest unfrozen transaction ID is old: past ~2.1 billion the database stops writes.

    PostgreSQL must freeze every row before its transaction ID is 2^31 transactions old; autovacuum
    forces an anti-wraparound vacuum at ``autovacuum_freeze_max_age`` (200 M), but a long-running
    transaction, an abandoned replication slot or a prepared transaction can hold it back. heal
    reports (critical) every table with ``age(relfrozenxid)`` or ``mxid_age(relminmxid)`` at least
    ``xid_age_warn`` (1 billion), and the database itself when only system catalogs hold it back.
    Fix: remove what holds the horizon back, then ``VACUUM (FREEZE)`` the table (tier approval).

    Anti-pattern::

        BEGIN; SELECT ...;   -- an idle-in-transaction session left open for weeks

    Best practice::

        SET idle_in_transaction_session_timeout = '10min';
        VACUUM (FREEZE, VERBOSE) big_table;   -- when age(relfrozenxid) climbs past freeze_max_age
    """

    issue_type = "xid_wraparound"
    code = "PG023"
    name = "maintenance.xid_wraparound"
    severity = "critical"
    fixable = True

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        facts = maintenance_facts(ctx, self.issue_type)
        if facts is None:
            return
        snap = ctx.snapshot
        warn = ctx.thresholds.xid_age_warn
        found = False
        for m in facts:
            age = max(m.xid_age, m.mxid_age)
            if age < warn:
                continue
            found = True
            yield ctx.issue(
                "xid_wraparound", self.severity,
                f"table {m.schema}.{m.table}: age(relfrozenxid) {m.xid_age:,}, mxid age {m.mxid_age:,} — "
                f"{WRAP_LIMIT - age:,} transactions before PostgreSQL refuses writes. Fix: find what holds "
                f"the xmin horizon back (long transactions, replication slots, prepared transactions), "
                f"then VACUUM (FREEZE) {m.schema}.{m.table}",
                schema_name=m.schema, table_name=m.table,
                evidence={"xid_age": m.xid_age, "mxid_age": m.mxid_age, "remaining": WRAP_LIMIT - age,
                          "database_xid_age": snap.database_xid_age, "freeze_max_age": snap.freeze_max_age,
                          "last_autovacuum": m.last_autovacuum})
        db_age = max(snap.database_xid_age or 0, snap.database_mxid_age or 0)
        if not found and db_age >= warn:
            yield ctx.issue(
                "xid_wraparound", self.severity,
                f"database {snap.database}: age(datfrozenxid) {snap.database_xid_age:,} — "
                f"{WRAP_LIMIT - db_age:,} transactions before PostgreSQL refuses writes; no user table is "
                f"that old, so system catalogs hold it back. Fix: VACUUM (FREEZE) the database",
                object_name=snap.database,
                evidence={"database_xid_age": snap.database_xid_age, "database_mxid_age": snap.database_mxid_age,
                          "remaining": WRAP_LIMIT - db_age, "freeze_max_age": snap.freeze_max_age})
