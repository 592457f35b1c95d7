"""Identities, password resets, MFA, e-mail verification, OAuth grants."""

from __future__ import annotations


async def user_for_identity(conn, provider: str, provider_uid: str):
    return await conn.fetchrow(
        """
        SELECT u.id, u.email
        FROM auth.identities i
        JOIN public.users u ON u.id = i.user_id
        WHERE i.provider = $1 AND i.provider_uid = $2
        """,
        provider, provider_uid,
    )


async def start_password_reset(conn, user_id: int, token_hash: str) -> None:
    await conn.execute(
        "INSERT INTO auth.password_resets (user_id, token_hash, expires_at) "
        "VALUES ($1, $2, now() + interval '1 hour')",
        user_id, token_hash,
    )


async def finish_password_reset(conn, token_hash: str) -> int | None:
    return await conn.fetchval(
        "UPDATE auth.password_resets SET used_at = now() "
        "WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id",
        token_hash,
    )


async def mfa_factors(conn, user_id: int):
    return await conn.fetch("SELECT id, kind, created_at FROM auth.mfa_factors WHERE user_id = $1", user_id)


async def verify_email(conn, token: str) -> None:
    await conn.execute(
        "UPDATE auth.email_verifications SET verified_at = now() WHERE token = $1 AND verified_at IS NULL",
        token,
    )


async def app_grants(conn, user_id: int):
    return await conn.fetch(
        "SELECT a.name, g.scopes, g.granted_at FROM auth.oauth_grants g "
        "JOIN auth.oauth_apps a ON a.id = g.app_id WHERE g.user_id = $1",
        user_id,
    )
