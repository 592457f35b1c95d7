"""Extraction rules: how the SQL given to an execute-like call is traced (one case per rule).

Each case writes a small module to a temp dir, scans it, and checks the statement(s) found:
location (1-based line/col), the SQL text, its source kind, and that it is not flagged unsafe
when only constants went into it.
"""

from __future__ import annotations

from heal_pipeline.model import TableRef


def test_literal(scan_src):
    r = scan_src('''
        def get(cur, uid):
            cur.execute("SELECT id, email FROM users WHERE id = %s", (uid,))
    ''')
    s = r.stmt(2)
    assert (s.col, s.call, s.source_kind, s.function) == (5, "execute", "literal", "get")
    assert s.sql == "SELECT id, email FROM users WHERE id = %s"
    assert s.statement_kind == "SELECT" and not s.dynamic
    assert s.tables == [TableRef(None, "users", None)]
    assert r.findings == []


def test_implicit_concatenation(scan_src):
    r = scan_src('''
        def get(cur, uid):
            cur.execute(
                "SELECT s.id FROM sessions s "
                "JOIN users u ON s.user_id = u.id::text "
                "WHERE u.id = %s",
                (uid,),
            )
    ''')
    s = r.stmt(2)
    assert s.source_kind == "concat"
    assert s.sql == ("SELECT s.id FROM sessions s JOIN users u ON s.user_id = u.id::text "
                     "WHERE u.id = %s")
    # the cast sits on the second piece: its finding points at that exact line
    casts = r.kinds("cast_workaround")
    assert [(c.line, c.table, c.column) for c in casts] == [(4, "users", "id")]
    assert casts[0].evidence["statement_line"] == 2


def test_plus_concatenation_of_literals_is_not_dynamic(scan_src):
    r = scan_src('''
        BASE = "SELECT id FROM orders"
        def get(cur, uid):
            cur.execute(BASE + " WHERE user_id = %s", (uid,))
    ''')
    s = r.stmt(3)
    assert s.sql == "SELECT id FROM orders WHERE user_id = %s"
    assert s.source_kind == "concat" and not s.dynamic
    assert r.kinds("unsafe_sql") == []


def test_triple_quoted_keeps_exact_lines(scan_src):
    r = scan_src('''
        def get(cur, uid):
            cur.execute("""
                SELECT s.id
                FROM sessions s
                WHERE s.user_id = %s::text
            """, (uid,))
    ''')
    s = r.stmt(2)
    assert s.source_kind == "literal" and "FROM sessions s" in s.sql
    [c] = r.kinds("cast_workaround")
    assert (c.line, c.table, c.column) == (5, "sessions", "user_id")
    assert c.evidence["cast"] == "::text" and c.evidence["param"] == 1


def test_fstring_runtime_holes_become_placeholders(scan_src):
    r = scan_src('''
        def purge(cur, table, user_id):
            cur.execute(f"DELETE FROM {table} WHERE id = {user_id}")
    ''')
    s = r.stmt(2)
    assert s.source_kind == "fstring" and s.dynamic
    assert s.parse_error is None and s.statement_kind == "DELETE"
    assert s.sql == "DELETE FROM _heal_hole_1 WHERE id = '_heal_hole_2'"
    assert s.tables == []  # the placeholder is not a table
    [u] = r.kinds("unsafe_sql")
    assert (u.line, u.col) == (2, 5)
    assert u.evidence["values"] == ["table", "user_id"]


def test_fstring_of_constants_is_not_unsafe(scan_src):
    r = scan_src('''
        TABLE = "sessions"
        PAGE = 50
        def recent(cur, uid):
            cur.execute(f"SELECT id FROM {TABLE} WHERE user_id = %s LIMIT {PAGE}", (uid,))
    ''')
    s = r.stmt(4)
    assert s.sql == "SELECT id FROM sessions WHERE user_id = %s LIMIT 50"
    assert not s.dynamic and r.kinds("unsafe_sql") == []
    assert s.params[0].table == "sessions" and s.params[0].column == "user_id"


