"""schema_drift: the live database differs from what its migration files build (shadow database)."""

from __future__ import annotations

from typing import Iterable

from ..model import Issue
from .base import Check, DetectContext, register


def seed_shadow_server(ctx: DetectContext, admin_dsn: str | None) -> None:
    """Where the shadow database may be built: the heal store server (never the target)."""
    ctx.memo("shadow_admin_dsn", lambda: admin_dsn)


def shadow_result(ctx: DetectContext):
    """(shadow, drift rows, statements ok on live but rejected on the shadow) or None (not checked)."""
    def build():
        admin = ctx._cache.get("shadow_admin_dsn")
        if not ctx.migrations_dirs:
            return None
        if not admin:
            ctx.not_checked("schema_drift", "no heal store server to build the shadow database on")
            return None
        from ..errors import HealError  # noqa: PLC0415
        from ..verify import changed, verify_statements  # noqa: PLC0415
        from ..verify.shadow import schema_drift, shadow_database  # noqa: PLC0415
        from .pg011_broken_statement import statement_checks  # noqa: PLC0415

        try:
            with shadow_database(admin, list(ctx.migrations_dirs)) as shadow:
                rows = schema_drift(shadow.snapshot, ctx.snapshot)
                broken = []
                live = statement_checks(ctx) if ctx.code is not None and ctx.connect is not None else None
                if live is not None:
                    from ..db import connect  # noqa: PLC0415

                    with connect(shadow.dsn, purpose="shadow database") as conn:
                        on_shadow = verify_statements(conn, ctx.code.statements)
                    broken = [after for _before, after in changed(live, on_shadow)]
                return shadow, rows, broken
        except HealError as exc:
            ctx.not_checked("schema_drift", str(exc))
            return None
    return ctx.memo("shadow", build)


@register
class SchemaDrift(Check):
    """The live database differs from the schema its migration files build.

    heal applies the migration files, in order, to a scratch database on the heal store server
    (never the target), snapshots it and compares: tables, columns (type, nullability, default,
    identity, generation), indexes, constraints and views present on one side only or defined
    differently — both definitions in the evidence. A migration file that does not apply is
    reported with file:line and the server's error. A hand-made change on production that no
    migration records is lost at the next rebuild; a migration that never ran leaves code broken.

    Anti-pattern::

        -- on production, by hand:
        ALTER TABLE users ALTER COLUMN email TYPE text;   -- migrations still say varchar(100)

    Best practice::

        -- migrations/0043_email_text.sql
        ALTER TABLE users ALTER COLUMN email TYPE text;
    """

    issue_type = "schema_drift"
    code = "PG014"
    name = "schema.schema_drift"
    severity = "warning"
    fixable = False
    needs = ("snapshot", "migrations", "shadow")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        got = shadow_result(ctx)
        if got is None:
            return
        shadow, rows, broken = got
        for f in shadow.failures:
            yield ctx.issue(
                "schema_drift", self.severity,
                f"migration {f['file']}:{f['line'] or '?'} does not apply: {f['message']} (SQLSTATE {f['sqlstate']})",
                file=f["file"], line=f["line"], object_name="migration",
                evidence={"kind": "migration_failed", "sqlstate": f["sqlstate"], "message": f["message"]})
        for r in rows:
            what = {"only_in_live": "exists in the database but no migration creates it",
                    "only_in_migrations": "is created by the migrations but missing from the database",
                    "differs": "is defined differently in the database than in the migrations"}[r["change"]]
            table = r["table"] if r["kind"] != "table" else r["name"]
            hit = [{"file": c.file, "line": c.line, "sqlstate": c.sqlstate, "message": c.message}
                   for c in broken if table in c.sql]
            yield ctx.issue(
                "schema_drift", self.severity, f"{r['kind']} {r['object']} {what}",
                schema_name=r["schema"], table_name=table,
                column_name=r["name"] if r["kind"] == "column" else None,
                object_name=f"{r['kind']}:{r['name']}",
                evidence={"kind": r["kind"], "change": r["change"], "migrations": r["migrations"],
                          "live": r["live"], "statements_rejected_on_migrations": hit[:20]})
