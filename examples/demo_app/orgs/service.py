"""Orgs: settings, teams, invitations, API keys and clients, feature flags, webhooks, audit."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


async def get_org(conn, slug: str):
    return await conn.fetchrow("SELECT id, name, slug, created_at FROM public.orgs WHERE slug = $1", slug)


async def org_settings(conn, org_id: int):
    return await conn.fetchval("SELECT s.settings FROM public.org_settings s WHERE s.org_id = $1", org_id)


async def org_address(conn, org_id: int):
    return await conn.fetchrow(
        "SELECT a.line1, a.city, a.postal_code, a.country_code FROM public.addresses a WHERE a.org_id = $1",
        org_id,
    )


async def teams(conn, org_id: int):
    return await conn.fetch("SELECT t.id, t.name FROM public.teams t WHERE t.org_id = $1 ORDER BY t.name", org_id)


async def team_roster(conn, team_id: int):
    return await conn.fetch(
        """
        SELECT u.id, u.full_name, tm.role
        FROM public.team_members tm
        JOIN public.users u ON u.id = tm.user_id
        WHERE tm.team_id = $1
        ORDER BY tm.role, u.full_name
        """,
        team_id,
    )


async def invite(conn, org_id: int, email: str, invited_by: int, token: str) -> None:
    await conn.execute(
        "INSERT INTO public.invitations (org_id, email, invited_by, token, expires_at) "
        "VALUES ($1, $2, $3, $4, now() + interval '7 days')",
        org_id, email, invited_by, token,
    )


async def pending_invitations(conn, org_id: int):
    return await conn.fetch(
        "SELECT i.email, i.expires_at, u.full_name AS invited_by FROM public.invitations i "
        "JOIN public.users u ON u.id = i.invited_by "
        "WHERE i.org_id = $1 AND i.accepted_at IS NULL AND i.expires_at > now()",
        org_id,
    )


async def api_keys(conn, org_id: int):
    return await conn.fetch(
        "SELECT k.id, k.last_used_at, u.email AS created_by FROM public.api_keys k "
        "JOIN public.users u ON u.id = k.created_by WHERE k.org_id = $1",
        org_id,
    )


async def api_clients(conn, org_id: int):
    return await conn.fetch("SELECT c.id, c.name, c.redirect_uri FROM public.clients c WHERE c.org_id = $1", org_id)


async def enabled_flags(conn, org_id: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT f.key FROM public.org_feature_flags oflag "
        "JOIN public.feature_flags f ON f.id = oflag.flag_id "
        "WHERE oflag.org_id = $1 AND oflag.enabled",
        org_id,
    )
    return [r["key"] for r in rows]


async def enable_flags(conn, org_id: int, flag_ids: list[int]) -> None:
    # a loop over a list argument, not over query results: not an N+1
    for flag_id in flag_ids:
        await conn.execute(
            "INSERT INTO public.org_feature_flags (org_id, flag_id, enabled) VALUES ($1, $2, true) "
            "ON CONFLICT (org_id, flag_id) DO UPDATE SET enabled = true",
            org_id, flag_id,
        )


async def failing_webhooks(conn, org_id: int):
    return await conn.fetch(
        """
        SELECT w.url, d.status_code, d.delivered_at
        FROM public.webhooks w
        JOIN public.webhook_deliveries d ON d.webhook_id = w.id
        WHERE w.org_id = $1 AND d.status_code >= 500
        ORDER BY d.delivered_at DESC
        LIMIT 20
        """,
        org_id,
    )


async def record_audit(conn, user_id: int, action: str, target: str) -> None:
    await conn.execute(
        "INSERT INTO public.audit_log (user_id, action, target) VALUES ($1, $2, $3)",
        user_id, action, target,
    )


async def audit_trail(conn, user_id: int, limit: int = 100):
    return await conn.fetch(
        "SELECT at, action, target FROM public.audit_log WHERE user_id = $1 ORDER BY at DESC LIMIT $2",
        user_id, limit,
    )
