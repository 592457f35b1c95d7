"""JS/TS code fixes: exact before/after, refusals, the syntax check and the restore."""

import shutil
import textwrap

import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.codescan.javascript import check_js_syntax, plan_js_cast_fix
from heal_pipeline.codescan.javascript.rewrite import JsFixError, apply_js_fix

Q = 'await pool.query("SELECT 1 FROM auth.sessions WHERE user_id = $1", [{}]);'


def write(tmp_path, name, body):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return p


def casts(tmp_path):
    return [f for f in scan([tmp_path]).findings if f.kind == "cast_workaround"]


@pytest.mark.parametrize("expr,fixed", [
    ("parseInt(userId)", "userId"), ("parseInt(userId, 10)", "userId"), ("Number(req.params.id)", "req.params.id"),
    ("+userId", "userId"), ("String( userId )", "userId"), ("userId.toString()", "userId"),
    ("`${userId}`", "userId"), ("String(a || b)", "a || b"), ("+(a ?? b)", "(a ?? b)"),
])
def test_cast_removed_argument_kept_exactly(tmp_path, expr, fixed):
    p = write(tmp_path, "app.ts", f"""
        // keep me
        export async function f(pool, userId, req, a, b) {{
          {Q.format(expr)}  // and me
        }}
    """)
    (c,) = casts(tmp_path)
    new, diff = plan_js_cast_fix(p, c)
    assert new == p.read_text().replace(expr, fixed, 1)
    assert f"-  {Q.format(expr)}  // and me\n+  {Q.format(fixed)}  // and me\n" in diff
    assert diff.startswith("--- a/app.ts\n+++ b/app.ts\n")


def test_interpolated_cast_and_helper_call_and_sql_casts(tmp_path):
    p = write(tmp_path, "app.js", """
        const key = (id) => String(id);
        export async function f(pool, sql, userId) {
          await pool.query(`SELECT 1 FROM auth.sessions WHERE user_id = ${parseInt(userId)}`);
          await sql`SELECT 1 FROM auth.sessions WHERE user_id = ${key(userId)}`;
          await pool.query(`SELECT 1 FROM auth.sessions s JOIN users u ON s.user_id = u.id::text`);
          await pool.query("SELECT 1 FROM auth.sessions s JOIN users u ON s.user_id = CAST(u.id AS text)");
        }
    """)
    by = {(c.line, c.evidence["kind"]): c for c in casts(tmp_path)}
    assert plan_js_cast_fix(p, by[(3, "python_cast")])[0].splitlines()[2] == \
        "  await pool.query(`SELECT 1 FROM auth.sessions WHERE user_id = ${userId}`);"
    assert plan_js_cast_fix(p, by[(4, "helper_call")])[0].splitlines()[3] == \
        "  await sql`SELECT 1 FROM auth.sessions WHERE user_id = ${userId}`;"
    assert plan_js_cast_fix(p, by[(5, "sql_cast")])[0].splitlines()[4] == \
        "  await pool.query(`SELECT 1 FROM auth.sessions s JOIN users u ON s.user_id = u.id`);"
    assert plan_js_cast_fix(p, by[(6, "sql_cast")])[0].splitlines()[5] == \
        '  await pool.query("SELECT 1 FROM auth.sessions s JOIN users u ON s.user_id = u.id");'
    # the helper still has its caller: not removed
    with pytest.raises(JsFixError, match=r"helper key\(\) is still used at line\(s\) 4"):
        plan_js_cast_fix(p, by[(1, "helper")])


def test_unused_helper_removed_with_its_comment(tmp_path):
    before = """
        import x from "y";
        // converts a user id for auth.sessions
        const key = (id) => String(id);
        export async function f(pool, userId) {
          await pool.query("SELECT 1 FROM auth.sessions WHERE user_id = $1", [key(userId)]);
        }
    """
    p = write(tmp_path, "app.js", before)
    (h,) = [c for c in casts(tmp_path) if c.evidence["kind"] == "helper"]
    (call,) = [c for c in casts(tmp_path) if c.evidence["kind"] == "helper_call"]
    p.write_text(plan_js_cast_fix(p, call)[0])
    new, diff = plan_js_cast_fix(p, h)
    assert new == textwrap.dedent("""\
        import x from "y";
        export async function f(pool, userId) {
          await pool.query("SELECT 1 FROM auth.sessions WHERE user_id = $1", [userId]);
        }
    """)
    assert "-const key = (id) => String(id);\n" in diff


