"""Pages, menus, categories, media library and newsletters."""

from __future__ import annotations


async def page(conn, org_id: int, slug: str):
    return await conn.fetchrow(
        "SELECT p.id, p.title, p.body FROM content.pages p WHERE p.org_id = $1 AND p.slug = $2",
        org_id, slug,
    )


async def page_titles(conn, org_id: int):
    return await conn.fetch("SELCT p.id, p.title FROM content.pages p WHERE p.org_id = $1 ORDER BY p.title", org_id)


async def menu(conn, menu_id: int):
    return await conn.fetch(
        """
        SELECT mi.label, mi.position, pg.slug
        FROM content.menu_items mi
        LEFT JOIN content.pages pg ON pg.id = mi.page_id
        WHERE mi.menu_id = $1
        ORDER BY mi.position
        """,
        menu_id,
    )


async def menus(conn, org_id: int):
    return await conn.fetch("SELECT m.id, m.name FROM content.menus m WHERE m.org_id = $1", org_id)


async def category_tree(conn, org_id: int):
    return await conn.fetch(
        """
        WITH RECURSIVE tree AS (
            SELECT c.id, c.name, c.parent_id, 1 AS depth
            FROM content.categories c
            WHERE c.org_id = $1 AND c.parent_id IS NULL
            UNION ALL
            SELECT child.id, child.name, child.parent_id, tree.depth + 1
            FROM content.categories child
            JOIN tree ON child.parent_id = tree.id
        )
        SELECT id, name, parent_id, depth FROM tree ORDER BY depth, name
        """,
        org_id,
    )


async def media_library(conn, org_id: int):
    return await conn.fetch(
        "SELECT md.id, md.url, md.mime_type, md.bytes, u.full_name AS uploaded_by FROM content.media md "
        "JOIN public.users u ON u.id = md.uploaded_by WHERE md.org_id = $1 ORDER BY md.id DESC",
        org_id,
    )


async def media_for_post(conn, post_id: int):
    return await conn.fetch(
        "SELECT md.url, pm.position FROM content.post_media pm JOIN content.media md ON md.id = pm.media_id "
        "WHERE pm.post_id = $1 ORDER BY pm.position",
        post_id,
    )


async def newsletter_audience(conn, org_id: int):
    return await conn.fetch(
        "SELECT s.email FROM content.subscribers s WHERE s.org_id = $1 AND s.confirmed",
        org_id,
    )


async def sent_newsletters(conn, org_id: int):
    return await conn.fetch(
        "SELECT n.id, n.subject, n.sent_at FROM content.newsletters n WHERE n.org_id = $1 AND n.sent_at IS NOT NULL",
        org_id,
    )


async def subscribe(conn, org_id: int, email: str) -> None:
    await conn.execute(
        "INSERT INTO content.subscribers (org_id, email) VALUES ($1, $2) ON CONFLICT (org_id, email) DO NOTHING",
        org_id, email,
    )
