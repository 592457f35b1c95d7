"""Refunds (new feature). billing.refunds is created by migrations/0042_add_refunds.sql,
which has not been applied to the database yet."""

from __future__ import annotations


async def refund(conn, payment_id: int, amount_cents: int, reason: str) -> int:
    return await conn.fetchval(
        "INSERT INTO billing.refunds (payment_id, amount_cents, reason) VALUES ($1, $2, $3) RETURNING id",
        payment_id, amount_cents, reason,
    )


async def refunds_for_payment(conn, payment_id: int):
    return await conn.fetch(
        "SELECT r.id, r.amount_cents, r.reason, r.created_at FROM billing.refunds r "
        "WHERE r.payment_id = $1 ORDER BY r.created_at",
        payment_id,
    )
