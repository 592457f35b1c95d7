"""Findings per JavaScript/TypeScript pattern, positive and negative."""

import pytest

from heal_pipeline.codescan.javascript.extract import JsNames


@pytest.mark.parametrize("expr,cast", [
    ("parseInt(userId)", "parseInt"), ("parseInt(userId, 10)", "parseInt"), ("Number(userId)", "Number"),
    ("+userId", "+"), ("String(userId)", "String"), ("userId.toString()", "toString"),
    ("`${userId}`", "`${}`"), ("(String(userId) as string)", "String"),
])
def test_cast_of_a_bound_value_is_reported_with_its_column(js, expr, cast):
    r = js({"app.ts": f"""
        async function f(pool, userId) {{
          await pool.query("SELECT token FROM auth.sessions WHERE user_id = $1", [{expr}]);
        }}
    """})
    (c,) = r.at("cast_workaround", 2)
    assert (c.schema, c.table, c.column) == ("auth", "sessions", "user_id")
    assert c.evidence["kind"] == "python_cast" and c.evidence["form"] == "python"  # same contract as Python
    assert c.evidence["cast"] == cast and c.evidence["language"] == "typescript"
    assert c.evidence["bound_to"] == "auth.sessions.user_id" and c.detail.startswith("TypeScript cast ")
    assert c.col == 1 + len('  await pool.query("SELECT token FROM auth.sessions WHERE user_id = $1", [')


def test_cast_in_tagged_template_and_interpolated_in_untagged_one(js):
    r = js({"app.js": """
        async function f(sql, pool, userId) {
          await sql`SELECT token FROM auth.sessions WHERE user_id = ${String(userId)}`;
          await pool.query(`SELECT token FROM auth.sessions WHERE user_id = ${parseInt(userId)}`);
        }
    """})
    (a,) = r.at("cast_workaround", 2, "app.js")
    assert a.evidence["cast"] == "String" and a.column == "user_id" and not r.at("unsafe_sql", 2, "app.js")
    (b,) = r.at("cast_workaround", 3, "app.js")
    assert b.evidence["cast"] == "parseInt" and b.evidence["interpolated"] and b.column == "user_id"
    assert b.col == 1 + len("  await pool.query(`SELECT token FROM auth.sessions WHERE user_id = ${")
    (u,) = r.at("unsafe_sql", 3, "app.js")
    assert u.evidence["values"] == ["parseInt(userId)"] and "template literal" in u.detail


def test_casts_that_bind_no_column_are_not_workarounds(js):
    r = js({"app.ts": """
        async function f(pool, req) {
          const n = parseInt(req.query.n);
          await pool.query("SELECT id FROM users LIMIT $1", [parseInt(req.query.limit)]);
          await pool.query("SELECT id FROM users WHERE id = $1", [n]);
          console.log(String(n));
        }
    """})
    assert r.kinds("cast_workaround") == []


def test_id_helpers_local_and_imported(js):
    r = js({
        "ids.ts": """
            export function sessionKey(id: number): string {
              return String(id);
            }
            export const toId = (x: string) => parseInt(x, 10);
            export const notOnlyACast = (x: string) => parseInt(x, 10) + 1;
        """,
        "app.ts": """
            import { sessionKey, toId, notOnlyACast } from "./ids";
            const localKey = (id) => id.toString();
            async function f(pool, id) {
              await pool.query("SELECT 1 FROM auth.sessions WHERE user_id = $1", [sessionKey(id)]);
              await pool.query("SELECT 1 FROM auth.sessions WHERE user_id = $1", [localKey(id)]);
              await pool.query("SELECT 1 FROM users WHERE id = $1", [toId(id)]);
              await pool.query("SELECT 1 FROM users WHERE id = $1", [notOnlyACast(id)]);
            }
        """,
    })
    assert [c.evidence["kind"] for c in r.at("cast_workaround", 4)] == ["helper_call"]
    assert r.at("cast_workaround", 4)[0].evidence["helper_file"] == "ids.ts"
    assert r.at("cast_workaround", 5)[0].evidence["function"] == "localKey"
    assert r.at("cast_workaround", 6)[0].evidence["cast"] == "parseInt"
    assert r.at("cast_workaround", 7) == []
    helpers = {(f.file, f.line): f for f in r.kinds("cast_workaround") if f.evidence["kind"] == "helper"}
    assert set(helpers) == {("ids.ts", 1), ("ids.ts", 4), ("app.ts", 2)}
    assert helpers[("ids.ts", 1)].evidence["call_sites"] == ["app.ts:4"]
    assert helpers[("ids.ts", 1)].evidence["language"] == "typescript"


