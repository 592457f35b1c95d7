"""What-if with HypoPG on a real PostgreSQL 15 (skipped with the reason where it cannot run), and the
"not estimated" path on the embedded PostgreSQL 18, which has no HypoPG."""

from __future__ import annotations

import psycopg
import pytest

from heal_pipeline.model import FixPlan
from heal_pipeline.plan import PlanContext
from heal_pipeline.plan.base import step
from heal_pipeline.whatif import NOT_ESTIMATED, whatif_create_index, whatif_drop_index, whatif_rule
from heal_pipeline.whatif.hypo import _plan_cost, to_dollar_params

SETUP = """
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric, note text);
INSERT INTO orders SELECT g, g % 5000, g % 97, 'n' FROM generate_series(1, 60000) g;
CREATE INDEX orders_amount_idx ON orders (amount);
ANALYZE orders;
"""
STATEMENTS = [("SELECT * FROM orders WHERE customer_id = %s", "code"),
              ("SELECT id FROM orders WHERE customer_id = $1 AND amount > $2", "pg_stat_statements"),
              ("SELECT count(*) FROM orders", "code")]


def setup_db(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(SETUP)


def index_plan(columns, tier="auto"):
    s = step("build", "create_index", {"schema": "public", "table": "orders", "name": "orders_x_idx",
                                       "columns": columns}, lock="SHARE UPDATE EXCLUSIVE", transactional=False)
    return FixPlan(fingerprint="fk:1", issue_type="fk_without_index", target_db="t", tier=tier, summary="x",
                   steps=[s])


class Issue:
    table_name = "orders"


class Snap:
    statements = []


def test_create_index_estimates_cost_change_per_statement(pg15_db):
    setup_db(pg15_db)
    with psycopg.connect(pg15_db, autocommit=True) as conn:
        w = whatif_create_index(conn, "public", "orders", ["customer_id"], STATEMENTS)
        assert w.status == "estimated", w.reason
        by = {s.query: s for s in w.statements}
        point = by["SELECT * FROM orders WHERE customer_id = $1"]
        assert point.uses_index and point.change_pct < -50, point
        assert not by["SELECT count(*) FROM orders"].uses_index
        assert w.used_by == 2 and w.to_dict()["used_by"] == 2
        # the hypothetical index is gone, nothing was created
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'").fetchone()[0] == 2


def test_rule_lowers_an_index_no_statement_uses(pg15_db):
    setup_db(pg15_db)
    with PlanContext.open(pg15_db) as ctx:
        ctx.code_statements = []
        snap = Snap()
        snap.statements = [type("S", (), {"query": q, "total_ms": 1.0})() for q, _ in STATEMENTS]
        useless = index_plan(["note"])
        whatif_rule(useless, Issue(), snap, ctx)
        assert useless.tier == "approval" and useless.whatif["used_by"] == 0
        assert any("no statement" in n for n in useless.notes)
        useful = index_plan(["customer_id"])
        whatif_rule(useful, Issue(), snap, ctx)
        assert useful.tier == "auto" and useful.whatif["used_by"] == 2


def test_drop_index_hide(pg15_db):
    setup_db(pg15_db)
    with psycopg.connect(pg15_db, autocommit=True) as conn:
        has_hide = conn.execute("SELECT to_regproc('hypopg_hide_index') IS NOT NULL").fetchone()[0]
        w = whatif_drop_index(conn, "public", "orders_amount_idx",
                              [("SELECT id FROM orders WHERE amount = $1", "code")])
    if has_hide:
        assert w.status == "estimated" and w.worse
    else:  # Debian's HypoPG 1.3.1: honest "not estimated", never "no plan gets worse"
        assert w.status == NOT_ESTIMATED and "hypopg_hide_index" in w.reason


def test_without_hypopg_not_estimated_and_behaviour_unchanged(fresh_dsn):
    setup_db(fresh_dsn)
    with PlanContext.open(fresh_dsn) as ctx:
        p = index_plan(["note"])
        whatif_rule(p, Issue(), Snap(), ctx)
    assert p.tier == "auto" and p.whatif["status"] == NOT_ESTIMATED
    assert any("not estimated" in n and "HypoPG" in n for n in p.notes)


def test_generic_plan_on_pg16_plus_and_placeholders(fresh_dsn):
    setup_db(fresh_dsn)
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        cost, names = _plan_cost(conn, "SELECT * FROM orders WHERE id = $1", 180000)
    assert cost > 0 and names == ["orders_pkey"]
    assert to_dollar_params("a = %s AND b = %(x)s OR c = %(x)s") == "a = $1 AND b = $2 OR c = $2"
    assert to_dollar_params("a = ? AND b = ?") == "a = $1 AND b = $2"
