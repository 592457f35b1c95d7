"""Event tracking and page views (the hot path: asyncpg, no ORM)."""

from __future__ import annotations

import json

TRACK_SQL = "INSERT INTO analytics.events (user_id, org_id, name, properties) VALUES ($1, $2, $3, $4)"


async def track(conn, user_id: int, org_id: int, name: str, properties: dict) -> None:
    await conn.execute(TRACK_SQL, user_id, org_id, name, json.dumps(properties))


async def track_many(conn, rows: list[tuple]) -> None:
    await conn.executemany(TRACK_SQL, rows)


async def user_timeline(conn, user_id: int, limit: int = 100):
    return await conn.fetch(
        "SELECT e.name, e.properties, e.occurred_at FROM analytics.events e "
        "WHERE e.user_id = $1 ORDER BY e.occurred_at DESC LIMIT $2",
        user_id, limit,
    )


async def org_activity(conn, org_id: int, since):
    return await conn.fetch(
        "SELECT e.name, count(*) AS n FROM analytics.events e "
        "WHERE e.org_id = $1 AND e.occurred_at >= $2 GROUP BY e.name ORDER BY n DESC",
        org_id, since,
    )


async def recent_signups(conn, org_id: int, since):
    # events.user_id has no FK, but every value is a real users.id of the same type
    return await conn.fetch(
        """
        SELECT u.email, e.occurred_at
        FROM analytics.events e
        JOIN public.users u ON u.id = e.user_id
        WHERE e.org_id = $1 AND e.name = 'signup' AND e.occurred_at >= $2
        ORDER BY e.occurred_at DESC
        """,
        org_id, since,
    )


async def record_page_view(conn, org_id: int, path: str, referrer: str | None, client_id: int) -> None:
    await conn.execute(
        "INSERT INTO analytics.page_views (org_id, path, referrer, client_id) VALUES ($1, $2, $3, $4)",
        org_id, path, referrer, client_id,
    )


async def top_pages(conn, org_id: int):
    return await conn.fetch(
        "SELECT pv.path, count(*) AS views FROM analytics.page_views pv "
        "WHERE pv.org_id = $1 GROUP BY pv.path ORDER BY views DESC LIMIT 10",
        org_id,
    )


async def assign_variant(conn, experiment_id: int, user_id: int, variant_id: int) -> None:
    await conn.execute(
        "INSERT INTO analytics.experiment_assignments (experiment_id, user_id, variant_id) "
        "VALUES ($1, $2, $3) ON CONFLICT (experiment_id, user_id) DO NOTHING",
        experiment_id, user_id, variant_id,
    )