def test_format_method(scan_src):
    r = scan_src('''
        TABLE = "orders"
        def a(cur, uid):
            cur.execute("SELECT id FROM {} WHERE user_id = %s".format(TABLE), (uid,))
        def b(cur, uid):
            cur.execute("SELECT id FROM orders WHERE user_id = {uid}".format(uid=uid))
    ''')
    a, b = r.stmt(3), r.stmt(5)
    assert a.source_kind == "format" and not a.dynamic
    assert a.sql == "SELECT id FROM orders WHERE user_id = %s"
    assert b.dynamic and b.tables == [TableRef(None, "orders", None)]
    assert [u.line for u in r.kinds("unsafe_sql")] == [5]


def test_percent_formatting(scan_src):
    r = scan_src('''
        TABLE = "orders"
        def a(cur, uid):
            cur.execute("SELECT id FROM %s WHERE user_id = %%s" % TABLE, (uid,))
        def b(cur, status):
            cur.execute("SELECT id FROM orders WHERE status = '%s'" % status)
    ''')
    a, b = r.stmt(3), r.stmt(5)
    assert a.source_kind == "percent" and not a.dynamic
    assert a.sql == "SELECT id FROM orders WHERE user_id = %s"
    assert [p.column for p in a.params] == ["user_id"]
    assert b.dynamic and b.parse_error is None
    assert [u.line for u in r.kinds("unsafe_sql")] == [5]


def test_constant_in_same_module_class_and_function(scan_src):
    r = scan_src('''
        GET = "SELECT id FROM users WHERE id = $1"

        class Repo:
            SQL = "SELECT id FROM accounts WHERE owner_id = $1"

            async def one(self, conn, uid):
                return await conn.fetchrow(self.SQL, uid)

        async def get(conn, uid):
            return await conn.fetchrow(GET, uid)

        async def built(conn, uid, active):
            sql = "SELECT id FROM orders WHERE user_id = $1"
            if active:
                sql += " AND status = 'active'"
            return await conn.fetch(sql, uid)
    ''')
    assert r.stmt(7).sql == "SELECT id FROM accounts WHERE owner_id = $1"
    assert r.stmt(7).function == "Repo.one"
    assert r.stmt(10).source_kind == "constant"
    built = r.stmt(16)
    assert built.source_kind == "name"
    assert built.sql == "SELECT id FROM orders WHERE user_id = $1 AND status = 'active'"
    assert not built.dynamic


def test_constant_imported_from_other_module(scan_tree):
    r = scan_tree({
        "app/__init__.py": "",
        "app/queries.py": '''
            GET_USER = "SELECT id, email FROM users WHERE id = %s"
            BY_EMAIL = GET_USER.replace("id = %s", "email = %s") if False else "SELECT id FROM users WHERE email = %s"
        ''',
        "app/repo.py": '''
            from .queries import GET_USER
            from app import queries as q
            import app.queries

            def a(cur, uid):
                cur.execute(GET_USER, (uid,))
            def b(cur, email):
                cur.execute(q.BY_EMAIL, (email,))
            def c(cur, uid):
                cur.execute(app.queries.GET_USER, (uid,))
        ''',
    })
    a, b, c = (r.stmt(n, "app/repo.py") for n in (6, 8, 10))
    assert a.sql == c.sql == "SELECT id, email FROM users WHERE id = %s"
    assert a.source_kind == "constant"
    assert b.sql == "SELECT id FROM users WHERE email = %s"
    assert r.kinds("untraced_sql") == []


def test_aliases_resolve_to_table_names(scan_src):
    r = scan_src('''
        def q(cur):
            cur.execute("SELECT s.id, u.email FROM app.sessions AS s JOIN users u ON s.user_id = u.id "
                        "WHERE u.active ORDER BY s.created_at")
    ''')
    s = r.stmt(2)
    assert s.tables == [TableRef("app", "sessions", "s"), TableRef(None, "users", "u")]
    cols = {(c.schema, c.table, c.column, c.clause) for c in s.columns}
    assert ("app", "sessions", "id", "select") in cols
    assert (None, "users", "email", "select") in cols
    assert ("app", "sessions", "user_id", "join") in cols
    assert (None, "users", "active", "where") in cols
    assert ("app", "sessions", "created_at", "order_by") in cols
    assert [(j.left_table, j.left_column, j.right_table, j.right_column) for j in s.joins] == \
        [("sessions", "user_id", "users", "id")]


def test_cte_is_not_a_table(scan_src):
    r = scan_src('''
        def q(cur):
            cur.execute("""
                WITH recent AS (SELECT user_id FROM orders WHERE created_at > now() - interval '1 day')
                SELECT u.email FROM users u JOIN recent r ON r.user_id = u.id
            """)
    ''')
    s = r.stmt(2)
    assert s.ctes == ["recent"]
    assert {t.name for t in s.tables} == {"orders", "users"}
    assert all(c.table != "recent" for c in s.columns)


