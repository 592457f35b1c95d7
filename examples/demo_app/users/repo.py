"""Users: lookups, sign-up, profile."""

from __future__ import annotations

from .. import queries
from ..queries import ORG_MEMBERS


async def get_user(conn, user_id: int):
    return await conn.fetchrow(queries.USER_BY_ID, user_id)


async def find_by_email(conn, email: str):
    return await conn.fetchrow(queries.USER_BY_EMAIL, email)


async def list_org_members(conn, org_id: int):
    return await conn.fetch(ORG_MEMBERS, org_id)


async def active_members(conn, org_id: int):
    # public.active_users is a view
    return await conn.fetch(
        "SELECT au.id, au.email, au.full_name FROM public.active_users au WHERE au.org_id = $1",
        org_id,
    )


async def create_user(conn, org_id: int, email: str, full_name: str, locale: str = "en") -> int:
    return await conn.fetchval(
        "INSERT INTO public.users (org_id, email, full_name, locale) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        org_id, email, full_name, locale,
    )


async def rename(conn, user_id: int, full_name: str) -> None:
    await conn.execute("UPDATE public.users SET full_name = $2 WHERE id = $1", user_id, full_name)


async def touch_last_login(conn, user_id: int) -> None:
    # last_login_at comes with migrations/0041_users_last_login_at.sql, not applied yet
    await conn.execute("UPDATE public.users SET last_login_at = now() WHERE id = $1", user_id)


async def recently_active(conn, org_id: int, limit: str = "50"):
    # int(limit) feeds LIMIT, not a column: not a cast workaround
    return await conn.fetch("SELECT id, email, last_login_at FROM public.users WHERE org_id = $1 AND last_login_at IS NOT NULL ORDER BY last_login_at DESC LIMIT $2", org_id, int(limit))


async def roles_of(conn, user_id: int):
    return await conn.fetch(
        """
        SELECT r.name, p.code AS permission
        FROM public.user_roles ur
        JOIN public.roles r ON r.id = ur.role_id
        JOIN public.role_permissions rp ON rp.role_id = r.id
        JOIN public.permissions p ON p.id = rp.permission_id
        WHERE ur.user_id = $1
        ORDER BY r.name, p.code
        """,
        user_id,
    )


async def unread_notifications(conn, user_id: int):
    return await conn.fetch(
        "SELECT n.id, n.kind, n.payload, n.created_at FROM public.notifications n "
        "WHERE n.user_id = $1 AND n.read_at IS NULL ORDER BY n.created_at DESC LIMIT 50",
        user_id,
    )
