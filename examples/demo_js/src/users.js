// User listings of the Node service, in plain JavaScript.
import { pool } from "./db";
import { ORG_USERS } from "./queries";

export async function orgActivity(orgId) {
  const { rows } = await pool.query(ORG_USERS, [orgId]);
  const out = [];
  for (const u of rows) {
    const r = await pool.query("SELECT count(*) AS n FROM auth.sessions WHERE user_id = $1", [u.id]);
    out.push({ id: u.id, sessions: r.rows[0].n });
  }
  return out;
}

export async function usersByEmailPrefix(prefix) {
  const { rows } = await pool.query("SELECT id, email FROM public.users WHERE email LIKE '" + prefix + "%'");
  return rows;
}

export async function userEmails() {
  const { rows } = await pool.query("SELECT id, email FORM public.users");
  return rows;
}
