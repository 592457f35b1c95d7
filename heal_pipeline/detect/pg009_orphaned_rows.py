"""orphaned_rows: child values with no parent row."""

from __future__ import annotations

from typing import Iterable

import psycopg
from psycopg import sql

from ..errors import first_line
from ..model import Issue
from .base import Check, DetectContext, examined_schema, register
from .relationships import infer


ORPHAN_SHARE_CRITICAL = 0.10  # ≥ 10 % of the non-null child values have no parent
ORPHAN_SHARE_WARNING = 0.001  # ≥ 0.1 %; below: info (a few stragglers)


def orphan_severity(orphans: int, checked: int, certain: bool) -> str:
    """Severity from the orphan share; a relationship inferred from naming + data alone is capped at
    warning (the more orphans, the less the data itself proves the relationship)."""
    share = orphans / checked if checked else 1.0
    if share >= ORPHAN_SHARE_CRITICAL:
        return "critical" if certain else "warning"
    return "warning" if share >= ORPHAN_SHARE_WARNING else "info"


def count_orphans(conn: psycopg.Connection, child: tuple[str, str], ccols: tuple[str, ...],
                  parent: tuple[str, str], pcols: tuple[str, ...], timeout_ms: int
                  ) -> tuple[int | None, int, list[str], str | None]:
    """(orphans, non-null child rows, sample, error) with an anti-join under statement_timeout;
    orphans None on timeout."""
    notnull = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in ccols)
    match = sql.SQL(" AND ").join(
        sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c)) for c, p in zip(ccols, pcols))
    orphan = sql.SQL("NOT EXISTS (SELECT 1 FROM {pt} p WHERE {m})").format(pt=sql.Identifier(*parent), m=match)
    where = sql.SQL("{nn} AND {o}").format(nn=notnull, o=orphan)
    label = sql.SQL(" || ',' || ").join(sql.SQL("c.{}::text").format(sql.Identifier(c)) for c in ccols)
    try:
        conn.execute("SAVEPOINT heal_orphans")
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
        # two statements: an anti-join the planner runs as a hash anti join, and a plain count (one
        # FILTER (WHERE NOT EXISTS …) would run the subquery once per row: 200 ms on the demo's 6,000 rows)
        n = conn.execute(sql.SQL("SELECT count(*) FROM {ct} c WHERE {w}").format(
            ct=sql.Identifier(*child), w=where)).fetchone()[0]
        total = conn.execute(sql.SQL("SELECT count(*) FROM {ct} c WHERE {nn}").format(
            ct=sql.Identifier(*child), nn=notnull)).fetchone()[0] if n else 0
        sample = [r[0] for r in conn.execute(sql.SQL(
            "SELECT DISTINCT {l} FROM {ct} c WHERE {w} ORDER BY 1 LIMIT 5").format(
                l=label, ct=sql.Identifier(*child), w=where)).fetchall()] if n else []
        conn.execute("RELEASE SAVEPOINT heal_orphans")
        return n, total, sample, None
    except psycopg.Error as exc:
        conn.execute("ROLLBACK TO SAVEPOINT heal_orphans")
        return None, 0, [], first_line(exc)


@register
class OrphanedRows(Check):
    """Child rows whose reference points at no parent row.

    Checked for NOT VALID foreign keys (declared but never validated) and for strong implicit
    relationships whose column types are equal (a mismatched pair is a type_mismatch first). A
    relationship from naming + data is strong from 50 % containment (relationships.py), so a column
    with many orphans is examined instead of hidden; the orphan share drives the severity: ≥ 10 % of
    the non-null values → critical (warning when the relationship rests on naming + data alone),
    ≥ 0.1 % → warning, fewer → info. The count is an anti-join under ``statement_timeout``: a
    relationship that times out is reported as not checked, never as clean.

    Anti-pattern::

        ALTER TABLE comments ADD CONSTRAINT comments_post_fk FOREIGN KEY (post_id)
            REFERENCES posts (id) NOT VALID;  -- and never validated

    Best practice::

        -- move orphans to a quarantine table, then
        ALTER TABLE comments VALIDATE CONSTRAINT comments_post_fk;
    """

    issue_type = "orphaned_rows"
    code = "PG009"
    name = "data.orphaned_rows"
    severity = "warning"
    fixable = True
    needs = ("snapshot", "code", "data")

    def detect(self, ctx: DetectContext) -> Iterable[Issue]:
        snap = ctx.snapshot
        timeout = ctx.thresholds.orphan_timeout_ms
        if ctx.code is None:
            ctx.not_checked("orphaned_rows", "code not scanned: relationships known only from code not checked")
        candidates = []
        for con in snap.constraints:
            if con.kind == "foreign_key" and not con.validated and examined_schema(con.schema):
                candidates.append(((con.schema, con.table), con.columns,
                                   (con.ref_schema, con.ref_table), con.ref_columns, con.name, None, None))
        for rel in infer(ctx):
            if not rel.strong:
                continue
            ca, cb = snap.column(*rel.child), snap.column(*rel.parent)
            if ca is None or cb is None or ca.data_type != cb.data_type:
                continue
            candidates.append((rel.child[:2], (rel.child[2],), rel.parent[:2], (rel.parent[2],),
                               None, rel.sources, rel))
        with ctx.data() as conn:
            if conn is None:
                if candidates:
                    ctx.not_checked("orphaned_rows", "no data connection to count orphans")
                return
            for child, ccols, parent, pcols, con_name, sources, rel in candidates:
                n, checked, sample, err = count_orphans(conn, child, ccols, parent, pcols, timeout)
                if n is None:
                    ctx.not_checked("orphaned_rows", f"{'.'.join(child)}({', '.join(ccols)}): {err}")
                    continue
                if n == 0:
                    continue
                via = f"NOT VALID FK {con_name}" if con_name else "implicit relationship"
                certain = con_name is not None or (rel is not None and rel.has_code)
                share = n / checked if checked else 1.0
                yield ctx.issue(
                    "orphaned_rows", orphan_severity(n, checked, certain),
                    f"{n} of {checked} row(s) ({share:.1%}) of {'.'.join(child)} have {', '.join(ccols)} "
                    f"with no row in {'.'.join(parent)} ({via}); e.g. {', '.join(sample[:3])}",
                    schema_name=child[0], table_name=child[1], column_name=ccols[0],
                    evidence={"parent": {"schema": parent[0], "table": parent[1], "column": pcols[0]},
                              "orphans": n, "rows_checked": checked, "orphan_share": round(share, 6),
                              "timed_out": False, "constraint": con_name,
                              "sample": sample, "columns": list(ccols),
                              "parent_columns": list(pcols), "sources": sources or [],
                              "relationship": rel.strength() if rel is not None else {"declared_fk": con_name}})
