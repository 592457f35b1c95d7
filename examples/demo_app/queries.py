"""SQL shared by several modules (asyncpg style, $n placeholders)."""

USER_BY_ID = "SELECT id, org_id, email, full_name, locale, status FROM public.users WHERE id = $1"

# implicit concatenation; "users" is unqualified and resolves to public.users
USER_BY_EMAIL = (
    "SELECT id, org_id, email, password_hash, status "
    "FROM users "
    "WHERE email = $1"
)

ORG_MEMBERS = """
    SELECT u.id, u.email, u.full_name, r.name AS role
    FROM public.users u
    JOIN public.user_roles ur ON ur.user_id = u.id
    JOIN public.roles r ON r.id = ur.role_id
    WHERE u.org_id = $1
    ORDER BY u.full_name
"""

INVOICE_BY_ID = """
    SELECT i.id, i.number, i.status, i.total_cents, i.currency, i.issued_at, o.name AS org_name
    FROM billing.invoices i
    JOIN public.orgs o ON o.id = i.org_id
    WHERE i.id = $1
"""

PUBLISHED_POSTS = """
    SELECT p.id, p.title, p.slug, p.published_at, c.name AS category
    FROM content.posts p
    LEFT JOIN content.categories c ON c.id = p.category_id
    WHERE p.org_id = $1 AND p.status = 'published'
    ORDER BY p.published_at DESC
    LIMIT $2
"""

OPEN_TICKETS_FOR_QUEUE = (
    "SELECT t.id, t.subject, t.assignee_id, t.priority FROM support.tickets t "
    "WHERE t.queue_id = $1 AND t.status <> 'closed' ORDER BY t.created_at"
)
