// Session lookups of the Node service (the original design's example lives here).
import { pool, sql } from "./db";
import { sessionUserKey } from "./ids";
import { SESSION_COLUMNS } from "./queries";

export async function sessionsOf(userId: string) {
  const { rows } = await pool.query(`SELECT ${SESSION_COLUMNS} FROM auth.sessions s WHERE user_id = ${parseInt(userId)}`);
  return rows;
}

export async function touchSession(userId: number, token: string) {
  await sql`UPDATE auth.sessions SET expires_at = now() + interval '30 days' WHERE user_id = ${sessionUserKey(userId)} AND token = ${token}`;
}

export async function sessionUser(token: string) {
  const [user] = await sql`
    SELECT u.id, u.email
    FROM auth.sessions s
    JOIN public.users u ON s.user_id = u.id::text
    WHERE s.token = ${token}`;
  return user;
}

export async function revokeSessions(userId: number) {
  await pool.query("DELETE FROM auth.sessions WHERE user_id = $1", [userId.toString()]);
}

export async function recentSessions(token: string, limit: string) {
  // parseInt here converts a LIMIT, bound to no column: not a workaround
  return sql`SELECT s.id, s.created_at FROM auth.sessions s WHERE s.token = ${token} LIMIT ${parseInt(limit, 10)}`;
}
