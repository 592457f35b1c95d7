"""Invoices: lookups, search, dunning."""

from __future__ import annotations

from .. import queries

INVOICE_LINES = """
    SELECT l.line_no, l.description, l.quantity, l.amount_cents, p.name AS product
    FROM billing.invoice_lines l
    LEFT JOIN billing.products p ON p.id = l.product_id
    WHERE l.invoice_id = $1
    ORDER BY l.line_no
"""


async def invoice_with_lines(conn, invoice_id: int):
    invoice = await conn.fetchrow(queries.INVOICE_BY_ID, invoice_id)
    lines = await conn.fetch(INVOICE_LINES, invoice_id)
    return invoice, lines


async def org_invoices(conn, org_id: int, status: str):
    return await conn.fetch(
        "SELECT i.id, i.number, i.status, i.total_cents, i.issued_at FROM billing.invoices i "
        "WHERE i.org_id = $1 AND i.status = $2 ORDER BY i.issued_at DESC",
        org_id, status,
    )


async def search_invoices(conn, org_id: int, number_prefix: str):
    return await conn.fetch(f"SELECT i.id, i.number, i.total_cents FROM billing.invoices i WHERE i.org_id = $1 AND i.number LIKE '{number_prefix}%' ORDER BY i.number", org_id)


async def org_balance(conn, org_id: int) -> int:
    return await conn.fetchval("SELECT billing.org_balance($1)", org_id)


async def start_dunning(conn) -> int:
    overdue = await conn.fetch("SELECT i.id, i.org_id FROM billing.invoices i WHERE i.status = 'overdue'")
    for invoice in overdue:
        await conn.execute("INSERT INTO billing.dunning_attempts (invoice_id, result) VALUES ($1, 'queued')", invoice["id"])
    return len(overdue)


async def dunning_history(conn, invoice_id: int):
    return await conn.fetch(
        "SELECT d.attempted_at, d.result FROM billing.dunning_attempts d WHERE d.invoice_id = $1 ORDER BY d.attempted_at",
        invoice_id,
    )
