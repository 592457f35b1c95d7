"""Blog posts: listing, authoring, tagging, search."""

from __future__ import annotations

from ..queries import PUBLISHED_POSTS

POSTS_TABLE = "content.posts"


async def published_posts(conn, org_id: int, limit: int = 20):
    return await conn.fetch(PUBLISHED_POSTS, org_id, limit)


async def post_by_slug(conn, org_id: int, slug: str):
    return await conn.fetchrow(
        """
        SELECT p.id, p.title, p.body, p.published_at, u.full_name AS author
        FROM content.posts p
        JOIN public.users u ON u.id = p.author_id
        WHERE p.org_id = $1 AND p.slug = $2
        """,
        org_id, slug,
    )


async def count_posts(conn, org_id: int) -> int:
    # the f-string hole is a module constant: the SQL text is fixed, not a finding
    return await conn.fetchval(f"SELECT count(*) FROM {POSTS_TABLE} WHERE org_id = $1", org_id)


async def create_post(conn, org_id: int, author_id: int, title: str, slug: str, body: str) -> int:
    return await conn.fetchval(
        "INSERT INTO content.posts (org_id, author_id, title, slug, body) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        org_id, author_id, title, slug, body,
    )


async def publish(conn, post_id: int) -> None:
    await conn.execute(
        "UPDATE content.posts SET status = 'published', published_at = now() WHERE id = $1",
        post_id,
    )


async def save_revision(conn, post_id: int, editor_id: int, body: str) -> None:
    await conn.execute(
        "INSERT INTO content.post_revisions (post_id, editor_id, body) VALUES ($1, $2, $3)",
        post_id, editor_id, body,
    )


async def revisions(conn, post_id: int):
    return await conn.fetch(
        "SELECT r.id, r.created_at, u.full_name AS editor FROM content.post_revisions r "
        "JOIN public.users u ON u.id = r.editor_id WHERE r.post_id = $1 ORDER BY r.created_at DESC",
        post_id,
    )


async def tag_post(conn, post_id: int, tag_id: int) -> None:
    await conn.execute(
        "INSERT INTO content.post_tags (post_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        post_id, tag_id,
    )


async def posts_by_tag(conn, org_id: int, tag_name: str):
    return await conn.fetch(
        """
        SELECT p.id, p.title
        FROM content.tags t
        JOIN content.post_tags pt ON pt.tag_id = t.id
        JOIN content.posts p ON p.id = pt.post_id
        WHERE t.org_id = $1 AND t.name = $2
        ORDER BY p.published_at DESC
        """,
        org_id, tag_name,
    )


async def search_posts(conn, org_id: int, term: str):
    return await conn.fetch("SELECT p.id, p.title FROM content.posts p WHERE p.org_id = $1 AND p.title ILIKE '%{}%' ORDER BY p.id".format(term), org_id)


async def posts_published_on(conn, org_id: int, day):
    # ::date truncates a timestamp; it bridges no type mismatch
    return await conn.fetch(
        "SELECT p.id, p.title FROM content.posts p WHERE p.org_id = $1 AND p.published_at::date = $2",
        org_id, day,
    )


async def attach_media(conn, post_id: int, media_id: int, position: int = 0) -> None:
    await conn.execute(
        "INSERT INTO content.post_media (post_id, media_id, position) VALUES ($1, $2, $3)",
        post_id, media_id, position,
    )
