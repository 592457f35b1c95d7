-- heal demo estate, part 2: rows. Deterministic (no random()): the same build gives the
-- same estate. Timestamps are anchored at 2025-01-01 UTC.

-- ---------------------------------------------------------------- public
INSERT INTO public.orgs (id, name, slug, created_at)
SELECT g, 'Org ' || g, 'org-' || g, timestamptz '2023-01-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 200) AS g;

INSERT INTO public.locales (code, name) VALUES
    ('en', 'English'), ('en-US', 'English (US)'), ('en-GB', 'English (UK)'), ('de', 'Deutsch'),
    ('fr', 'Francais'), ('es', 'Espanol'), ('it', 'Italiano'), ('nl', 'Nederlands'),
    ('pt-BR', 'Portugues (Brasil)'), ('ja', 'Japanese');

INSERT INTO public.countries (code, name) VALUES
    ('US', 'United States'), ('GB', 'United Kingdom'), ('DE', 'Germany'), ('FR', 'France'),
    ('ES', 'Spain'), ('IT', 'Italy'), ('NL', 'Netherlands'), ('BR', 'Brazil'), ('JP', 'Japan'),
    ('CA', 'Canada'), ('AU', 'Australia'), ('IE', 'Ireland'), ('SE', 'Sweden'), ('NO', 'Norway'),
    ('DK', 'Denmark'), ('FI', 'Finland'), ('PL', 'Poland'), ('PT', 'Portugal'), ('AT', 'Austria'),
    ('CH', 'Switzerland'), ('BE', 'Belgium'), ('MX', 'Mexico'), ('AR', 'Argentina'),
    ('IN', 'India'), ('SG', 'Singapore'), ('NZ', 'New Zealand'), ('ZA', 'South Africa'),
    ('KR', 'South Korea'), ('CZ', 'Czechia'), ('HU', 'Hungary');

INSERT INTO public.users (id, org_id, email, full_name, password_hash, locale, status, created_at, updated_at)
SELECT g, 1 + (g - 1) % 200, 'user' || g || '@example.com', 'User ' || g, md5('pw' || g),
       (ARRAY['en', 'en-US', 'en-GB', 'de', 'fr', 'es', 'it', 'nl', 'pt-BR', 'ja'])[1 + g % 10],
       CASE WHEN g % 17 = 0 THEN 'disabled' WHEN g % 23 = 0 THEN 'invited' ELSE 'active' END,
       timestamptz '2024-01-01 00:00+00' + g * interval '3 hours',
       timestamptz '2024-01-01 00:00+00' + g * interval '3 hours'
FROM generate_series(1, 2000) AS g;

