"""The statement verifier against a real server: verdicts, no execution, bad input."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from heal_pipeline.errors import HealError
from heal_pipeline.verify import (
    changed,
    coverage,
    statements_touching,
    verify_in_transaction,
    verify_statements,
)

STYLES = '''
from sqlalchemy import text

def styles(cur, conn, session, user_id, name):
    cur.execute("SELECT id, name FROM users WHERE id = %s", (user_id,))
    cur.execute("SELECT id FROM users WHERE name = %(n)s AND id = %(i)s", {"n": name, "i": 1})
    conn.fetchrow("SELECT * FROM users WHERE id = $1 AND name = $2", user_id, name)
    cur.execute("SELECT email FROM users WHERE id = ? AND name = ?", (1, name))
    session.execute(text("SELECT id::text AS sid FROM users WHERE name = :name AND id = :id"), {"name": name})
    cur.execute(f"SELECT id FROM users WHERE name = '{name}'")
    cur.execute("SELECT ':not_a_param', '%s' FROM users WHERE name LIKE 'a%%' -- ? :x")
'''


def by_line(checks):
    return {c.line: c for c in checks}


def test_every_placeholder_style_is_verified_with_types(vconn, scan_code):
    stmts = scan_code({"app.py": STYLES})
    checks = by_line(verify_statements(vconn, stmts))
    assert {c.status for c in checks.values()} == {"ok"}, [(c.line, c.message) for c in checks.values()]
    assert checks[5].param_types == ["integer"]
    assert checks[5].result_columns == [("id", "integer"), ("name", "text")]
    assert checks[5].sql == "SELECT id, name FROM users WHERE id = $1"
    assert checks[6].param_types == ["text", "integer"]
    assert checks[7].param_types == ["integer", "text"]
    assert checks[8].param_types == ["integer", "text"] and checks[8].sql.endswith("id = $1 AND name = $2")
    assert checks[9].param_types == ["text", "integer"] and checks[9].result_columns == [("sid", "text")]
    assert checks[10].param_types == ["text"] and checks[10].hole_params == [1]
    assert checks[11].param_types == []  # nothing inside literals/comments became a parameter


BROKEN = '''
def broken(cur, user_id):
    cur.execute("SELECT id FROM no_such_table")
    cur.execute("""
        SELECT id,
               name,
               shoe_size
        FROM users""")
    cur.execute("SELECT id FROM users WHERE name = 42")
    cur.execute("SELECT name FROM users JOIN orders ON orders.user_id = users.id")
    cur.execute("SELECT id FROM users WHERE id = %s", (user_id,))
'''


def test_rejections_carry_sqlstate_and_file_position(vconn, scan_code):
    checks = by_line(verify_statements(vconn, scan_code({"app.py": BROKEN})))
    assert (checks[3].status, checks[3].sqlstate) == ("rejected", "42P01")
    assert "no_such_table" in checks[3].message and checks[3].error_line == 3
    col = checks[4]
    assert (col.status, col.sqlstate) == ("rejected", "42703")
    assert col.error_line == 7  # the line of `shoe_size` inside the triple-quoted string
    assert col.error_col == 16
    assert (checks[9].status, checks[9].sqlstate) == ("rejected", "42883")  # text = integer
    assert (checks[10].status, checks[10].sqlstate) == ("rejected", "42702")  # ambiguous "name"
    assert checks[11].status == "ok"  # a failure before it does not poison the transaction
    cov = coverage(checks.values())
    assert (cov["extracted"], cov["ok"], cov["rejected"]) == (5, 1, 4)


EXECUTES = '''
def writes(cur):
    cur.execute("INSERT INTO watched (id, v) VALUES (%s, %s)", (1, "x"))
    cur.execute("UPDATE watched SET v = %s WHERE id = %s", ("y", 1))
    cur.execute("DELETE FROM watched WHERE id = %s", (1,))
    cur.execute("SELECT side_effect(%s)", (1,))
    cur.execute("INSERT INTO watched (id, v) SELECT side_effect(2), 'z' RETURNING id")
'''


def test_nothing_is_ever_executed(vconn, vdb, scan_code):
    vconn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    vconn.execute("SELECT pg_stat_statements_reset()")
    checks = verify_statements(vconn, scan_code({"app.py": EXECUTES}))
    assert [c.status for c in checks] == ["ok"] * 5
    assert checks[4].result_columns == [("id", "integer")]
    with psycopg.connect(vdb, autocommit=True) as other:
        ran = other.execute("SELECT query, calls FROM pg_stat_statements WHERE calls > 0 AND"
                            " (query ILIKE '%watched%' OR query ILIKE '%side_effect%')").fetchall()
        assert ran == []
        assert other.execute("SELECT count(*) FROM exec_log").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM watched").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    # the verifier's own session holds no prepared statement and no transaction
    assert vconn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    assert vconn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE


HOSTILE = '''
def hostile(cur):
    cur.execute("SELECT 1; DROP TABLE users")
    cur.execute("SELECT '; DROP TABLE users; --' AS s -- ; DROP TABLE users")
    cur.execute("SELECT $$; DROP TABLE users$$ /* ; DROP TABLE users */")
    cur.execute("CREATE TABLE made_here (a int)")
    cur.execute("SET search_path = public")
'''


def test_hostile_text_is_one_statement_or_refused(vconn, scan_code):
    checks = verify_statements(vconn, scan_code({"app.py": HOSTILE}))
    assert (checks[0].status, checks[0].reason) == ("not_verifiable", "multiple_statements")
    assert checks[1].status == "ok" and checks[2].status == "ok"
    assert (checks[3].status, checks[3].reason) == ("not_verifiable", "ddl")
    assert (checks[4].status, checks[4].reason) == ("not_verifiable", "utility")
    assert vconn.execute("SELECT to_regclass('users') IS NOT NULL, to_regclass('made_here')").fetchone() == (
        True, None)


RUNTIME = '''
def runtime(cur, conn, tbl, col):
    cur.execute("CREATE TABLE scratch (a int)")
    cur.execute("SELECT a FROM scratch")
    cur.execute("CREATE TEMP TABLE tmp_ids (id int)")
    cur.execute("SELECT u.name FROM users u JOIN tmp_ids t ON t.id = u.id")
    cur.execute("ALTER TABLE users ADD COLUMN nickname text")
    cur.execute("SELECT nickname FROM users")
    cur.execute(f"SELECT id FROM {tbl}")
    cur.execute(f"SELECT {col} FROM users")
'''


def test_objects_made_at_runtime_are_not_verifiable_never_rejected(vconn, scan_code):
    checks = {c.line: c for c in verify_statements(vconn, scan_code({"app.py": RUNTIME}))}
    assert (checks[4].status, checks[4].reason) == ("not_verifiable", "runtime_object")
    assert (checks[6].status, checks[6].reason) == ("not_verifiable", "temp_table")
    assert (checks[8].status, checks[8].reason) == ("not_verifiable", "runtime_object")
    assert (checks[9].status, checks[9].reason) == ("not_verifiable", "identifier_hole")
    assert (checks[10].status, checks[10].reason) == ("not_verifiable", "identifier_hole")
    assert not any(c.status == "rejected" for c in checks.values())


def test_read_only_role_and_permission_denied(vdb, make_role, scan_code):
    role, dsn = make_role(["GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
                           "ALTER ROLE {role} SET default_transaction_read_only = on"])
    stmts = scan_code({"app.py": '''
        def f(cur):
            cur.execute("SELECT id FROM users WHERE name = %s", ("a",))
            cur.execute("SELECT k FROM secret.keys")
            cur.execute("UPDATE orders SET total = %s WHERE id = %s", (1, 2))
            cur.execute("SELECT missing FROM users")
        '''})
    with psycopg.connect(dsn, autocommit=True) as conn:
        checks = verify_statements(conn, stmts)
    assert checks[0].status == "ok"
    assert (checks[1].status, checks[1].reason, checks[1].sqlstate) == ("not_verifiable", "permission", "42501")
    assert checks[2].status == "ok"  # prepared, not run: a read-only role can verify writes
    assert (checks[3].status, checks[3].sqlstate) == ("rejected", "42703")
    cov = coverage(checks)
    assert cov["unchecked"] == 1 and cov["unchecked_share"] == pytest.approx(0.25)


def test_locked_table_is_not_verifiable_quickly(vdb, vconn, scan_code):
    stmts = scan_code({"app.py": '''
        def f(cur):
            cur.execute("SELECT v FROM watched")
            cur.execute("SELECT name FROM users")
        '''})
    holder = psycopg.connect(vdb)
    try:
        holder.execute("LOCK TABLE watched IN ACCESS EXCLUSIVE MODE")
        t0 = time.perf_counter()
        checks = verify_statements(vconn, stmts, lock_timeout_ms=200)
        took = time.perf_counter() - t0
    finally:
        holder.rollback()
        holder.close()
    assert (checks[0].status, checks[0].reason, checks[0].sqlstate) == ("not_verifiable", "lock", "55P03")
    assert checks[1].status == "ok"
    assert took < 1.5


CHANGES = '''
def f(cur):
    cur.execute("SELECT email FROM users WHERE id = %s", (1,))
    cur.execute("SELECT id, name FROM users")
    cur.execute("SELECT nickname FROM users")
    cur.execute("SELECT user_id FROM orders")
'''


def test_verify_in_transaction_sees_uncommitted_ddl_and_leaves_it_usable(vdb, scan_code):
    stmts = scan_code({"app.py": CHANGES})
    with psycopg.connect(vdb) as conn:  # not autocommit: the caller's own transaction
        before = verify_in_transaction(conn, stmts)
        assert [c.status for c in before] == ["ok", "ok", "rejected", "ok"]
        conn.execute("SET LOCAL lock_timeout = '3s'")
        conn.execute("ALTER TABLE users DROP COLUMN email")
        conn.execute("ALTER TABLE users ADD COLUMN nickname text")
        after = verify_in_transaction(conn, stmts, timeout_ms=1000)
        assert [c.status for c in after] == ["rejected", "ok", "ok", "ok"]
        pairs = changed(before, after)
        assert [(b.line, a.sqlstate) for b, a in pairs] == [(3, "42703")]
        # the caller's transaction is open, usable, and its settings are its own
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert conn.execute("SHOW lock_timeout").fetchone()[0] == "3s"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")}
        assert "nickname" in cols and "email" not in cols
        conn.rollback()
    with psycopg.connect(vdb, autocommit=True) as c2:
        assert [c.status for c in verify_statements(c2, stmts)] == ["ok", "ok", "rejected", "ok"]


def test_connection_states_are_refused_clearly(vdb, scan_code):
    stmts = scan_code({"app.py": CHANGES})
    with psycopg.connect(vdb) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(HealError, match="outside a transaction"):
            verify_statements(conn, stmts)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM nope")
        with pytest.raises(HealError, match="not usable"):
            verify_in_transaction(conn, stmts)


def test_statements_touching_and_changed(scan_code):
    stmts = scan_code({"app.py": CHANGES})
    assert [s.line for s in statements_touching(stmts, {("public", "orders")})] == [6]
    assert len(statements_touching(stmts, {("public", "USERS")})) == 3
    assert statements_touching(stmts, {("other", "users")}) == []


def test_large_batch_stays_in_sync(vconn, scan_code):
    body = "\n".join(
        f"    cur.execute(\"SELECT {'id' if i % 7 else 'nope'} FROM users WHERE id = %s\", ({i},))"
        for i in range(450))
    checks = verify_statements(vconn, scan_code({"app.py": "def f(cur):\n" + body + "\n"}))
    assert len(checks) == 450
    for i, c in enumerate(checks):
        assert c.status == ("ok" if i % 7 else "rejected"), (i, c)
    assert vconn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0


def test_a_concurrent_caller_is_serialised(vconn, scan_code):
    stmts = scan_code({"app.py": CHANGES})
    errors: list[BaseException] = []

    def other():
        try:
            for _ in range(5):
                vconn.execute("SELECT 1").fetchone()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    for _ in range(3):
        assert len(verify_statements(vconn, stmts)) == 4
    t.join()
    assert errors == []
