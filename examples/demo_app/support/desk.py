"""Help desk configuration: queues, SLAs, macros, knowledge base, business hours."""

from __future__ import annotations


async def queues(conn, org_id: int):
    return await conn.fetch("SELECT q.id, q.name FROM support.queues q WHERE q.org_id = $1 ORDER BY q.name", org_id)


async def board(conn, queue_id: int):
    # support.open_tickets is a view
    return await conn.fetch(
        "SELECT ot.id, ot.subject, ot.priority FROM support.open_tickets ot "
        "WHERE ot.queue_id = $1 ORDER BY ot.priority, ot.created_at",
        queue_id,
    )


async def sla(conn, org_id: int, priority: int):
    return await conn.fetchval(
        "SELECT first_response_minutes FROM support.sla_policies WHERE org_id = $1 AND priority = $2",
        org_id, priority,
    )


async def macros(conn, org_id: int):
    return await conn.fetch("SELECT m.id, m.title, m.body FROM support.macros m WHERE m.org_id = $1", org_id)


async def kb_search(conn, org_id: int, term: str):
    # the f-string builds a bound *value*, not SQL text: not a finding
    return await conn.fetch(
        """
        SELECT a.id, a.title, ag.display_name AS author
        FROM support.kb_articles a
        JOIN support.kb_categories c ON c.id = a.kb_category_id
        JOIN support.agents ag ON ag.id = a.author_id
        WHERE c.org_id = $1 AND a.title ILIKE $2
        ORDER BY a.views DESC
        LIMIT 20
        """,
        org_id, f"%{term}%",
    )


async def business_hours(conn, org_id: int):
    return await conn.fetch(
        "SELECT weekday, opens, closes FROM support.business_hours WHERE org_id = $1 ORDER BY weekday",
        org_id,
    )


async def agent_workload(conn):
    return await conn.fetch(
        "SELECT ag.display_name, count(t.id) AS open_tickets FROM support.agents ag "
        "LEFT JOIN support.tickets t ON t.assignee_id = ag.id AND t.status <> 'closed' "
        "WHERE ag.active GROUP BY ag.display_name ORDER BY open_tickets DESC"
    )
