"""Comments. content.comments.author_id has no foreign key (it was dropped during a
migration to another database and never restored)."""

from __future__ import annotations


async def comments_for_post(conn, post_id: int):
    return await conn.fetch(
        """
        SELECT c.id, c.body, c.created_at, u.full_name AS author
        FROM content.comments c
        JOIN public.users u ON u.id = c.author_id
        WHERE c.post_id = $1
        ORDER BY c.created_at
        """,
        post_id,
    )


async def add_comment(conn, post_id: int, author_id: int, body: str) -> int:
    return await conn.fetchval(
        "INSERT INTO content.comments (post_id, author_id, body) VALUES ($1, $2, $3) RETURNING id",
        post_id, author_id, body,
    )


async def delete_comment(conn, comment_id: int, author_id: int) -> None:
    await conn.execute("DELETE FROM content.comments WHERE id = $1 AND author_id = $2", comment_id, author_id)
