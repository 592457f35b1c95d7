"""Payments and payment methods."""

from __future__ import annotations


async def record_payment(conn, invoice_id: int, method_id: int, amount_cents: int) -> None:
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO billing.payments (invoice_id, method_id, amount_cents) VALUES ($1, $2, $3)",
            invoice_id, method_id, amount_cents,
        )
        await conn.execute("UPDATE billing.invoices SET status = 'paid' WHERE id = $1", invoice_id)


async def payments_for_org(conn, org_id: int):
    return await conn.fetch(
        """
        SELECT p.id, i.number, p.amount_cents, p.status, p.paid_at, m.kind, m.last4
        FROM billing.payments p
        JOIN billing.invoices i ON i.id = p.invoice_id
        LEFT JOIN billing.payment_methods m ON m.id = p.method_id
        WHERE i.org_id = $1
        ORDER BY p.paid_at DESC
        """,
        org_id,
    )


async def payment_methods(conn, org_id: int):
    return await conn.fetch(
        "SELECT id, kind, last4, exp_month, exp_year FROM billing.payment_methods WHERE org_id = $1",
        org_id,
    )