def test_exported_helper_needs_the_roots_and_no_importer(tmp_path):
    ids = write(tmp_path, "src/ids.ts", "export function toKey(id: number): string {\n  return String(id);\n}\n")
    write(tmp_path, "src/app.ts", 'import { toKey } from "./ids";\nexport const k = toKey(1);\n')
    finding = {"line": 1, "evidence": {"kind": "helper", "function": "toKey", "helper": "toKey"}}
    with pytest.raises(JsFixError, match="exported"):
        plan_js_cast_fix(ids, finding)
    with pytest.raises(JsFixError, match=r"still imported by src/app.ts:1, src/app.ts:2"):
        plan_js_cast_fix(ids, finding, source_dirs=[tmp_path])
    (tmp_path / "src/app.ts").write_text("export const k = 1;\n")
    assert plan_js_cast_fix(ids, finding, source_dirs=[tmp_path])[0] == ""


def test_issue_shaped_input_and_code_changed(tmp_path):
    p = write(tmp_path, "app.ts", "async function f(pool, u) {\n  " + Q.format("Number(u)") + "\n}\n")
    issue = {"line": 2, "evidence": {"kind": "python_cast", "cast": "Number", "col": 70,
                                     "scanner": {"kind": "python_cast", "cast": "Number"}}}
    assert "[u]" in plan_js_cast_fix(p, issue)[0]
    with pytest.raises(JsFixError, match="no Number cast at line 1"):
        plan_js_cast_fix(p, dict(issue, line=1))


def test_syntax_check_tree_sitter_and_node(tmp_path):
    ok, detail = check_js_syntax("const a = 1;\n", "m.ts")
    assert ok and "node --check: not run (TypeScript" in detail
    ok, detail = check_js_syntax("const a = ;\n", "m.js")
    assert not ok and detail.startswith("tree-sitter: syntax error at line 1")
    if shutil.which("node") is None:
        pytest.skip("no node binary on PATH: the node --check half is not checked here")
    ok, detail = check_js_syntax("let a = 1;\nlet a = 2;\n", "m.js")  # tree-sitter accepts, node does not
    assert not ok and "node --check" in detail and "already been declared" in detail
    ok, detail = check_js_syntax(write(tmp_path, "ok.mjs", "export const a = 1;\n"))
    assert ok and f"node --check ({shutil.which('node')}): ok" in detail


def test_failed_check_restores_the_original(tmp_path):
    p = write(tmp_path, "app.js", "export const a = parseInt(x);\n")
    original = p.read_bytes()
    ok, detail = apply_js_fix(p, "export const a = (x;\n")
    assert not ok and "original restored" in detail and p.read_bytes() == original
    ok, detail = apply_js_fix(p, "export const a = x;\n", expected_before="something else")
    assert not ok and "changed since" in detail and p.read_bytes() == original
    ok, detail = apply_js_fix(p, "export const a = x;\n", expected_before=original.decode())
    assert ok and p.read_text() == "export const a = x;\n"
    assert not list(tmp_path.glob(".app.js.heal-*"))


def test_every_demo_cast_fix_applies_and_the_cast_is_gone(tmp_path):
    from heal_pipeline.demo.estate import JS_APP_DIR

    root = tmp_path / "demo_js"
    shutil.copytree(JS_APP_DIR, root)
    todo = [c for c in casts(root) if c.evidence["kind"] != "helper"]
    assert len(todo) == 4
    for c in sorted(todo, key=lambda c: (c.file, -c.line)):
        new, diff = plan_js_cast_fix(root / c.file, c)
        ok, detail = apply_js_fix(root / c.file, new)
        assert ok and "tree-sitter: no ERROR/MISSING nodes" in detail, detail
    left = casts(root)
    assert [c.evidence["kind"] for c in left] == []  # the helper has no bound call site left either
    (h,) = [{"line": 2, "evidence": {"kind": "helper", "helper": "sessionUserKey"}}]
    with pytest.raises(JsFixError, match=r"still imported by src/sessions.ts:3"):
        plan_js_cast_fix(root / "src/ids.ts", h, source_dirs=[root])


def test_diff_headers_use_the_relative_path(tmp_path):
    p = write(tmp_path, "src/app.ts", "export const a = (u) => q(" + '"SELECT 1 FROM users WHERE id = $1"' + ", [Number(u)]);\n")
    finding = {"line": 1, "evidence": {"kind": "python_cast", "cast": "Number"}}
    _, diff = plan_js_cast_fix(p, finding, rel="src/app.ts")
    assert diff.startswith("--- a/src/app.ts\n+++ b/src/app.ts\n")


def test_columns_count_characters_and_the_fix_finds_the_right_cast(tmp_path):
    line = 'const é = 1; await pool.query("SELECT 1 FROM users WHERE id = $1 OR id = $2", [Number(a), Number(b)]);'
    p = write(tmp_path, "app.js", f"async function f(pool, a, b) {{\n  {line}\n}}\n")
    second = sorted((c for c in casts(tmp_path)), key=lambda c: c.col)[1]
    assert second.col == 3 + line.index("Number(b)")
    new, _ = plan_js_cast_fix(p, second)
    assert "[Number(a), b]" in new
