"""Code-side findings: cast workarounds, unsafe SQL, queries in loops, unparsed SQL — and the
strings that must not produce any."""

from __future__ import annotations


# ---- cast_workaround ------------------------------------------------------------------


def test_python_casts_around_bound_arguments(scan_src):
    r = scan_src('''
        import uuid
        from uuid import UUID

        def a(cur, user_id):
            cur.execute("SELECT 1 FROM sessions WHERE user_id = %s AND kind = %s",
                        (str(user_id), "web"))

        async def b(conn, user_id, token):
            await conn.fetchrow("SELECT 1 FROM tokens WHERE user_id = $1 AND token = $2",
                                int(user_id), uuid.UUID(token))

        def c(cur, user_id):
            cur.execute("SELECT 1 FROM devices WHERE owner = %(owner)s", {"owner": UUID(user_id)})
    ''')
    got = sorted((f.line, f.col, f.table, f.column, f.evidence["cast"], f.evidence["param"],
                  f.evidence["bound_to"], f.evidence["statement_line"])
                 for f in r.kinds("cast_workaround"))
    assert got == [
        (6, 18, "sessions", "user_id", "str", 1, "sessions.user_id", 5),
        (10, 25, "tokens", "user_id", "int", 1, "tokens.user_id", 9),
        (10, 39, "tokens", "token", "uuid.UUID", 2, "tokens.token", 9),
        (13, 76, "devices", "owner", "uuid.UUID", 1, "devices.owner", 13),
    ]


def test_cast_through_a_local_name(scan_src):
    r = scan_src('''
        def a(cur, user_id):
            key = str(user_id)
            cur.execute("SELECT 1 FROM sessions WHERE user_id = %s", (key,))
    ''')
    [f] = r.kinds("cast_workaround")
    assert (f.line, f.evidence["through_name"], f.evidence["bound_to"]) == (2, "key", "sessions.user_id")


def test_cast_not_bound_to_a_column_is_not_a_candidate(scan_src):
    r = scan_src('''
        def a(cur, limit):
            cur.execute("SELECT id FROM users ORDER BY id LIMIT %s", (int(limit),))
    ''')
    assert r.kinds("cast_workaround") == []


def test_cast_only_helper_and_its_call_sites(scan_tree):
    r = scan_tree({
        "app/__init__.py": "",
        "app/keys.py": '''
            def session_user_key(user_id):
                """Sessions store user ids as text."""
                return str(user_id)

            def not_a_helper(user_id):
                log(user_id)
                return str(user_id)
        ''',
        "app/repo.py": '''
            from .keys import session_user_key, not_a_helper

            class Repo:
                def _key(self, uid):
                    return int(uid)

                def a(self, cur, uid):
                    cur.execute("SELECT 1 FROM sessions WHERE user_id = %s", (session_user_key(uid),))
                    cur.execute("SELECT 1 FROM users WHERE id = %s", (self._key(uid),))
                    cur.execute("SELECT 1 FROM users WHERE id = %s", (not_a_helper(uid),))
        ''',
    })
    casts = {(f.file, f.line): f for f in r.kinds("cast_workaround")}
    assert set(casts) == {("app/keys.py", 1), ("app/repo.py", 4), ("app/repo.py", 8), ("app/repo.py", 9)}
    helper = casts[("app/keys.py", 1)]
    assert helper.evidence["kind"] == "helper" and helper.evidence["call_sites"] == ["app/repo.py:8"]
    assert (helper.table, helper.column) == ("sessions", "user_id")
    call = casts[("app/repo.py", 8)]
    assert call.evidence["kind"] == "helper_call" and call.evidence["helper"] == "session_user_key"
    assert call.evidence["helper_file"] == "app/keys.py"
    method = casts[("app/repo.py", 4)]
    assert method.evidence["helper"] == "Repo._key" and method.evidence["bound_to"] == "users.id"


def test_sql_casts_in_predicates_and_assignments(scan_src):
    r = scan_src('''
        async def a(conn, uid):
            await conn.execute("UPDATE sessions SET user_id = $1::text WHERE id = $2", uid, 1)
            await conn.fetch("SELECT created_at::date FROM sessions")
    ''')
    [f] = r.kinds("cast_workaround")
    assert (f.line, f.table, f.column, f.evidence["context"], f.evidence["param"]) == \
        (2, "sessions", "user_id", "set", 1)


# ---- unsafe_sql -----------------------------------------------------------------------


def test_psycopg_sql_composition_is_not_unsafe(scan_src):
    r = scan_src('''
        from psycopg import sql

        def a(cur, table, uid):
            cur.execute(sql.SQL("SELECT id FROM {} WHERE user_id = %s").format(sql.Identifier(table)), (uid,))
            cur.execute(sql.SQL("SELECT id FROM {t} WHERE user_id = {v}").format(
                t=sql.Identifier("app", "orders"), v=sql.Placeholder()), (uid,))
    ''')
    assert r.kinds("unsafe_sql") == []
    a, b = r.stmt(4), r.stmt(5)
    assert not a.dynamic and a.source_kind == "composed" and a.parse_error is None
    assert [(t.schema, t.name) for t in b.tables] == [("app", "orders")]
    assert [p.column for p in b.params] == ["user_id"]


def test_concatenated_runtime_value_is_unsafe(scan_src):
    r = scan_src('''
        def a(cur, name):
            cur.execute("SELECT id FROM users WHERE name = '" + name + "'")
            q = "SELECT id FROM users WHERE name = '%s'" % name
            cur.execute(q)
    ''')
    assert [(u.line, u.evidence["composition"]) for u in r.kinds("unsafe_sql")] == [(2, "concat"), (4, "percent")]


