"""Escalation of stale tickets (ported from the old helpdesk, which stored status as a number)."""

from __future__ import annotations


async def stale_tickets(conn, org_id: int):
    # broken: support.tickets.status is text ('open'/'pending'/'closed'); the server rejects text = integer
    return await conn.fetch("SELECT t.id, t.subject FROM support.tickets t WHERE t.org_id = $1 AND t.status = 2", org_id)
