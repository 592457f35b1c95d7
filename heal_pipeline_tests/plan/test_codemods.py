"""Before/after tests of the cast-removal codemods, in LibCST ``CodemodTest`` style."""

from __future__ import annotations

from libcst.codemod import CodemodTest

from heal_pipeline.plan.codemods import RemoveCastCommand, RemoveHelperCommand, remove_sql_casts


class TestRemovePythonCast(CodemodTest):
    TRANSFORM = RemoveCastCommand

    def test_str_around_bound_argument(self) -> None:
        before = """
            async def list_sessions(conn, user_id: int):
                return await conn.fetch("SELECT * FROM s WHERE user_id = $1", str(user_id))
        """
        after = """
            async def list_sessions(conn, user_id: int):
                return await conn.fetch("SELECT * FROM s WHERE user_id = $1", user_id)
        """
        self.assertCodemod(before, after, line=2, kind="python_cast", cast="str")

    def test_only_the_cast_at_that_line_and_column(self) -> None:
        before = """
            a = f(str(x), str(y))
            b = g(str(z))
        """
        after = """
            a = f(str(x), y)
            b = g(str(z))
        """
        self.assertCodemod(before, after, line=1, col=15, kind="python_cast", cast="str")

    def test_uuid_and_int(self) -> None:
        before = """
            import uuid
            cur.execute("SELECT 1 FROM t WHERE id = %s", (uuid.UUID(raw_id),))
            cur.execute("SELECT 1 FROM t WHERE id = %s", (int(raw_id),))
        """
        after = """
            import uuid
            cur.execute("SELECT 1 FROM t WHERE id = %s", (raw_id,))
            cur.execute("SELECT 1 FROM t WHERE id = %s", (int(raw_id),))
        """
        self.assertCodemod(before, after, line=2, kind="python_cast", cast="uuid.UUID")

    def test_nothing_to_do_is_a_skip(self) -> None:
        before = """
            x = str(a, "utf-8")
        """
        self.assertCodemod(before, before, line=1, kind="python_cast", cast="str", expected_skip=True)


class TestRemoveHelperCall(CodemodTest):
    TRANSFORM = RemoveCastCommand

    def test_helper_call_replaced_by_argument(self) -> None:
        before = """
            await conn.execute("INSERT INTO s (user_id, t) VALUES ($1, $2)", session_user_key(user_id), token)
        """
        after = """
            await conn.execute("INSERT INTO s (user_id, t) VALUES ($1, $2)", user_id, token)
        """
        self.assertCodemod(before, after, line=1, kind="helper_call", function="auth.sessions.session_user_key")


class TestRemoveSqlCast(CodemodTest):
    TRANSFORM = RemoveCastCommand

    def test_column_cast_in_join(self) -> None:
        before = """
            q = conn.fetchrow("SELECT u.id FROM auth.sessions s JOIN public.users u ON s.user_id = u.id::text WHERE s.token = $1", token)
        """
        after = """
            q = conn.fetchrow("SELECT u.id FROM auth.sessions s JOIN public.users u ON s.user_id = u.id WHERE s.token = $1", token)
        """
        self.assertCodemod(before, after, line=1, kind="sql_cast", cast="::text", column="id")

    def test_parameter_cast_and_cast_syntax(self) -> None:
        before = """
            conn.execute("DELETE FROM auth.sessions WHERE user_id = $1::text", user_id)
            cur.execute('DELETE FROM t WHERE a = CAST(%s AS text) AND d = d::date', (a,))
        """
        after = """
            conn.execute("DELETE FROM auth.sessions WHERE user_id = $1", user_id)
            cur.execute('DELETE FROM t WHERE a = CAST(%s AS text) AND d = d::date', (a,))
        """
        self.assertCodemod(before, after, line=1, kind="sql_cast", cast="::text", param=1)
        after3 = """
            conn.execute("DELETE FROM auth.sessions WHERE user_id = $1::text", user_id)
            cur.execute('DELETE FROM t WHERE a = %s AND d = d::date', (a,))
        """
        self.assertCodemod(before, after3, line=2, kind="sql_cast", cast="::text", param=1)

    def test_multiline_string_only_that_line(self) -> None:
        before = '''
            q = """
                SELECT a::text
                  FROM t
                 WHERE b = c::text
            """
        '''
        after = '''
            q = """
                SELECT a::text
                  FROM t
                 WHERE b = c
            """
        '''
        self.assertCodemod(before, after, line=4, kind="sql_cast", cast="::text")

    def test_escaped_strings_are_left_alone(self) -> None:
        before = r"""
            q = "SELECT a FROM t WHERE b = c::text AND d = 'x\n'"
        """
        self.assertCodemod(before, before, line=1, kind="sql_cast", cast="::text", expected_skip=True)


class TestRemoveHelper(CodemodTest):
    TRANSFORM = RemoveHelperCommand

    def test_def_removed(self) -> None:
        before = """
            import secrets


            def session_user_key(user_id: int) -> str: return str(user_id)


            async def create_session(conn, user_id):
                return secrets.token_hex(32)
        """
        after = """
            import secrets


            async def create_session(conn, user_id):
                return secrets.token_hex(32)
        """
        self.assertCodemod(before, after, name="session_user_key", line=4)

    def test_import_names_removed(self) -> None:
        before = """
            from .sessions import create_session, session_user_key
            from .other import session_user_key
        """
        after = """
            from .sessions import create_session
        """
        self.assertCodemod(before, after, name="session_user_key", imports_only=True)


def test_sql_cast_removal_keeps_other_casts_and_parses():
    new, n = remove_sql_casts("SELECT x::date FROM t WHERE a = b::text AND c = $2::text", "text", param=2)
    assert (new, n) == ("SELECT x::date FROM t WHERE a = b::text AND c = $2", 1)
    assert remove_sql_casts("SELECT broken FROM", "text") == ("SELECT broken FROM", 0)
