"""Sessions.

auth.sessions.user_id is text (the sessions table predates the integer user ids), while
public.users.id is an integer. Every query here papers over that with a cast.
"""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger(__name__)


def session_user_key(user_id: int) -> str: return str(user_id)


async def create_session(conn, user_id: int, ip: str, user_agent: str) -> str:
    token = secrets.token_hex(32)
    await conn.execute("INSERT INTO auth.sessions (user_id, token, ip, user_agent, expires_at) VALUES ($1, $2, $3, $4, now() + interval '30 days')", session_user_key(user_id), token, ip, user_agent)
    return token


async def get_session_user(conn, token: str):
    return await conn.fetchrow("SELECT u.id, u.email, u.org_id FROM auth.sessions s JOIN public.users u ON s.user_id = u.id::text WHERE s.token = $1 AND s.expires_at > now()", token)


async def list_sessions(conn, user_id: int):
    return await conn.fetch("SELECT s.id, s.ip, s.user_agent, s.created_at FROM auth.sessions s WHERE s.user_id = $1 ORDER BY s.created_at DESC", str(user_id))


async def revoke_all(conn, user_id: int) -> None:
    await conn.execute("DELETE FROM auth.sessions WHERE user_id = $1::text", user_id)


async def purge_expired(conn) -> None:
    status = await conn.execute("DELETE FROM auth.sessions WHERE expires_at < now()")
    # a log message that looks like SQL; nothing runs it
    log.info("SELECT * FROM auth.legacy_tokens is gone, purged sessions instead: %s", status)
