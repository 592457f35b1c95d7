// Shared SQL of the Node service.
export const SESSION_COLUMNS = "s.id, s.ip, s.user_agent, s.created_at";

export const ORG_USERS = `
  SELECT u.id, u.email
  FROM public.users u
  WHERE u.org_id = $1
  ORDER BY u.id`;
