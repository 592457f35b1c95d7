"""Support tickets."""

from __future__ import annotations

from .. import queries


async def open_ticket(conn, org_id: int, queue_id: int, requester_id: int, subject: str) -> int:
    return await conn.fetchval(
        "INSERT INTO support.tickets (org_id, queue_id, requester_id, subject) VALUES ($1, $2, $3, $4) RETURNING id",
        org_id, queue_id, requester_id, subject,
    )


async def org_tickets(conn, org_id: int, status: str):
    return await conn.fetch(
        "SELECT t.id, t.subject, t.status, t.priority, t.created_at FROM support.tickets t "
        "WHERE t.org_id = $1 AND t.status = $2 ORDER BY t.created_at DESC",
        org_id, status,
    )


async def ticket_thread(conn, ticket_id: int):
    return await conn.fetch(
        """
        SELECT m.id, m.body, m.created_at, u.full_name AS sender
        FROM support.ticket_messages m
        JOIN public.users u ON u.id = m.sender_id
        WHERE m.ticket_id = $1
        ORDER BY m.created_at
        """,
        ticket_id,
    )


async def reply(conn, ticket_id: int, sender_id: int, body: str) -> None:
    await conn.execute(
        "INSERT INTO support.ticket_messages (ticket_id, sender_id, body) VALUES ($1, $2, $3)",
        ticket_id, sender_id, body,
    )
    await conn.execute("UPDATE support.tickets SET first_response_at = now() WHERE id = $1 AND first_response_at IS NULL", ticket_id)


async def response_time(conn, ticket_id: int):
    return await conn.fetchrow("SELECT t.created_at, t.first_response_at FROM support.tickets t WHERE t.id = $1", ticket_id)


async def assign(conn, ticket_id: int, agent_id: int) -> None:
    await conn.execute("UPDATE support.tickets SET assignee_id = $2 WHERE id = $1", ticket_id, agent_id)


async def close(conn, ticket_id: int) -> None:
    await conn.execute(
        "UPDATE support.tickets SET status = 'closed', closed_at = now() WHERE id = $1",
        ticket_id,
    )


async def queue_digest(conn, queue_id: int) -> list[tuple]:
    digest = []
    for row in await conn.fetch(queries.OPEN_TICKETS_FOR_QUEUE, queue_id):
        agent = await conn.fetchrow("SELECT a.display_name, u.email FROM support.agents a JOIN public.users u ON u.id = a.user_id WHERE a.id = $1", row["assignee_id"])
        digest.append((row["subject"], row["priority"], agent))
    return digest


async def search_tickets(conn, queue_id: int, subject: str):
    return await conn.fetch("SELECT t.id, t.subject, t.status FROM support.tickets t WHERE t.queue_id = $1 AND t.subject ILIKE '%" + subject + "%' ORDER BY t.id", queue_id)


async def rate(conn, ticket_id: int, score: int, comment: str | None) -> None:
    await conn.execute(
        "INSERT INTO support.satisfaction_ratings (ticket_id, score, comment) VALUES ($1, $2, $3)",
        ticket_id, score, comment,
    )
