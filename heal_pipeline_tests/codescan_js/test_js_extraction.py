"""Extraction per call style: the SQL text, where it is, its parameters, its language."""


def test_node_postgres_literal_template_and_text_values_object(js):
    r = js({"app.ts": """
        import { Pool } from "pg";
        const pool = new Pool();
        export async function get(id: number, client: any) {
          await pool.query("SELECT token FROM auth.sessions WHERE user_id = $1", [id]);
          await client.query(`
            SELECT id
            FROM users
            WHERE id = $1`, [id]);
          await pool.query({ text: "UPDATE users SET email = $2 WHERE id = $1", values: [id, "x"] });
        }
    """})
    s = r.stmt(4)
    assert (s.call, s.language, s.source_kind, s.function) == ("query", "typescript", "literal", "get")
    assert [(t.schema, t.name) for t in s.tables] == [("auth", "sessions")]
    assert [(p.index, p.table, p.column) for p in s.params] == [(1, "sessions", "user_id")]
    m = r.stmt(5)
    assert m.sql.split() == ["SELECT", "id", "FROM", "users", "WHERE", "id", "=", "$1"]
    assert m.source_kind == "template" and not m.dynamic
    o = r.stmt(9)
    assert o.source_kind == "object" and o.statement_kind == "UPDATE"
    assert {(p.index, p.column) for p in o.params} == {(1, "id"), (2, "email")}
    assert r.kinds("unsafe_sql") == [] and r.kinds("untraced_sql") == []


def test_knex_raw_fragments_use_qmark_bindings(js):
    r = js({"repo.js": """
        const knex = require("knex")({});
        async function f(id) {
          await knex.raw("SELECT * FROM users WHERE id = ?", [id]);
          return knex("users").whereRaw("users.id = ?", [id]).joinRaw("JOIN auth.sessions s ON s.user_id = users.id");
        }
    """})
    s = r.stmt(3, "repo.js")
    assert s.language == "javascript" and [(p.index, p.column) for p in s.params] == [(1, "id")]
    calls = sorted(x.call for x in r.stmts("repo.js"))
    assert calls == ["joinRaw", "raw", "whereRaw"]


def test_sequelize_prisma_typeorm(js):
    r = js({"app.ts": """
        async function f(sequelize, prisma, manager, id: string) {
          await sequelize.query("SELECT * FROM users WHERE id = ?", { replacements: [id] });
          await sequelize.query("SELECT * FROM users WHERE id = :id", { replacements: { id } });
          await prisma.$queryRaw`SELECT * FROM users WHERE id = ${id}`;
          await prisma.$executeRawUnsafe("DELETE FROM auth.sessions WHERE token = $1", id);
          await manager.query("SELECT * FROM users WHERE email = $1", [id]);
        }
    """})
    assert [r.stmt(n).call for n in (2, 3, 4, 5, 6)] == ["query", "query", "$queryRaw", "$executeRawUnsafe", "query"]
    assert r.stmt(4).sql == "SELECT * FROM users WHERE id = $1" and r.stmt(4).source_kind == "tagged_template"
    assert r.stmt(3).params[0].column == "id"
    assert r.stmt(5).statement_kind == "DELETE"
    assert r.kinds("unsafe_sql") == []


def test_postgres_js_and_slonik_tagged_templates_with_fragments(js):
    r = js({"app.mjs": """
        import postgres from "postgres";
        const sql = postgres();
        export async function f(id, name) {
          const where = sql`WHERE id = ${id}`;
          await sql`SELECT * FROM users ${sql`WHERE email = ${name}`} AND id = ${id}`;
          await sql`SELECT * FROM ${sql(name)}`;
        }
    """})
    s = r.stmt(5, "app.mjs")
    assert s.sql == "SELECT * FROM users WHERE email = $1 AND id = $2" and not s.dynamic
    assert {p.index for p in s.params} == {1, 2}
    assert r.stmt(6, "app.mjs").dynamic is False  # an identifier helper is safe composition
    assert [x.line for x in r.stmts("app.mjs")] == [5, 6]  # a bare fragment is not a statement
    assert r.kinds("unsafe_sql") == []


def test_constants_same_module_imported_and_required(js):
    r = js({
        "db/queries.ts": """
            const COLS = "id, email";
            export const GET_USER = "SELECT " + COLS + " FROM users WHERE id = $1";
            export const LIST = `
              SELECT id
              FROM users`;
        """,
        "db/legacy.js": """
            const SESS = "SELECT token FROM auth.sessions";
            module.exports = { SESS };
        """,
        "app.ts": """
            import { GET_USER, LIST as ALL } from "./db/queries";
            import * as q from "./db/queries";
            const { SESS } = require("./db/legacy");
            const LOCAL = "DELETE FROM users WHERE id = $1";
            async function f(pool, id) {
              await pool.query(GET_USER, [id]);
              await pool.query(ALL);
              await pool.query(q.GET_USER, [id]);
              await pool.query(SESS);
              const local = LOCAL;
              await pool.query(local, [id]);
              await pool.query(MISSING_CONST);
            }
        """,
    })
    assert r.stmt(6).sql == "SELECT id, email FROM users WHERE id = $1"
    assert r.stmt(7).sql.split() == ["SELECT", "id", "FROM", "users"]
    assert r.stmt(8).sql == r.stmt(6).sql
    assert r.stmt(9).sql == "SELECT token FROM auth.sessions"
    assert r.stmt(11).statement_kind == "DELETE"
    assert [u.line for u in r.at("untraced_sql")] == [12]