def test_insert_select(scan_src):
    r = scan_src('''
        def q(cur, uid):
            cur.execute("INSERT INTO archive.orders (id, user_id) "
                        "SELECT o.id, o.user_id::text FROM orders o WHERE o.user_id = %s", (uid,))
    ''')
    s = r.stmt(2)
    assert s.statement_kind == "INSERT"
    assert {(t.schema, t.name) for t in s.tables} == {("archive", "orders"), (None, "orders")}
    assert ("orders", "archive", "user_id", "insert") in {(c.table, c.schema, c.column, c.clause) for c in s.columns}
    [cast] = s.casts
    assert (cast.table, cast.column, cast.compared_schema, cast.compared_table, cast.compared_column) == \
        ("orders", "user_id", "archive", "orders", "user_id")


def test_returning_and_insert_params(scan_src):
    r = scan_src('''
        async def q(conn, uid):
            return await conn.fetchval(
                "INSERT INTO sessions (user_id, token) VALUES ($1::text, $2) RETURNING id, created_at",
                uid, "t")
    ''')
    s = r.stmt(2)
    assert ("sessions", "id", "returning") in {(c.table, c.column, c.clause) for c in s.columns}
    p1, p2 = s.params
    assert (p1.index, p1.column, p1.role, p1.cast) == (1, "user_id", "insert", "text")
    assert (p2.index, p2.column, p2.role) == (2, "token", "insert")


def test_update_set(scan_src):
    r = scan_src('''
        def q(cur, status, oid):
            cur.execute("UPDATE orders o SET status = %s, updated_at = now() WHERE o.id = %s",
                        (status, oid))
    ''')
    s = r.stmt(2)
    assert s.statement_kind == "UPDATE"
    assert [(p.index, p.column, p.role) for p in s.params] == [(1, "status", "set"), (2, "id", "compare")]
    assert ("orders", "updated_at", "update") in {(c.table, c.column, c.clause) for c in s.columns}


def test_sql_casts_double_colon_and_cast(scan_src):
    r = scan_src('''
        def q(cur, uid):
            cur.execute("SELECT 1 FROM sessions s JOIN users u ON CAST(s.user_id AS int) = u.id "
                        "WHERE s.user_id = %s::text", (uid,))
    ''')
    s = r.stmt(2)
    targets = sorted((c.target_type, c.column, c.param, c.compared_table, c.compared_column) for c in s.casts)
    assert targets == [("int4", "user_id", None, "users", "id"), ("text", None, 1, "sessions", "user_id")]
    assert len(r.kinds("cast_workaround")) == 2


def test_param_styles(scan_src):
    r = scan_src('''
        async def a(conn, uid):
            await conn.fetch("SELECT id FROM users WHERE id = $1 AND org_id = $2", uid, 1)
        def b(cur, uid):
            cur.execute("SELECT id FROM users WHERE id = %s AND org_id = %s", (uid, 1))
        def c(cur, uid):
            cur.execute("SELECT id FROM users WHERE id = %(uid)s OR manager_id = %(uid)s AND org_id = %(org)s",
                        {"uid": uid, "org": 1})
    ''')
    a, b, c = r.stmt(2), r.stmt(4), r.stmt(6)
    assert [(p.index, p.style, p.column) for p in a.params] == [(1, "dollar", "id"), (2, "dollar", "org_id")]
    assert [(p.index, p.style, p.column) for p in b.params] == [(1, "format", "id"), (2, "format", "org_id")]
    assert b.sql.count("%s") == 2  # the original text is kept
    assert sorted((p.index, p.style, p.name, p.column) for p in c.params) == [
        (1, "named", "uid", "id"), (1, "named", "uid", "manager_id"), (2, "named", "org", "org_id")]


def test_join_through_casts(scan_src):
    r = scan_src('''
        def q(cur):
            cur.execute("SELECT 1 FROM sessions s JOIN users u ON s.user_id = u.id::text")
            cur.execute("SELECT 1 FROM sessions s, users u WHERE s.user_id::int = u.id")
    ''')
    for line in (2, 3):
        [j] = r.stmt(line).joins
        assert (j.left_table, j.left_column, j.right_table, j.right_column) == ("sessions", "user_id", "users", "id")