# ---- query_in_loop --------------------------------------------------------------------


def test_query_in_loop_directly_and_through_names(scan_src):
    r = scan_src('''
        async def a(conn):
            for u in await conn.fetch("SELECT id FROM users"):
                await conn.fetchrow("SELECT count(*) FROM orders WHERE user_id = $1", u["id"])

        async def b(conn):
            users = await conn.fetch("SELECT id FROM users")
            for u in users:
                if u["id"]:
                    await conn.execute("UPDATE users SET seen = now() WHERE id = $1", u["id"])

        def c(cur):
            cur.execute("SELECT id FROM users")
            for (uid,) in cur:
                cur.execute("SELECT 1 FROM orders WHERE user_id = %s", (uid,))
            rows = cur.fetchall()
            return [cur.execute("SELECT 1 FROM carts WHERE user_id = %s", (r[0],)) for r in rows]

        async def not_a_query_loop(conn, ids):
            for i in ids:
                await conn.execute("DELETE FROM carts WHERE id = $1", i)
    ''')
    loops = [(f.line, f.evidence["loop_line"]) for f in r.kinds("query_in_loop")]
    assert loops == [(3, 2), (9, 7), (14, 13), (16, 16)]
    assert r.stmt(3).in_loop and not r.stmt(2).in_loop and not r.stmt(20).in_loop


# ---- unparsed_sql ---------------------------------------------------------------------


def test_unparsed_sql(scan_src):
    r = scan_src('''
        def a(cur):
            cur.execute("SELEC id FROM users")
    ''')
    s = r.stmt(2)
    assert s.parse_error and s.statement_kind is None
    [f] = r.kinds("unparsed_sql")
    assert (f.line, f.col) == (2, 5) and "syntax error" in f.detail


def test_clause_holes_still_parse(scan_src):
    r = scan_src('''
        def a(cur, where, order):
            cur.execute(f"SELECT id FROM users {where} ORDER BY id {order}")
    ''')
    s = r.stmt(2)
    assert s.parse_error is None and s.tables[0].name == "users"
    assert r.kinds("unparsed_sql") == []


# ---- negatives ------------------------------------------------------------------------


def test_sql_looking_strings_that_are_never_executed(scan_src):
    r = scan_src('''
        import logging
        log = logging.getLogger(__name__)
        DOC = "SELECT * FROM users WHERE id = %s"

        def a(user_id):
            log.info("SELECT from users failed for %s", user_id)
            log.debug(f"DELETE FROM {user_id}")
            print("UPDATE users SET x = 1")
            raise ValueError(f"INSERT INTO t VALUES ({user_id})")
    ''')
    assert r.statements == [] and r.findings == []


def test_non_database_calls_named_like_sql_calls(scan_src):
    r = scan_src('''
        import copy
        import shutil

        def a(x, src, dst, cur):
            y = copy.copy(x)
            shutil.copy(src, dst)
            d = {}.copy()
            cur.fetchall()
            cur.fetchone()
            arr.copy("C")
            schema.execute("{ hello }")
    ''')
    assert r.statements == [] and r.findings == []


def test_async_for_over_a_cursor_is_a_query_loop(scan_src):
    r = scan_src('''
        async def a(conn):
            async with conn.transaction():
                async for u in conn.cursor("SELECT id FROM users"):
                    await conn.execute("DELETE FROM carts WHERE user_id = $1", u["id"])
    ''')
    assert [(f.line, f.evidence["loop_line"]) for f in r.kinds("query_in_loop")] == [(4, 3)]


def test_wrapper_parameter_is_untraced_with_a_hint(scan_src):
    r = scan_src('''
        async def run_query(conn, sql, *args):
            return await conn.fetch(sql, *args)
    ''')
    [u] = r.kinds("untraced_sql")
    assert u.evidence["reason"] == "parameter" and "'run_query'" in u.detail
    r2 = scan_src('''
        async def run_query(conn, sql, *args):
            return await conn.fetch(sql, *args)

        async def users(conn):
            return await run_query(conn, "SELECT id FROM users")
    ''', call_names={"fetch", "run_query"})
    assert [s.line for s in r2.statements] == [5]


def test_evidence_keys_follow_the_issue_type_reference(scan_src):
    """docs/issue-types.md "Evidence keys": the keys detection copies into issues."""
    r = scan_src('''
        def a(cur, uid, name, rows):
            cur.execute("SELECT 1 FROM sessions s JOIN users u ON s.user_id = u.id::text WHERE s.user_id = %s",
                        (str(uid),))
            cur.execute(f"SELECT 1 FROM users WHERE name = '{name}'")
            cur.execute("SELEC 1 FROM users")
            for r in cur.execute("SELECT id FROM users"):
                cur.execute("SELECT 1 FROM orders WHERE user_id = %s", (r[0],))
            cur.execute(*rows)
    ''')
    for f in r.kinds("cast_workaround"):
        assert {"kind", "cast", "function", "bound_to"} <= set(f.evidence)
        assert f.evidence["kind"] in ("python_cast", "sql_cast", "helper", "helper_call")
    for kind, extra in (("unsafe_sql", "reason"), ("query_in_loop", "reason"), ("unparsed_sql", "parser_error")):
        [f] = r.kinds(kind)
        assert {"call", "sql", extra} <= set(f.evidence), kind
    [u] = r.kinds("untraced_sql")
    assert (u.line, u.evidence["reason"]) == (8, "starred argument")