def test_configurable_names_and_every_extension(js):
    body = 'export async function f(db) { await db.runSql("SELECT id FROM users"); await db.query("SELECT 1 FROM users"); }\n'
    files = {f"m{ext}": body for ext in (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx")}
    files["c.tsx"] = 'export const C = () => <div onClick={() => pool.query("SELECT 2 FROM users")}>x</div>;\n'
    r = js(files, call_names={"runSql"})
    langs = {s.file: s.language for s in r.result.statements}
    assert set(langs) == set(files)
    assert langs["m.js"] == "javascript" and langs["m.tsx"] == "typescript"
    assert {s.call for s in r.result.statements if s.file == "m.ts"} == {"runSql", "query"}


def test_not_sql_is_not_a_statement(js):
    r = js({"app.ts": """
        async function f(router, req) {
          router.query("page");
          const res = await fetch("https://example.com/select");
          req.query(req.params.id);
          return document.querySelector("select");
        }
    """})
    assert r.result.statements == [] and r.kinds("untraced_sql") == []


def test_skipped_build_output_minified_generated_and_declarations(js):
    sql = 'pool.query("SELECT id FROM users");\n'
    r = js({
        "src/app.ts": sql,
        "node_modules/pkg/index.js": sql,
        "dist/app.js": sql, "dist/more.js": sql,
        "build/app.js": sql, ".next/server/page.js": sql,
        "src/vendor.min.js": sql,
        "src/long.js": "var a=1;" * 400 + "\n" + sql,
        "src/gen.ts": "// Code generated by prisma. DO NOT EDIT.\n" + sql,
        "src/types.d.ts": "export declare function q(): void;\n" + sql,
        "src/bin.js": b"\x00\x01" + sql.encode(),
    }, exclude=[".git"])
    assert [s.file for s in r.result.statements] == ["src/app.ts"]
    why = {f.file: f.detail for f in r.kinds("skipped_file")}
    assert "2 JavaScript/TypeScript file(s)" in why["dist"] and "build output" in why["dist"]
    assert {"node_modules", "build", ".next"} <= set(why)
    assert "minified" in why["src/vendor.min.js"] and "minified" in why["src/long.js"]
    assert "generated" in why["src/gen.ts"] and "declaration" in why["src/types.d.ts"]
    assert "binary" in why["src/bin.js"]
    assert r.result.files_skipped == len(why)


def test_default_exclude_still_skips_node_modules_silently_and_python_build_dirs_are_scanned(js):
    r = js({"node_modules/a.js": 'pool.query("SELECT 1 FROM users");\n',
            "build/gen.py": 'cur.execute("SELECT 1 FROM users")\n'})
    assert [s.file for s in r.result.statements] == ["build/gen.py"]


def test_cache_reuses_records_and_sees_a_change(js, tmp_path):
    files = {"a.ts": 'export const Q = "SELECT id FROM users";\n',
             "b.ts": 'import { Q } from "./a";\nasync function f(p) { await p.query(Q); }\n'}
    cache = tmp_path / ".cache"
    first = js(files, cache_dir=cache)
    assert first.stmt(2, "b.ts").sql == "SELECT id FROM users"
    again = js({}, cache_dir=cache)
    assert again.result.files_parsed == 0 and again.stmt(2, "b.ts").sql == "SELECT id FROM users"
    changed = js({"a.ts": 'export const Q = "SELECT email FROM users";\n'}, cache_dir=cache)
    assert changed.stmt(2, "b.ts").sql == "SELECT email FROM users"
    assert changed.result.files_parsed == 1


def test_python_and_js_files_with_identical_bytes_do_not_share_a_cache_record(js, tmp_path):
    body = 'x = 1\n'
    r = js({"same.py": body, "same.js": body}, cache_dir=tmp_path / ".c")
    assert r.result.files_skipped == 0 and r.result.files_scanned == 2


def test_typeorm_query_builder_raw_fragments(js):
    r = js({"repo.ts": """
        async function f(ds, id: string, name: string) {
          const q = ds.getRepository(User).createQueryBuilder("u");
          await ds.createQueryBuilder().select("u.id").from(User, "u").where("u.id = :id", { id }).getOne();
          await ds.createQueryBuilder("u").where(`u.name = '${name}'`).andWhere("u.id IN (:...ids)", { ids: [1] }).getMany();
          const filters = [1, 2].filter((x) => x > 1);
          await q.where("u.id = :id", { id });
        }
    """})
    calls = [(s.line, s.call) for s in r.stmts("repo.ts")]
    assert calls == [(3, "where"), (4, "andWhere"), (4, "where")]  # a bare `q` receiver is not traced
    assert r.stmt(3, "repo.ts").params[0].index == 1 and r.stmt(3, "repo.ts").statement_kind == "SELECT"
    assert [(f.line, f.evidence["values"]) for f in r.kinds("unsafe_sql")] == [(4, ["name"])]
    assert r.kinds("unparsed_sql") == []
