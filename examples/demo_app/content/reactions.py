"""Post reactions (work in progress: the table has not been created anywhere yet)."""

from __future__ import annotations


async def react(conn, post_id: int, user_id: int, kind: str) -> None:
    await conn.execute(
        "INSERT INTO content.post_reactions (post_id, user_id, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        post_id, user_id, kind,
    )


async def reaction_counts(conn, post_id: int):
    return await conn.fetch(
        "SELECT r.kind, count(*) AS n FROM content.post_reactions r WHERE r.post_id = $1 GROUP BY r.kind",
        post_id,
    )
