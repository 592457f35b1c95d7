"""The language-neutral SQL analysis (``codescan.sql``): SQL text in, facts out."""

from __future__ import annotations

import pytest

from heal_pipeline.codescan.sql import SqlFacts, analyze, to_parseable
from heal_pipeline.codescan.template import hole, render, text
from heal_pipeline.model import DdlTarget


def cols(f: SqlFacts) -> set[tuple]:
    return {(c.schema, c.table, c.column, c.clause) for c in f.columns}


@pytest.mark.parametrize("sql,expected,style", [
    ("SELECT 1 WHERE a = %s AND b = %s", "SELECT 1 WHERE a = $1 AND b = $2", "format"),
    ("SELECT '%s', \"%s\" -- %s\n /* %s */ WHERE a = %s", "SELECT '%s', \"%s\" -- %s\n /* %s */ WHERE a = $1", "format"),
    ("SELECT 100 %% 7, x FROM t WHERE y = %s", "SELECT 100 % 7, x FROM t WHERE y = $1", "format"),
    ("SELECT %(a)s, %(b)s, %(a)s", "SELECT $1, $2, $1", "named"),
    ("SELECT $$ %s $$, $fn$ %s $fn$ WHERE a = $1", "SELECT $$ %s $$, $fn$ %s $fn$ WHERE a = $1", "dollar"),
    ("SELECT E'it\\'s %s' WHERE a = %s", "SELECT E'it\\'s %s' WHERE a = $1", "format"),
])
def test_placeholder_conversion(sql, expected, style):
    text_, got_style, _, _, _ = to_parseable(sql)
    assert (text_, got_style) == (expected, style)


def test_colon_and_qmark_only_when_asked():
    assert to_parseable("SELECT a::text WHERE b = :b")[0] == "SELECT a::text WHERE b = :b"
    assert to_parseable("SELECT a::text WHERE b = :b", "colon")[0] == "SELECT a::text WHERE b = $1"
    assert to_parseable("SELECT data ? 'k' FROM t")[0] == "SELECT data ? 'k' FROM t"
    assert to_parseable("SELECT 1 WHERE a = ?", "qmark")[0] == "SELECT 1 WHERE a = $1"


def test_cast_offsets_point_into_the_original_text():
    sql = "SELECT 'é' FROM t WHERE a = %(name)s AND b = %s::text"
    f = analyze(sql)
    assert f.casts[0].param == 2
    assert sql[f.cast_offsets[0]:f.cast_offsets[0] + 6] == "::text"


def test_parse_error_message_and_offset():
    f = analyze("SELECT id FROM users WHERE id = %s ORDR BY id")
    assert f.parse_error == 'syntax error at or near "ORDR"'
    assert f.error_offset == len("SELECT id FROM users WHERE id = %s ")


def test_output_aliases_are_not_columns():
    f = analyze("SELECT count(*) AS n, status FROM orders GROUP BY status ORDER BY n DESC")
    assert cols(f) == {(None, "orders", "status", "select"), (None, "orders", "status", "group_by")}


def test_ambiguous_unqualified_column_has_no_table():
    f = analyze("SELECT email FROM users u JOIN orders o ON o.user_id = u.id")
    assert (None, None, "email", "select") in cols(f)


def test_correlated_subquery_and_in_subquery_join():
    f = analyze("SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) "
                "AND u.org_id IN (SELECT id FROM orgs)")
    joins = {(j.left_table, j.left_column, j.right_table, j.right_column) for j in f.joins}
    assert joins == {("orders", "user_id", "users", "id"), ("users", "org_id", "orgs", "id")}


def test_upsert_excluded_and_conflict_target():
    f = analyze("INSERT INTO prefs (user_id, key, value) VALUES ($1, $2, $3) "
                "ON CONFLICT (user_id, key) DO UPDATE SET value = EXCLUDED.value")
    assert [t.name for t in f.tables] == ["prefs"]
    assert (None, "prefs", "value", "update") in cols(f)
    assert [(p.index, p.column, p.role) for p in f.params] == [
        (1, "user_id", "insert"), (2, "key", "insert"), (3, "value", "insert")]


def test_row_comparison_binds_each_param():
    f = analyze("SELECT 1 FROM t WHERE (a, b) = ($1, $2::int)")
    assert [(p.index, p.column, p.cast) for p in f.params] == [(1, "a", None), (2, "b", "int4")]


def test_in_list_any_and_between_bind_params():
    f = analyze("SELECT 1 FROM t WHERE a IN ($1, $2) AND b = ANY($3::int[]) AND c BETWEEN $4 AND $5")
    assert [(p.index, p.column) for p in f.params] == [(1, "a"), (2, "a"), (3, "b"), (4, "c"), (5, "c")]


def test_unbound_params_are_listed_with_role_other():
    f = analyze("SELECT id FROM t ORDER BY id LIMIT $1 OFFSET $2")
    assert [(p.index, p.role, p.column) for p in f.params] == [(1, "other", None), (2, "other", None)]


@pytest.mark.parametrize("sql,kind", [
    ("CREATE TABLE IF NOT EXISTS a.b (id int REFERENCES users(id))", "DDL"),
    ("ALTER TABLE orders ADD COLUMN note text", "DDL"),
    ("DROP TABLE IF EXISTS tmp_import", "DDL"),
    ("TRUNCATE staging", "OTHER"),
    ("EXPLAIN ANALYZE DELETE FROM t WHERE id = 1", "DELETE"),
    ("COPY (SELECT id FROM users) TO STDOUT", "COPY"),
    ("SET statement_timeout = 1000", "OTHER"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v", "OTHER"),
])
def test_statement_kinds(sql, kind):
    f = analyze(sql)
    assert f.parse_error is None and f.statement_kind == kind


def test_ddl_tables():
    # the relation a statement creates or drops is a definition (``ddl``), not a reference; what
    # its definition references (an FK's parent) is
    f = analyze("CREATE TABLE IF NOT EXISTS a.b (id int REFERENCES users(id))")
    assert {(t.schema, t.name) for t in f.tables} == {(None, "users")}
    assert f.ddl == [DdlTarget("create", "table", "a", "b", False, True)]
    f = analyze("DROP TABLE IF EXISTS app.tmp_import")
    assert f.tables == [] and f.ddl == [DdlTarget("drop", "table", "app", "tmp_import", False, True)]


def test_facts_round_trip_through_json():
    import json
    f = analyze("SELECT s.id FROM sessions s JOIN users u ON s.user_id = u.id::text WHERE u.id = %(uid)s")
    assert SqlFacts.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_render_chooses_a_parseable_placeholder_scheme():
    parts = [text("SELECT id FROM "), hole("runtime", "table", 1), text(" WHERE id = "),
             hole("runtime", "uid", 1), text(" AND note LIKE '%"), hole("runtime", "term", 1),
             text("%'")]
    sql, starts = render(parts)
    assert sql == "SELECT id FROM _heal_hole_1 WHERE id = '_heal_hole_2' AND note LIKE '%_heal_hole_3%'"
    assert starts[2] == len("SELECT id FROM _heal_hole_1")
    clause = [text("SELECT id FROM users "), hole("runtime", "where", 1)]
    assert render(clause)[0] == "SELECT id FROM users "
