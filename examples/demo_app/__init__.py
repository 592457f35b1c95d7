"""Acme Cloud: the demo application whose SQL heal scans (``examples/demo_app``).

A multi-tenant SaaS backend: orgs and users, auth, billing, content, analytics and support.
Most modules use asyncpg (``await conn.fetch("... $1", x)``); reporting and admin code uses
psycopg 3 (``cur.execute("... %s", (x,))``). The code is scanned, never run, by heal.

It carries the code half of the demo estate's planted issues (see
``examples/demo_estate/planted.json``): cast workarounds for ``auth.sessions.user_id`` being
text, SQL composed from runtime values, an N+1 loop, a typo, and queries that need tables and
columns the database does not have yet.
"""
