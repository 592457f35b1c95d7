"""Subscriptions, usage-based billing, coupons and credits."""

from __future__ import annotations

ACTIVE_SUBSCRIPTION = """
    SELECT s.id, s.status, pr.unit_amount_cents, pr.currency, pr.billing_interval, prod.name AS product
    FROM billing.subscriptions s
    JOIN billing.prices pr ON pr.id = s.price_id
    JOIN billing.products prod ON prod.id = pr.product_id
    WHERE s.org_id = $1 AND s.status = 'active'
"""


async def active_subscription(conn, org_id: int):
    return await conn.fetchrow(ACTIVE_SUBSCRIPTION, org_id)


async def record_usage(conn, subscription_id: int, metric: str, quantity: int) -> None:
    await conn.execute(
        "INSERT INTO billing.usage_records (subscription_id, metric, quantity) VALUES ($1, $2, $3)",
        subscription_id, metric, quantity,
    )


async def usage_summary(conn, subscription_id: int, since):
    return await conn.fetch(
        "SELECT metric, sum(quantity) AS total FROM billing.usage_records "
        "WHERE subscription_id = $1 AND recorded_at >= $2 GROUP BY metric ORDER BY metric",
        subscription_id, since,
    )


async def redeem_coupon(conn, code: str, org_id: int) -> int | None:
    coupon = await conn.fetchrow(
        "SELECT id, percent_off FROM billing.coupons WHERE code = $1 AND (valid_until IS NULL OR valid_until >= current_date)",
        code,
    )
    if coupon is None:
        return None
    await conn.execute(
        "INSERT INTO billing.coupon_redemptions (coupon_id, org_id) VALUES ($1, $2)",
        coupon["id"], org_id,
    )
    return coupon["percent_off"]


async def add_credit(conn, org_id: int, amount_cents: int, reason: str) -> None:
    await conn.execute(
        "INSERT INTO billing.credits (org_id, amount_cents, reason) VALUES ($1, $2, $3)",
        org_id, amount_cents, reason,
    )
