"""The demo's Node service: its planted JS/TS items found at the right file:line, its SQL real."""

from pathlib import Path

import psycopg
import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.demo.estate import JS_APP_DIR, load_planted

CODE_SIDE = {"cast_workaround", "unsafe_sql", "query_in_loop", "unparsed_sql"}


@pytest.fixture(scope="module")
def demo_js():
    return scan([JS_APP_DIR])


def planted_js() -> set[tuple]:
    return {(p["issue_type"], p["file"], p["line"]) for p in load_planted()
            if p["file"] and not p["file"].endswith(".py")}


def test_every_planted_js_item_is_a_finding_at_its_line(demo_js):
    found = {(f.kind, f.file, f.line) for f in demo_js.findings if f.kind in CODE_SIDE}
    planted = planted_js()
    assert planted and planted <= found, sorted(planted - found)
    # every extra finding is a cast candidate detection drops (bound to no mismatch) — none here
    assert found - planted == set(), sorted(found - planted)
    assert {s.language for s in demo_js.statements} == {"javascript", "typescript"}
    assert not [f for f in demo_js.findings if f.kind in ("untraced_sql", "skipped_file")]


def test_the_original_design_example(demo_js):
    (c,) = [f for f in demo_js.findings if f.kind == "cast_workaround" and f.file == "src/sessions.ts"
            and f.line == 7]
    assert c.evidence["cast"] == "parseInt" and c.evidence["bound_to"] == "auth.sessions.user_id"
    assert (c.schema, c.table, c.column) == ("auth", "sessions", "user_id")


def test_js_statements_prepare_on_the_demo_estate_except_the_planted_typo(demo_js, demo_dsn):
    unparsed = {(f, ln) for t, f, ln in planted_js() if t == "unparsed_sql"}
    failures = {}
    with psycopg.connect(demo_dsn, autocommit=True) as db:
        for s in demo_js.statements:
            if s.dynamic:
                continue  # runtime text: the placeholders are not the values that run
            try:
                with db.transaction():
                    db.execute("PREPARE heal_js_probe AS " + s.sql)
                    db.execute("DEALLOCATE heal_js_probe")
            except psycopg.Error as exc:
                failures[(s.file, s.line)] = exc.sqlstate
    assert failures == {k: "42601" for k in unparsed}
    assert len([s for s in demo_js.statements if not s.dynamic]) >= 6


def test_heal_check_shows_the_language_of_code_issues():
    from heal_pipeline.check import code_language

    assert [code_language(f) for f in ("a/b.py", "src/x.ts", "x.tsx", "y.mjs", "z.cjs", "w.jsx", None, "m.sql")] == \
        ["python", "typescript", "typescript", "javascript", "javascript", "javascript", None, None]


def test_code_change_sensor_sees_a_ts_change(tmp_path):
    from heal_pipeline.defs.automation import CodeWatcher, changed_files

    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.ts").write_text("export const a = 1;\n")
    (tmp_path / "src/b.jsx").write_text("export const b = 1;\n")
    (tmp_path / "notes.txt").write_text("x\n")
    w = CodeWatcher()
    before = w.snapshot([tmp_path])
    assert sorted(Path(p).name for p in before) == ["a.ts", "b.jsx"]
    (tmp_path / "src/a.ts").write_text("export const a = 22;\n")
    after = w.snapshot([tmp_path])
    assert [Path(p).name for p in changed_files(before, after)] == ["a.ts"]
