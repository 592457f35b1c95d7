-- heal demo estate, part 5: DDL applied after the warm-up workload.
--
-- planted duplicate_index (identical): a later migration added the same index on
-- public.users (org_id) again under another name. It is created after the workload so that
-- the original, idx_users_org, is the one the planner has been using (idx_scan > 0) and
-- this one is the redundant copy (the later name in sort order, the one to drop).
CREATE INDEX users_org_id_idx ON public.users (org_id);

-- planted duplicate_index (prefix): org_id alone is a leading prefix of
-- subscriptions_org_status_idx (org_id, status), which covers every query this one could.
CREATE INDEX subscriptions_org_id_idx ON billing.subscriptions (org_id);

-- planted duplicate_index (identical UNIQUE, issue 12.6): a later migration enforced the unique
-- e-mail a second time with a plain unique index. Both enforce the same rule; the constraint's index
-- users_email_key is kept (even though users_email_idx sorts first) and this one is the one to drop.
CREATE UNIQUE INDEX users_email_idx ON public.users (email);
