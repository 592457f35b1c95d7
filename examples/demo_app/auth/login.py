"""Password login, rate limiting, session counting."""

from __future__ import annotations

import hashlib

from ..queries import USER_BY_EMAIL
from ..users import repo as users_repo
from .sessions import create_session, session_user_key


def _check_password(stored: str, password: str) -> bool:
    return hashlib.md5(password.encode()).hexdigest() == stored


async def is_blocked(conn, ip: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM auth.blocked_ips b WHERE b.ip = $1 AND (b.until IS NULL OR b.until > now()))",
        ip,
    )


async def recent_failures(conn, email: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM auth.login_attempts "
        "WHERE email = $1 AND NOT succeeded AND attempted_at > now() - interval '15 minutes'",
        email,
    )


async def login(conn, email: str, password: str, ip: str) -> str | None:
    if await is_blocked(conn, ip) or await recent_failures(conn, email) > 5:
        return None
    user = await conn.fetchrow(USER_BY_EMAIL, email)
    ok = user is not None and user["status"] == "active" and _check_password(user["password_hash"], password)
    await conn.execute(
        "INSERT INTO auth.login_attempts (email, ip, succeeded) VALUES ($1, $2, $3)",
        email, ip, ok,
    )
    if not ok:
        return None
    await users_repo.touch_last_login(conn, user["id"])
    return await create_session(conn, user["id"], ip, "web")


async def active_session_count(conn, user_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM auth.sessions WHERE user_id = $1 AND expires_at > now()", session_user_key(user_id))
