"""Analytics reports (psycopg 3)."""

from __future__ import annotations

import psycopg

# generate_series() in FROM is a set-returning function, not a table; %s::date casts a
# parameter for it and bridges no type mismatch
DAILY_METRIC = """
    SELECT d.day::date AS day, coalesce(r.value, 0) AS value
    FROM generate_series(%s::date, %s::date, interval '1 day') AS d(day)
    LEFT JOIN analytics.daily_rollups r
           ON r.day = d.day AND r.org_id = %s AND r.metric = %s
    ORDER BY 1
"""

UPSERT_ROLLUP = """
    INSERT INTO analytics.daily_rollups (day, org_id, metric, value)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (day, org_id, metric) DO UPDATE SET value = EXCLUDED.value
"""


def daily_metric(cur: psycopg.Cursor, org_id: int, metric: str, first, last) -> list[tuple]:
    cur.execute(DAILY_METRIC, (first, last, org_id, metric))
    return cur.fetchall()


def upsert_rollup(cur: psycopg.Cursor, day, org_id: int, metric: str, value: int) -> None:
    cur.execute(UPSERT_ROLLUP, (day, org_id, metric, value))


def signups_by_day(cur: psycopg.Cursor) -> list[tuple]:
    # a materialized view
    cur.execute("SELECT day, signups FROM analytics.signups_by_day ORDER BY day DESC LIMIT 30")
    return cur.fetchall()


def experiment_results(cur: psycopg.Cursor, experiment_key: str) -> list[tuple]:
    cur.execute(
        """
        SELECT v.name, count(*) AS users
        FROM analytics.experiment_assignments a
        JOIN analytics.experiment_variants v ON v.id = a.variant_id
        JOIN analytics.experiments x ON x.id = a.experiment_id
        WHERE x.key = %s
        GROUP BY v.name
        ORDER BY v.name
        """,
        (experiment_key,),
    )
    return cur.fetchall()


def funnel_definition(cur: psycopg.Cursor, funnel_id: int) -> list[tuple]:
    cur.execute(
        "SELECT f.name, s.position, s.event_name FROM analytics.funnels f "
        "JOIN analytics.funnel_steps s ON s.funnel_id = f.id WHERE f.id = %s ORDER BY s.position",
        (funnel_id,),
    )
    return cur.fetchall()


def dashboards(cur: psycopg.Cursor, org_id: int) -> list[tuple]:
    cur.execute(
        "SELECT d.id, d.name, u.full_name AS owner FROM analytics.dashboards d "
        "JOIN public.users u ON u.id = d.owner_id WHERE d.org_id = %s ORDER BY d.name",
        (org_id,),
    )
    return cur.fetchall()


def campaigns(cur: psycopg.Cursor, org_id: int) -> list[tuple]:
    cur.execute(
        "SELECT source, medium, campaign FROM analytics.utm_campaigns WHERE org_id = %(org_id)s",
        {"org_id": org_id},
    )
    return cur.fetchall()
