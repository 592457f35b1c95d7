"""Finance reports (psycopg 3, run from the nightly job)."""

from __future__ import annotations

import psycopg

REVENUE_BY_MONTH = """
    SELECT date_trunc('month', i.issued_at) AS month, sum(i.total_cents) AS revenue_cents
    FROM billing.invoices i
    WHERE i.status = 'paid' AND i.issued_at >= %s
    GROUP BY 1
    ORDER BY 1
"""

# overdue_invoices is a CTE, not a table
OVERDUE_BY_ORG = """
    WITH overdue_invoices AS (
        SELECT i.org_id, i.total_cents
        FROM billing.invoices i
        WHERE i.status = 'overdue'
    )
    SELECT o.name, count(*) AS invoices, sum(oi.total_cents) AS total_cents
    FROM overdue_invoices oi
    JOIN public.orgs o ON o.id = oi.org_id
    GROUP BY o.name
    ORDER BY total_cents DESC
"""


def revenue_by_month(cur: psycopg.Cursor, since) -> list[tuple]:
    cur.execute(REVENUE_BY_MONTH, (since,))
    return cur.fetchall()


def overdue_by_org(cur: psycopg.Cursor) -> list[tuple]:
    cur.execute(OVERDUE_BY_ORG)
    return cur.fetchall()


def monthly_recurring_revenue(cur: psycopg.Cursor) -> int:
    cur.execute(
        "SELECT coalesce(sum(CASE WHEN pr.billing_interval = 'year' THEN pr.unit_amount_cents / 12 "
        "ELSE pr.unit_amount_cents END), 0) FROM billing.subscriptions s "
        "JOIN billing.prices pr ON pr.id = s.price_id WHERE s.status = %s",
        ("active",),
    )
    return cur.fetchone()[0]