def test_set_returning_functions_are_not_tables(scan_src):
    r = scan_src('''
        async def q(conn, ids):
            return await conn.fetch(
                "SELECT u.id FROM unnest($1::int[]) AS x(id) JOIN users u ON u.id = x.id, "
                "generate_series(1, 3) g", ids)
    ''')
    s = r.stmt(2)
    assert [t.name for t in s.tables] == ["users"]
    assert {"unnest", "generate_series"} <= set(s.functions_called)


def test_system_catalogs_kept_with_pg_catalog_schema(scan_src):
    r = scan_src('''
        def q(cur, name):
            cur.execute("SELECT c.relname FROM pg_class c JOIN information_schema.tables t "
                        "ON t.table_name = c.relname WHERE c.relname = %s", (name,))
    ''')
    s = r.stmt(2)
    assert TableRef("pg_catalog", "pg_class", "c") in s.tables
    assert TableRef("information_schema", "tables", "t") in s.tables


def test_sqlalchemy_text_and_named_colon_params(scan_src):
    r = scan_src('''
        import sqlalchemy as sa
        from sqlalchemy import text

        GET = text("SELECT id FROM users WHERE email = :email")

        def q(conn, email, uid):
            conn.execute(GET, {"email": email})
            conn.execute(sa.text("SELECT id FROM orders WHERE user_id = :uid"), {"uid": uid})
    ''')
    assert [s.line for s in r.statements] == [7, 8]  # the text() constructions are not counted twice
    s = r.stmt(8)
    assert [(p.style, p.name, p.column) for p in s.params] == [("named", "uid", "user_id")]


def test_copy_variants(scan_src):
    r = scan_src('''
        def load(cur, conn, f):
            with cur.copy("COPY users (id, email) FROM STDIN") as copy:
                pass
            cur.copy_from(f, "events", columns=("id", "kind"))
            cur.copy_expert("COPY orders TO STDOUT WITH CSV", f)
    ''')
    assert [(s.line, s.statement_kind, [t.name for t in s.tables]) for s in r.statements] == [
        (2, "COPY", ["users"]), (4, "COPY", ["events"]), (5, "COPY", ["orders"])]


def test_configurable_call_names(scan_src):
    src = '''
        def q(db):
            db.run_query("SELECT 1 FROM users")
            db.execute("SELECT 1 FROM orders")
    '''
    r = scan_src(src, call_names={"run_query"})
    assert [s.line for s in r.statements] == [2]


def test_untraced_sql_is_reported(scan_src):
    r = scan_src('''
        def run(cur, sql):
            cur.execute(sql)

        def build(cur, q):
            cur.execute(q.compile())
    ''')
    assert r.statements == []
    got = [(f.line, f.col, f.evidence["reason"]) for f in r.kinds("untraced_sql")]
    assert got == [(2, 5, "parameter"), (5, 5, "built by a call")]


def test_columns_are_one_based_characters(scan_src):
    r = scan_src('''
        def q(cur):
            x = "é"; cur.execute("SELECT 1 FROM users")
    ''')
    assert r.stmt(2).col == 14


def test_module_level_names_follow_source_order(scan_src):
    r = scan_src('''
        sql = "SELECT id FROM users"
        cur.execute(sql)
        sql = "SELECT id FROM orders"
        cur.execute(sql)
    ''')
    assert [s.tables[0].name for s in r.statements] == ["users", "orders"]


def test_sqlalchemy_text_constant_from_another_module(scan_tree):
    r = scan_tree({
        "app/__init__.py": "",
        "app/queries.py": '''
            from sqlalchemy import text
            BY_EMAIL = text("SELECT id FROM users WHERE email = :email")
            UNUSED = text("SELECT id FROM legacy_tokens")
        ''',
        "app/repo.py": '''
            from app.queries import BY_EMAIL

            def q(conn, email):
                return conn.execute(BY_EMAIL, {"email": email})
        ''',
    })
    s = r.stmt(4, "app/repo.py")
    assert s.parse_error is None and [(p.name, p.column) for p in s.params] == [("email", "email")]
    # a text() constant nobody executes in its own module is still reported where it is built
    assert [(x.file, x.line) for x in r.statements] == [
        ("app/queries.py", 2), ("app/queries.py", 3), ("app/repo.py", 4)]