INSERT INTO public.addresses (id, org_id, line1, city, postal_code, country_code)
SELECT g, 1 + (g - 1) % 200, g || ' Main Street', 'City ' || (g % 40), lpad((g * 37 % 99999)::text, 5, '0'),
       (ARRAY['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'BR', 'JP', 'CA'])[1 + g % 10]
FROM generate_series(1, 300) AS g;

INSERT INTO public.org_settings (org_id, settings)
SELECT g, jsonb_build_object('timezone', 'UTC', 'seats', 10 + g % 50)
FROM generate_series(1, 200) AS g;

INSERT INTO public.teams (id, org_id, name)
SELECT g, 1 + (g - 1) % 200, 'Team ' || ((g - 1) / 200 + 1)
FROM generate_series(1, 400) AS g;

-- team t belongs to org 1 + (t-1) % 200; its members are users of the same org.
INSERT INTO public.team_members (team_id, user_id, role)
SELECT t, ((t - 1) % 200 + 1) + 200 * k, CASE WHEN k = 0 THEN 'lead' ELSE 'member' END
FROM generate_series(1, 400) AS t, generate_series(0, 5) AS k;

INSERT INTO public.roles (id, name) VALUES
    (1, 'owner'), (2, 'admin'), (3, 'member'), (4, 'billing'), (5, 'viewer');

INSERT INTO public.permissions (id, code)
SELECT g, (ARRAY['read', 'write', 'admin', 'invite', 'bill', 'export'])[1 + (g - 1) % 6] || ':'
          || (ARRAY['users', 'posts', 'tickets', 'invoices'])[1 + (g - 1) / 6]
FROM generate_series(1, 24) AS g;

INSERT INTO public.user_roles (user_id, role_id)
SELECT g, 1 + g % 5 FROM generate_series(1, 2000) AS g;

INSERT INTO public.role_permissions (role_id, permission_id)
SELECT r, p FROM generate_series(1, 5) AS r, generate_series(1, 24) AS p
WHERE (p + r) % 2 = 0;

INSERT INTO public.invitations (id, org_id, email, invited_by, token, expires_at, accepted_at)
SELECT g, 1 + (g - 1) % 200, 'invitee' || g || '@example.org', 1 + (g - 1) % 200, md5('inv' || g),
       timestamptz '2025-01-01 00:00+00' + g * interval '1 hour',
       CASE WHEN g % 3 = 0 THEN timestamptz '2025-01-01 00:00+00' + g * interval '30 minutes' END
FROM generate_series(1, 500) AS g;

INSERT INTO public.api_keys (id, org_id, key_hash, created_by, last_used_at)
SELECT g, 1 + (g - 1) % 200, md5('key' || g), 1 + (g - 1) % 200,
       timestamptz '2025-01-01 00:00+00' + g * interval '2 hours'
FROM generate_series(1, 300) AS g;

INSERT INTO public.clients (id, org_id, name, redirect_uri)
SELECT g, 1 + (g * 7) % 200, 'Client app ' || g, 'https://app' || g || '.example.com/callback'
FROM generate_series(1, 30) AS g;

INSERT INTO public.feature_flags (id, key, description)
SELECT g, 'flag_' || g, 'Feature flag ' || g FROM generate_series(1, 25) AS g;

INSERT INTO public.org_feature_flags (org_id, flag_id, enabled)
SELECT o, f, (o + f) % 3 <> 0
FROM generate_series(1, 200) AS o, generate_series(1, 25) AS f
WHERE (o * f) % 5 = 0;

INSERT INTO public.notifications (id, user_id, kind, payload, read_at, created_at)
SELECT g, 1 + (g * 7) % 2000, (ARRAY['mention', 'invoice', 'ticket', 'digest'])[1 + g % 4],
       jsonb_build_object('n', g),
       CASE WHEN g % 2 = 0 THEN timestamptz '2025-01-02 00:00+00' END,
       timestamptz '2025-01-01 00:00+00' + g * interval '10 minutes'
FROM generate_series(1, 2000) AS g;

INSERT INTO public.audit_log (at, user_id, action, target)
SELECT timestamptz '2025-01-01 00:00+00' + g * interval '5 minutes', 1 + (g * 11) % 2000,
       (ARRAY['login', 'update_profile', 'create_post', 'invite_user'])[1 + g % 4], 'object/' || g
FROM generate_series(1, 1500) AS g;

INSERT INTO public."UserPreferences" (user_id, theme, "display name", "emailDigest")
SELECT g, CASE WHEN g % 3 = 0 THEN 'dark' ELSE 'light' END, 'User ' || g, g % 4 <> 0
FROM generate_series(1, 1200) AS g;

INSERT INTO public.webhooks (id, org_id, url, secret, active)
SELECT g, 1 + (g - 1) % 200, 'https://hooks' || g || '.example.net/in', md5('wh' || g), g % 9 <> 0
FROM generate_series(1, 150) AS g;

INSERT INTO public.webhook_deliveries (id, webhook_id, status_code, delivered_at)
SELECT g, 1 + (g - 1) % 150, CASE WHEN g % 13 = 0 THEN 500 ELSE 200 END,
       timestamptz '2025-01-01 00:00+00' + g * interval '7 minutes'
FROM generate_series(1, 2000) AS g;

INSERT INTO public.legacy_audit_2019 (id, happened_at, actor, action)
SELECT g, timestamptz '2019-01-01 00:00+00' + g * interval '1 hour', 'actor-' || (g % 50), 'legacy-action'
FROM generate_series(1, 500) AS g;

INSERT INTO public.legacy_invites (id, org_id, email, sent_at)
SELECT g, 1 + (g - 1) % 200, 'invitee' || g || '@example.com', timestamptz '2021-03-01 00:00+00' + g * interval '1 hour'
FROM generate_series(1, 400) AS g;

INSERT INTO public.export_jobs (id, kind, created_at)
SELECT g, 'csv', timestamptz '2022-06-01 00:00+00' + g * interval '1 day' FROM generate_series(1, 20) AS g;

-- ---------------------------------------------------------------- auth
-- user_id is text holding public.users ids; every value exists in users (no orphans).
INSERT INTO auth.sessions (id, user_id, token, ip, user_agent, created_at, expires_at)
SELECT g, (1 + (g * 7) % 2000)::text, md5('session' || g), ('10.0.' || (g % 250) || '.' || (g % 200 + 1))::inet,
       'Mozilla/5.0 (demo ' || g % 7 || ')',
       timestamptz '2025-01-01 00:00+00' + g * interval '15 minutes',
       timestamptz '2025-01-01 00:00+00' + g * interval '15 minutes' + interval '30 days'
FROM generate_series(1, 3000) AS g;

INSERT INTO auth.identities (id, user_id, provider, provider_uid)
SELECT g, 1 + (g - 1) % 2000, CASE WHEN g <= 1000 THEN 'google' ELSE 'github' END, 'uid-' || g
FROM generate_series(1, 1500) AS g;

INSERT INTO auth.password_resets (id, user_id, token_hash, expires_at, used_at)
SELECT g, 1 + (g * 9) % 2000, md5('reset' || g), timestamptz '2025-01-01 00:00+00' + g * interval '1 day',
       CASE WHEN g % 2 = 0 THEN timestamptz '2025-01-01 00:00+00' END
FROM generate_series(1, 200) AS g;

INSERT INTO auth.mfa_factors (id, user_id, kind, secret)
SELECT g, 1 + (g * 5) % 2000, (ARRAY['totp', 'webauthn', 'sms'])[1 + g % 3], md5('mfa' || g)
FROM generate_series(1, 400) AS g;

INSERT INTO auth.login_attempts (id, email, ip, succeeded, attempted_at)
SELECT g, 'user' || (1 + g % 2100) || '@example.com', ('192.168.' || (g % 250) || '.' || (g % 200 + 1))::inet,
       g % 6 <> 0, timestamptz '2025-01-01 00:00+00' + g * interval '1 minute'
FROM generate_series(1, 5000) AS g;

INSERT INTO auth.oauth_apps (id, org_id, name, client_secret_hash)
SELECT g, 1 + (g * 3) % 200, 'OAuth app ' || g, md5('oauth' || g)
FROM generate_series(1, 40) AS g;

INSERT INTO auth.oauth_grants (id, app_id, user_id, scopes)
SELECT g, 1 + (g - 1) % 40, 1 + (g * 13) % 2000, ARRAY['read', 'profile']
FROM generate_series(1, 300) AS g;

INSERT INTO auth.email_verifications (id, user_id, token, verified_at)
SELECT g, g, md5('verify' || g), CASE WHEN g % 10 <> 0 THEN timestamptz '2024-06-01 00:00+00' END
FROM generate_series(1, 1800) AS g;

INSERT INTO auth.blocked_ips (ip, reason, until)
SELECT ('203.0.113.' || g)::inet, 'too many failed logins', timestamptz '2026-01-01 00:00+00'
FROM generate_series(1, 20) AS g;

-- ---------------------------------------------------------------- billing
INSERT INTO billing.products (id, code, name, active)
SELECT g, 'prod_' || g, 'Product ' || g, g <> 15 FROM generate_series(1, 15) AS g;

INSERT INTO billing.prices (id, product_id, currency, unit_amount_cents, billing_interval)
SELECT g, 1 + (g - 1) % 15, CASE WHEN g % 4 = 0 THEN 'EUR' ELSE 'USD' END, 900 + g * 100,
       CASE WHEN g % 2 = 0 THEN 'year' ELSE 'month' END
FROM generate_series(1, 40) AS g;

INSERT INTO billing.subscriptions (id, org_id, price_id, status, started_at, canceled_at)
SELECT g, 1 + (g - 1) % 200, 1 + (g - 1) % 40, CASE WHEN g > 230 THEN 'canceled' ELSE 'active' END,
       timestamptz '2024-01-01 00:00+00' + g * interval '1 day',
       CASE WHEN g > 230 THEN timestamptz '2025-01-01 00:00+00' END
FROM generate_series(1, 260) AS g;

INSERT INTO billing.invoices (id, org_id, subscription_id, number, status, issued_at, due_date, total_cents, currency)
SELECT g, 1 + (g - 1) % 200, 1 + (g - 1) % 200, 'INV-' || lpad(g::text, 6, '0'),
       (ARRAY['paid', 'paid', 'paid', 'open', 'overdue', 'void'])[1 + g % 6],
       timestamptz '2024-01-01 00:00+00' + g * interval '4 hours',
       date '2024-01-31' + g / 6, 1000 + (g * 37) % 90000, 'USD'
FROM generate_series(1, 2000) AS g;

INSERT INTO billing.invoice_lines (invoice_id, line_no, product_id, description, quantity, amount_cents)
SELECT i, l, 1 + (i + l) % 15, 'Line ' || l, 1 + l % 3, 500 + (i * l) % 5000
FROM generate_series(1, 2000) AS i, generate_series(1, 3) AS l;

INSERT INTO billing.payment_methods (id, org_id, kind, last4, exp_month, exp_year)
SELECT g, 1 + (g - 1) % 200, CASE WHEN g % 5 = 0 THEN 'sepa' ELSE 'card' END, lpad((g * 7 % 10000)::text, 4, '0'),
       1 + g % 12, 2026 + g % 5
FROM generate_series(1, 300) AS g;

INSERT INTO billing.payments (id, invoice_id, method_id, amount_cents, status, paid_at)
SELECT g, g, 1 + (g - 1) % 300, 1000 + (g * 37) % 90000, 'succeeded',
       timestamptz '2024-01-02 00:00+00' + g * interval '4 hours'
FROM generate_series(1, 1800) AS g;

INSERT INTO billing.coupons (id, code, percent_off, valid_until)
SELECT g, 'SAVE' || (g * 5), 5 * (1 + g % 10), date '2025-12-31' FROM generate_series(1, 20) AS g;

INSERT INTO billing.coupon_redemptions (id, coupon_id, org_id)
SELECT g, 1 + (g - 1) % 20, 1 + (g * 3) % 200 FROM generate_series(1, 100) AS g;

INSERT INTO billing.credits (id, org_id, amount_cents, reason)
SELECT g, 1 + (g - 1) % 200, 500 * (1 + g % 5), 'goodwill' FROM generate_series(1, 150) AS g;

INSERT INTO billing.tax_rates (id, country_code, name, rate)
SELECT g, (ARRAY['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'BR', 'JP', 'CA'])[1 + (g - 1) % 10],
       'VAT ' || g, 0.05 + (g % 5) * 0.03
FROM generate_series(1, 25) AS g;

INSERT INTO billing.usage_records (id, subscription_id, metric, quantity, recorded_at)
SELECT g, 1 + (g - 1) % 260, (ARRAY['api_calls', 'seats', 'storage_gb'])[1 + g % 3], 1 + g % 100,
       timestamptz '2025-01-01 00:00+00' + g * interval '2 minutes'
FROM generate_series(1, 20000) AS g;

INSERT INTO billing.dunning_attempts (id, invoice_id, attempted_at, result)
SELECT g, 5 + 6 * ((g - 1) % 330), timestamptz '2025-01-01 00:00+00' + g * interval '1 hour',
       CASE WHEN g % 4 = 0 THEN 'recovered' ELSE 'failed' END
FROM generate_series(1, 300) AS g;

-- ---------------------------------------------------------------- content
INSERT INTO content.categories (id, org_id, parent_id, name, slug)
SELECT g, 1 + (g - 1) % 60, CASE WHEN g > 60 THEN g - 60 END, 'Category ' || g, 'category-' || g
FROM generate_series(1, 120) AS g;

-- slugs repeat across orgs (post-1 .. post-1500): a global unique index cannot be built.
INSERT INTO content.posts (id, org_id, author_id, category_id, title, slug, body, status, published_at, created_at, updated_at)
SELECT g, 1 + (g - 1) % 200, 1 + (g * 3) % 2000, 1 + (g - 1) % 120, 'Post ' || g,
       'post-' || (1 + (g - 1) % 1500), repeat('Lorem ipsum dolor sit amet. ', 1 + g % 20),
       CASE WHEN g % 5 = 0 THEN 'draft' WHEN g % 11 = 0 THEN 'archived' ELSE 'published' END,
       CASE WHEN g % 5 <> 0 THEN timestamptz '2024-06-01 00:00+00' + g * interval '2 hours' END,
       timestamptz '2024-05-01 00:00+00' + g * interval '2 hours',
       timestamptz '2024-05-01 00:00+00' + g * interval '2 hours'
FROM generate_series(1, 2000) AS g;

INSERT INTO content.post_revisions (id, post_id, editor_id, body, created_at)
SELECT g, 1 + (g - 1) % 2000, 1 + (g * 7) % 2000, 'Revision ' || g,
       timestamptz '2024-05-01 00:00+00' + g * interval '1 hour'
FROM generate_series(1, 4000) AS g;

-- 50 comments were written by users that were deleted later (author_id 2001..2050).
INSERT INTO content.comments (id, post_id, author_id, body, created_at)
SELECT g, 1 + (g - 1) % 2000,
       CASE WHEN g % 100 = 0 THEN 2000 + g / 100 ELSE 1 + (g * 13) % 2000 END,
       'Comment ' || g, timestamptz '2024-07-01 00:00+00' + g * interval '20 minutes'
FROM generate_series(1, 5000) AS g;

INSERT INTO content.tags (id, org_id, name)
SELECT g, 1 + (g - 1) % 200, 'tag-' || ((g - 1) / 200 + 1) FROM generate_series(1, 300) AS g;

INSERT INTO content.post_tags (post_id, tag_id)
SELECT p, 1 + (p * 7 + k * 137) % 300 FROM generate_series(1, 2000) AS p, generate_series(1, 2) AS k;

INSERT INTO content.media (id, org_id, uploaded_by, url, mime_type, bytes)
SELECT g, 1 + (g - 1) % 200, 1 + (g * 17) % 2000, 'https://cdn.example.com/m/' || g || '.png', 'image/png',
       10000 + g * 97
FROM generate_series(1, 800) AS g;

INSERT INTO content.post_media (post_id, media_id, position)
SELECT g, 1 + (g - 1) % 800, 0 FROM generate_series(1, 1000) AS g;

INSERT INTO content.pages (id, org_id, slug, title, body)
SELECT g, 1 + (g - 1) % 200, 'page-' || ((g - 1) / 200 + 1), 'Page ' || g, 'Welcome.'
FROM generate_series(1, 200) AS g;

INSERT INTO content.menus (id, org_id, name)
SELECT g, 1 + (g - 1) % 200, 'Main menu' FROM generate_series(1, 100) AS g;

INSERT INTO content.menu_items (id, menu_id, page_id, label, position)
SELECT g, 1 + (g - 1) % 100, CASE WHEN g % 4 <> 0 THEN 1 + (g - 1) % 200 END, 'Item ' || g, g % 5
FROM generate_series(1, 500) AS g;

INSERT INTO content.newsletters (id, org_id, subject, sent_at)
SELECT g, 1 + (g - 1) % 200, 'Newsletter #' || g, timestamptz '2025-01-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 100) AS g;

INSERT INTO content.subscribers (id, org_id, email, confirmed)
SELECT g, 1 + (g - 1) % 200, 'reader' || g || '@example.net', g % 3 <> 0
FROM generate_series(1, 1500) AS g;

INSERT INTO content.old_post_drafts (id, legacy_post_ref, title, body, saved_at)
SELECT g, g * 3, 'Old draft ' || g, 'Draft body', timestamptz '2020-01-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 300) AS g;

-- ---------------------------------------------------------------- analytics
-- 100,000 events: 50 per user; org_id is the user's org.
INSERT INTO analytics.events (id, user_id, org_id, name, properties, occurred_at)
SELECT g, u, 1 + (u - 1) % 200,
       (ARRAY['page_view', 'click', 'signup', 'purchase', 'search'])[1 + g % 5],
       CASE WHEN g % 10 = 0 THEN jsonb_build_object('path', '/p/' || (g % 500)) ELSE '{}' END,
       timestamptz '2025-01-01 00:00+00' + g * interval '30 seconds'
FROM (SELECT g, 1 + (g * 37) % 2000 AS u FROM generate_series(1, 100000) AS g) AS s;

-- client_id: browser ids; only every 20th row carries a value that happens to be a clients.id.
INSERT INTO analytics.page_views (id, org_id, path, referrer, client_id, viewed_at)
SELECT g, 1 + (g - 1) % 200, '/p/' || (g % 500),
       CASE WHEN g % 3 = 0 THEN 'https://www.google.com/' END,
       CASE WHEN g % 20 = 0 THEN 1 + g % 30 ELSE 1000000 + (g * 7919) % 900000 END,
       timestamptz '2025-01-01 00:00+00' + g * interval '1 minute'
FROM generate_series(1, 30000) AS g;

-- bulk-load order: keys and indexes of the two big tables after their rows
ALTER TABLE analytics.events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
CREATE INDEX events_user_id_occurred_at_idx ON analytics.events (user_id, occurred_at);
CREATE INDEX events_org_id_occurred_at_idx ON analytics.events (org_id, occurred_at);
ALTER TABLE analytics.page_views ADD CONSTRAINT page_views_pkey PRIMARY KEY (id);
CREATE INDEX page_views_org_id_path_idx ON analytics.page_views (org_id, path);
-- negative (duplicate_index): path is the second column of the composite, not a prefix.
CREATE INDEX page_views_path_idx ON analytics.page_views (path);

-- planted orphaned_rows (implicit, naming + data only, issue 12.2): the rollups of 35 orgs that were
-- deleted later (org_id 201..235) were never cleaned up — 525 of 3,525 rows (14.9 %). No FK, no code
-- join: only naming (org_id -> public.orgs.id, its primary key), equal types and 85 % containment,
-- which the old 90 % bar rejected, so the dirtiest column was the one never examined.
INSERT INTO analytics.daily_rollups (day, org_id, metric, value)
SELECT date '2025-01-01' + d, o, m, (d * o) % 1000
FROM generate_series(0, 4) AS d, generate_series(1, 235) AS o,
     unnest(ARRAY['signups', 'active_users', 'events']) AS m;

INSERT INTO analytics.experiments (id, key, name, started_at)
SELECT g, 'exp_' || g, 'Experiment ' || g, timestamptz '2025-01-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 10) AS g;

INSERT INTO analytics.experiment_variants (id, experiment_id, name, weight)
SELECT g, 1 + (g - 1) % 10, CASE WHEN g <= 10 THEN 'control' WHEN g <= 20 THEN 'treatment' ELSE 'holdout' END, 50
FROM generate_series(1, 25) AS g;

INSERT INTO analytics.experiment_assignments (experiment_id, user_id, variant_id, assigned_at)
SELECT e, u, e + 10 * ((u + e) % 2), timestamptz '2025-01-05 00:00+00'
FROM generate_series(1, 10) AS e, generate_series(1, 400) AS u;

INSERT INTO analytics.funnels (id, org_id, name)
SELECT g, 1 + (g * 5) % 200, 'Funnel ' || g FROM generate_series(1, 30) AS g;

INSERT INTO analytics.funnel_steps (funnel_id, position, event_name)
SELECT f, p, (ARRAY['page_view', 'signup', 'click', 'purchase'])[p]
FROM generate_series(1, 30) AS f, generate_series(1, 4) AS p;

INSERT INTO analytics.utm_campaigns (id, org_id, source, medium, campaign)
SELECT g, 1 + (g - 1) % 200, 'newsletter', 'email', 'spring-' || g FROM generate_series(1, 200) AS g;

INSERT INTO analytics.dashboards (id, org_id, owner_id, name, layout)
SELECT g, 1 + (g - 1) % 200, 1 + (g - 1) % 200, 'Dashboard ' || g, '[]' FROM generate_series(1, 150) AS g;

INSERT INTO analytics.import_batches_2021 (id, source, imported_rows, finished_at)
SELECT g, 'csv-upload', g * 100, timestamptz '2021-03-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 40) AS g;

-- ---------------------------------------------------------------- support
INSERT INTO support.agents (id, user_id, display_name, active)
SELECT g, g * 50, 'Agent ' || g, g % 10 <> 0 FROM generate_series(1, 40) AS g;

INSERT INTO support.queues (id, org_id, name)
SELECT g, 1 + (g - 1) % 60, (ARRAY['General', 'Billing', 'Technical'])[1 + g % 3] FROM generate_series(1, 60) AS g;

-- org_id is bigint (the planted mismatch); every value is an existing orgs.id.
INSERT INTO support.tickets (id, org_id, queue_id, requester_id, assignee_id, subject, status, priority, created_at, closed_at)
SELECT g, 1 + (g - 1) % 200, 1 + (g - 1) % 60, 1 + (g * 7) % 2000,
       CASE WHEN g % 4 <> 0 THEN 1 + g % 40 END, 'Ticket ' || g,
       (ARRAY['open', 'pending', 'closed', 'closed'])[1 + g % 4], 1 + g % 4,
       timestamptz '2025-01-01 00:00+00' + g * interval '1 hour',
       CASE WHEN g % 4 >= 2 THEN timestamptz '2025-01-01 00:00+00' + g * interval '1 hour' + interval '1 day' END
FROM generate_series(1, 2000) AS g;

-- the last 50 messages belong to tickets that were hard-deleted (ticket_id 2001..2050).
INSERT INTO support.ticket_messages (id, ticket_id, sender_id, body, created_at)
SELECT g, CASE WHEN g > 5950 THEN 2000 + (g - 5950) ELSE 1 + (g - 1) % 2000 END, 1 + (g * 11) % 2000,
       'Message ' || g, timestamptz '2025-01-01 00:00+00' + g * interval '20 minutes'
FROM generate_series(1, 6000) AS g;

INSERT INTO support.sla_policies (id, org_id, priority, first_response_minutes)
SELECT g, 1 + (g - 1) % 50, 1 + (g - 1) / 50, 60 * (1 + (g - 1) / 50) FROM generate_series(1, 150) AS g;

INSERT INTO support.macros (id, org_id, title, body)
SELECT g, 1 + (g - 1) % 200, 'Macro ' || g, 'Thanks for reaching out.' FROM generate_series(1, 100) AS g;

INSERT INTO support.satisfaction_ratings (id, ticket_id, score, comment)
SELECT g, g * 2, 1 + g % 5, CASE WHEN g % 7 = 0 THEN 'Great support' END FROM generate_series(1, 800) AS g;

INSERT INTO support.kb_categories (id, org_id, name)
SELECT g, 1 + (g - 1) % 80, 'KB category ' || g FROM generate_series(1, 80) AS g;

INSERT INTO support.kb_articles (id, kb_category_id, author_id, title, body, views)
SELECT g, 1 + (g - 1) % 80, 1 + (g - 1) % 40, 'How to ' || g, 'Steps...', g * 3 FROM generate_series(1, 400) AS g;

INSERT INTO support.business_hours (id, org_id, weekday, opens, closes)
SELECT g, 1 + (g - 1) / 6, (g - 1) % 6, time '09:00', time '17:00' FROM generate_series(1, 300) AS g;

-- ---------------------------------------------------------------- housekeeping
REFRESH MATERIALIZED VIEW analytics.signups_by_day;

-- move every identity sequence past the rows inserted with explicit ids
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.nspname, c.relname, a.attname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attidentity <> '' AND NOT a.attisdropped AND c.relkind = 'r'
          AND n.nspname IN ('public', 'auth', 'billing', 'content', 'analytics', 'support')
    LOOP
        EXECUTE format(
            'SELECT setval(pg_get_serial_sequence(%L, %L), coalesce((SELECT max(%I) FROM %I.%I), 0) + 1, false)',
            quote_ident(r.nspname) || '.' || quote_ident(r.relname), r.attname, r.attname, r.nspname, r.relname);
    END LOOP;
END;
$$;