def test_sql_casts_in_the_text(js):
    r = js({"app.ts": """
        async function f(pool, id) {
          await pool.query(`SELECT s.token
            FROM auth.sessions s JOIN users u ON s.user_id = u.id::text
            WHERE s.token = CAST($1 AS text)`, [id]);
          await pool.query("SELECT created_at::date FROM users");
        }
    """})
    c, p = sorted((f for f in r.kinds("cast_workaround") if f.evidence["kind"] == "sql_cast"), key=lambda f: f.line)
    assert c.line == 3 and c.evidence["compared_with"] == "auth.sessions.user_id"
    assert c.evidence["cast"] == "::text"
    assert p.line == 4 and p.evidence["param"] == 1 and p.evidence["compared_with"] == "auth.sessions.token"


def test_unsafe_sql_only_for_runtime_text(js):
    r = js({"app.ts": """
        const TABLE = "users";
        async function f(pool, sql, name, col) {
          await pool.query("SELECT * FROM users WHERE email = '" + name + "'");
          await pool.query(`SELECT * FROM users ORDER BY ${col}`);
          await pool.query(`SELECT * FROM ${TABLE} WHERE id = $1`, [name]);
          await sql`SELECT * FROM users WHERE email = ${name}`;
          await pool.query("SELECT * FROM " + TABLE);
        }
    """})
    assert [f.line for f in r.kinds("unsafe_sql")] == [3, 4]
    assert r.at("unsafe_sql", 3)[0].evidence["composition"] == "concat"
    assert "tagged template" in r.at("unsafe_sql", 3)[0].detail
    assert r.stmt(5).sql == "SELECT * FROM users WHERE id = $1"


def test_query_in_loop_for_of_foreach_map_and_for(js):
    r = js({"app.ts": """
        async function f(pool, sql, ids) {
          const { rows } = await pool.query("SELECT id FROM users");
          for (const u of rows) {
            await pool.query("SELECT * FROM auth.sessions WHERE user_id = $1", [u.id]);
          }
          const users = await sql`SELECT id FROM users`;
          users.forEach(async (u) => { await sql`SELECT 1 FROM auth.sessions WHERE user_id = ${u.id}`; });
          await Promise.all(users.map((u) => pool.query("SELECT 2 FROM auth.sessions WHERE user_id = $1", [u.id])));
          for (let i = 0; i < rows.length; i++) {
            await pool.query("SELECT 3 FROM users WHERE id = $1", [rows[i].id]);
          }
          for (const id of ids) {
            await pool.query("SELECT 4 FROM users WHERE id = $1", [id]);
          }
          [1, 2].forEach(async (n) => { await pool.query("SELECT 5 FROM users WHERE id = $1", [n]); });
        }
    """})
    loops = {f.line: f.evidence["loop_line"] for f in r.kinds("query_in_loop")}
    assert loops == {4: 3, 7: 7, 8: 8, 10: 9}
    assert r.stmt(4).in_loop and not r.stmt(13).in_loop


def test_unparsed_sql(js):
    r = js({"app.ts": """
        async function f(pool) {
          await pool.query("SELEC id FROM users");
          await pool.query("SELECT id FROM users");
        }
    """})
    (u,) = r.kinds("unparsed_sql")
    assert u.line == 2 and "SELEC" in u.detail and u.evidence["language"] == "typescript"


def test_prefilter_matches_call_names_and_tags_only():
    n = JsNames()
    assert n.prefilter(b"await pool.query(`x`)") and n.prefilter(b"sql`select 1`")
    assert n.prefilter(b"prisma.$queryRaw`x`")
    assert not n.prefilter(b"const querySelector = 1; mysql = 2")
    assert JsNames({"runSql"}).prefilter(b"db.runSql(")


def test_generic_names_need_a_database_receiver(js):
    r = js({"app.js": """
        async function f(db, pool, list, promises, q) {
          await Promise.any(promises);
          list.any("select the first");
          await db.one("SELECT id FROM users WHERE id = $1", [1]);
          await this.pool.query(q);
          await db.manyOrNone(q);
          await list.query(q);
        }
    """})
    assert [s.line for s in r.stmts("app.js")] == [4]
    assert sorted(u.line for u in r.at("untraced_sql", file="app.js")) == [5, 6]
