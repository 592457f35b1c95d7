"""Per-user preferences. The table comes from the old Rails app: mixed-case name, a column
with a space in it. Legal identifiers, quoted everywhere."""

from __future__ import annotations

PREFS_SQL = 'SELECT p.theme, p."display name", p."emailDigest" FROM public."UserPreferences" p WHERE p.user_id = $1'

UPSERT_THEME_SQL = """
    INSERT INTO public."UserPreferences" (user_id, theme)
    VALUES ($1, $2)
    ON CONFLICT (user_id) DO UPDATE SET theme = EXCLUDED.theme
"""


async def get_preferences(conn, user_id: int):
    return await conn.fetchrow(PREFS_SQL, user_id)


async def set_theme(conn, user_id: int, theme: str) -> None:
    await conn.execute(UPSERT_THEME_SQL, user_id, theme)


async def set_display_name(conn, user_id: int, name: str) -> None:
    await conn.execute('UPDATE public."UserPreferences" SET "display name" = $2 WHERE user_id = $1', user_id, name)
