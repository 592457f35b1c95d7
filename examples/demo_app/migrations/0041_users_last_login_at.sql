-- 0041: remember the last successful login (used by users/repo.py).
ALTER TABLE public.users ADD COLUMN last_login_at timestamptz;
