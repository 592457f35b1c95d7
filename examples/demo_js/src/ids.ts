// auth.sessions.user_id is text while public.users.id is an integer: this helper papers over it.
export const sessionUserKey = (userId: number): string => String(userId);
