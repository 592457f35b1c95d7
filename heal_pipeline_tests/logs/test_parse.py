"""Log formats, normalisation, grouping and diagnosis on real log text (no server needed)."""

from __future__ import annotations

import pytest

from heal_pipeline.errors import HealError
from heal_pipeline.logs import (
    detect_format,
    diagnose,
    group_failed,
    iso_timestamp,
    merge_failed,
    normalize,
    parse_file,
    parse_text,
    sqlstate_name,
)
from heal_pipeline.logs.parse import parse_chunk
from heal_pipeline.model import FailedQuery

from .helpers import LOG_LINE, PG18_CSV, PG18_JSON, cline, jline

# --------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------


def test_pg18_jsonlog_and_csvlog_lines_agree():
    j = parse_text(PG18_JSON + LOG_LINE, "jsonlog")
    c = parse_text(PG18_CSV, "csvlog")
    assert [r.sqlstate for r in j] == ["42P01", "42883"]
    assert [r.sqlstate for r in c] == ["42P01", "42883", "23505"]
    for a, b in zip(j, c):
        assert (a.message, a.statement, a.cursor_position, a.hint, a.timestamp, a.database, a.user,
                a.application) == (b.message, b.statement, b.cursor_position, b.hint, b.timestamp,
                                   b.database, b.user, b.application)
    assert j[0].message == 'relation "x" does not exist'
    assert j[0].timestamp == "2026-11-22T01:25:34.244+00:00"
    assert c[2].detail == "Key (id)=(1) already exists."
    assert c[2].statement == "insert into t values (1,'dup')"
    assert c[2].cursor_position is None


def test_jsonlog_keeps_only_failures_with_a_sqlstate():
    text = (LOG_LINE + jline(1) + jline(2, "00000", "duration: 1001 ms", severity="LOG")
            + jline(3, "01000", "some warning", severity="WARNING") + jline(4, "57P01", "terminating", None,
                                                                            severity="FATAL"))
    res = parse_chunk(text.encode(), "jsonlog", final=True)
    assert [(r.severity, r.sqlstate) for r in res.records] == [("ERROR", "42P01"), ("FATAL", "57P01")]
    assert res.skipped == 3 and res.garbage == 0
    everything = parse_text(text, "jsonlog", failures_only=False)
    assert len(everything) == 5


def test_csvlog_record_with_embedded_newlines_and_quotes():
    stmt = "select *\nfrom t\nwhere name = 'it''s \"quoted\"'\n  and nope = 1"
    text = cline(1) + cline(2, "42703", 'column "nope" does not exist', stmt, cursor=53,
                            hint='Perhaps you meant to reference the column "t.name".') + cline(3)
    assert text.count("\n") == 6  # the middle record spans four lines
    recs = parse_text(text, "csvlog")
    assert [r.line for r in recs] == [1, 2, 6]
    assert recs[1].statement == stmt
    assert recs[1].hint == 'Perhaps you meant to reference the column "t.name".'
    assert recs[1].cursor_position == 53


@pytest.mark.parametrize("columns", [23, 24, 26])
def test_csvlog_column_counts_of_pg12_to_pg18(columns):
    recs = parse_text(cline(1, columns=columns) + cline(2, columns=columns), "csvlog")
    assert [r.sqlstate for r in recs] == ["42P01", "42P01"]
    assert recs[0].application == "shop"
    assert recs[0].backend_type == (None if columns < 24 else "client backend")


def test_csvlog_broken_record_is_garbage_and_reading_resynchronises():
    text = cline(1) + 'garbage "with an odd quote\n' + cline(2) + cline(3, "42703", 'column "a" does not exist',
                                                                    "select a\nfrom b") + cline(4)
    res = parse_chunk(text.encode(), "csvlog", final=True)
    assert [r.line for r in res.records] == [1, 3, 4, 6]
    assert res.garbage == 1
    assert res.garbage_samples[0].line == 2
    assert res.garbage_samples[0].text == 'garbage "with an odd quote'


def test_plain_application_format():
    text = (
        "2026-11-22T01:25:34.244Z ERROR 42P01 db=shop user=web relation \"billing.refunds\" does not exist"
        " | STATEMENT: select * from billing.refunds where id = 4\n"
        "2026-11-22T01:25:35Z INFO  request served in 12 ms\n"
        "2026-11-22 01:25:36.001+01:00 ERROR 23505 duplicate key value violates unique constraint \"t_pkey\"\n"
        "2026-11-22T01:25:37Z ERROR Could not connect\n"
    )
    res = parse_chunk(text.encode(), "plain", final=True)
    assert [(r.sqlstate, r.database, r.user) for r in res.records] == [("42P01", "shop", "web"),
                                                                       ("23505", None, None)]
    assert res.records[0].statement == "select * from billing.refunds where id = 4"
    assert res.records[0].message == 'relation "billing.refunds" does not exist'
    assert res.records[0].timestamp == "2026-11-22T01:25:34.244+00:00"
    assert res.records[1].timestamp == "2026-11-22T01:25:36.001+01:00"
    assert res.records[1].statement is None
    # the INFO line and the error without a SQLSTATE match no format: counted, never silently dropped
    assert res.skipped == 0 and res.garbage == 0 and res.unrecognised == 2
    assert [g.line for g in res.unrecognised_samples] == [2, 4]


def test_postgres_stderr_format_with_continuation_lines():
    text = (
        "2026-11-22 02:36:17.418 UTC [12383] LOG:  database system is ready to accept connections\n"
        "2026-11-22 02:36:17.434 UTC [12390] ERROR:  column \"nope\" does not exist at character 53\n"
        "2026-11-22 02:36:17.434 UTC [12390] HINT:  Perhaps you meant to reference the column \"t.name\".\n"
        "2026-11-22 02:36:17.434 UTC [12390] STATEMENT:  select *\n"
        "\tfrom t\n"
        "\twhere name = 'it''s \"quoted\"'\n"
        "\t  and nope = 1\n"
        "2026-11-22 02:36:17.435 UTC [12390] ERROR:  42601: syntax error at or near \"selec\" at character 1\n"
        "2026-11-22 02:36:17.435 UTC [12390] LOCATION:  scanner_yyerror, scan.l:1241\n"
        "2026-11-22 02:36:17.435 UTC [12390] STATEMENT:  selec 1\n"
        "2026-11-22 02:36:17.436 UTC [12390] ERROR:  something nobody can classify\n"
    )
    assert detect_format(None, text.encode()) == "plain"
    res = parse_chunk(text.encode(), "plain", final=True)
    a, b = res.records
    assert (a.sqlstate, a.sqlstate_inferred, a.cursor_position) == ("42703", True, 53)
    assert a.message == 'column "nope" does not exist'
    assert a.statement == "select *\nfrom t\nwhere name = 'it''s \"quoted\"'\n  and nope = 1"
    assert a.hint == 'Perhaps you meant to reference the column "t.name".'
    assert (b.sqlstate, b.sqlstate_inferred, b.statement) == ("42601", False, "selec 1")
    assert a.pid == 12390 and a.timestamp == "2026-11-22T02:36:17.434+00:00"
    assert res.skipped == 1  # the LOG line
    assert res.unrecognised == 1  # the ERROR no SQLSTATE can be inferred for
    assert res.unrecognised_samples[0].text.endswith("something nobody can classify")


def test_detect_format_by_name_and_content(tmp_path):
    assert detect_format("x/postgresql.json") == "jsonlog"
    assert detect_format("x/postgresql.csv") == "csvlog"
    assert detect_format("x/postgresql.log", PG18_JSON.encode()) == "jsonlog"
    assert detect_format("x/postgresql", PG18_CSV.encode()) == "csvlog"
    assert detect_format("x/app.log", b"\n2026-11-22T01:25:34Z ERROR 42P01 x\n") == "plain"
    assert detect_format("x/app.log", b"") is None
    p = tmp_path / "server.log"
    p.write_text(PG18_CSV)
    assert len(parse_file(p).records) == 3
    assert len(parse_file(p, "csv").records) == 3
    with pytest.raises(HealError, match="unknown log format"):
        parse_file(p, "xml")


def test_iso_timestamps():
    assert iso_timestamp("2026-11-22 01:25:34.244 UTC") == "2026-11-22T01:25:34.244+00:00"
    assert iso_timestamp("2026-11-22 01:25:34 GMT") == "2026-11-22T01:25:34+00:00"
    assert iso_timestamp("2026-11-22T01:25:34+0530") == "2026-11-22T01:25:34+05:30"
    assert iso_timestamp("2026-11-22 01:25:34.5 -03") == "2026-11-22T01:25:34.5-03:00"
    assert iso_timestamp("2026-11-22 01:25:34 CET") == "2026-11-22 01:25:34 CET"  # kept as written
    assert iso_timestamp(None) is None


# --------------------------------------------------------------------------------------
# normalisation and grouping
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [
    ("SELECT * FROM x WHERE id = 5", "select *  from x\n where id=7;"),
    ("select * from x where id = -3", "select * from x where id = 42"),
    ("select * from t where a in (1, 2, 3) and b = 'x'", "select * from t where a in (4,5) and b = 'it''s'"),
    ("insert into t values (1,'a'),(2,'b')", "insert into t values (3, 'c'), (4, 'd'), (5, 'e')"),
    ("select * from Users where NAME = $1 -- from the api", "SELECT * FROM users WHERE name = 'bob'"),
    ("selec * frm x where id = 5", "selec * frm x where id = 6"),  # does not parse: lexer path
    ("select 'unterminated", "select 'unterminated too"),  # does not lex: regex path
])
def test_normalize_groups_literal_variants(a, b):
    assert normalize(a) == normalize(b)


def test_normalize_output():
    assert normalize("SELECT * FROM x WHERE id = 5") == "select * from x where id = $1"
    assert normalize("select u.id, count(*) from users u where u.name = 'a' and x::int in (1, 2)") == (
        "select u.id, count(*) from users u where u.name = $1 and x::int in ($2 /*, ... */)")
    assert normalize('select "Weird"."Col" from "Weird" where id = $2 and b = $2') == (
        'select "Weird"."Col" from "Weird" where id = $1 and b = $1')
    assert normalize("select * from t where ünï = 'é'") == "select * from t where ünï = $1"
    assert normalize("select 1 /* c */; select 2;") == "select $1; select $2"
    assert normalize("") == ""


def test_normalize_keeps_different_queries_apart():
    assert normalize("select * from x where id = 1") != normalize("select * from y where id = 1")
    assert normalize('select * from "X"') != normalize("select * from x")
    assert normalize("select * from x") == normalize('select * from X')


def test_thousand_error_burst_groups_into_a_few_failed_queries():
    lines = []
    for i in range(1000):
        k = i % 10
        if k < 6:
            lines.append(jline(i, "42P01", 'relation "billing.refunds" does not exist',
                               f"select * from billing.refunds where order_id = {i}", cursor_position=15))
        elif k < 9:
            lines.append(jline(i, "42703", "column u.last_login_at does not exist",
                               f"SELECT u.last_login_at FROM users u WHERE u.id = {i} AND u.name = 'n{i}'"))
        else:
            lines.append(jline(i, "23505", 'duplicate key value violates unique constraint "t_pkey"',
                               f"insert into t values ({i}, 'v{i}')", detail=f"Key (id)=({i}) already exists."))
    recs = parse_text("".join(lines), "jsonlog", source="burst.json")
    groups = group_failed(recs)
    assert [(g.sqlstate, g.count) for g in groups] == [("42P01", 600), ("42703", 300), ("23505", 100)]
    top = groups[0]
    assert top.normalized == "select * from billing.refunds where order_id = $1"
    assert top.first_seen == recs[0].timestamp
    assert top.statement == "select * from billing.refunds where order_id = 995"  # the latest
    assert top.source == "burst.json"
    assert groups[2].detail == "Key (id)=(999) already exists."
    assert len({g.group_key for g in groups}) == 3
    only_other_db = group_failed(recs, database="other")
    assert only_other_db == []


def test_statementless_failures_group_by_message():
    recs = parse_text(jline(1, "3D000", 'database "a" does not exist', None, severity="FATAL")
                      + jline(2, "3D000", 'database "b" does not exist', None, severity="FATAL")
                      + jline(3, "3D000", 'database "a" does not exist', None, severity="FATAL"), "jsonlog")
    groups = group_failed(recs)
    assert [(g.normalized, g.count) for g in groups] == [('-- database "a" does not exist', 2),
                                                         ('-- database "b" does not exist', 1)]


def test_merge_failed_adds_counts_and_widens_the_window():
    a = group_failed(parse_text(jline(1, second=1) + jline(2, second=2), "jsonlog"))
    b = group_failed(parse_text(jline(3, second=9, statement="select * from x /* later */"), "jsonlog"))
    (m,) = merge_failed(a, b)
    assert m.count == 3
    assert m.first_seen == a[0].first_seen and m.last_seen == b[0].last_seen
    assert m.statement == "select * from x /* later */"
    assert a[0].count == 2  # inputs untouched


# --------------------------------------------------------------------------------------
# sqlstates and diagnosis
# --------------------------------------------------------------------------------------


def fq(state: str, message: str, statement: str | None = None, **kw) -> FailedQuery:
    return FailedQuery(sqlstate=state, message=message, statement=statement,
                       normalized=normalize(statement or ""), **kw)


def test_sqlstate_names():
    assert sqlstate_name("42P01") == "undefined_table"
    assert sqlstate_name("40P01") == "deadlock_detected"
    assert sqlstate_name("42P99") == "syntax_error_or_access_rule_violation"  # class fallback
    assert sqlstate_name("ZZ999") == "unknown"


def test_diagnose_from_the_message_alone():
    d = diagnose(fq("42P01", 'relation "billing.refunds" does not exist'))
    assert (d["kind"], d["schema"], d["table"]) == ("missing_table", "billing", "refunds")
    d = diagnose(fq("42P01", 'relation "refunds" does not exist'))
    assert (d["schema"], d["table"]) == (None, "refunds")
    d = diagnose(fq("42703", "column u.last_login_at does not exist"))
    assert (d["kind"], d["qualifier"], d["column"], d["table"]) == ("missing_column", "u", "last_login_at", None)
    d = diagnose(fq("42703", 'column "last_login_at" of relation "users" does not exist'))
    assert (d["table"], d["column"]) == ("users", "last_login_at")
    d = diagnose(fq("42883", "operator does not exist: character varying = integer"))
    assert (d["kind"], d["types"], d["operator"]) == ("type_mismatch", ["character varying", "integer"], "=")
    d = diagnose(fq("42883", "operator does not exist: - text"))
    assert d["types"] == ["text"] and d["operator"] == "-"
    d = diagnose(fq("42804", 'column "user_id" is of type integer but expression is of type text',
                    "insert into app.orders (user_id) values ($1)"))
    assert (d["kind"], d["schema"], d["table"], d["column"], d["types"]) == (
        "type_mismatch", "app", "orders", "user_id", ["integer", "text"])
    d = diagnose(fq("40P01", "deadlock detected"))
    assert d["kind"] == "deadlock" and d["table"] is None
    d = diagnose(fq("99999", "whatever"))
    assert d["kind"] == "other" and d["sqlstate_name"] == "unknown"


def test_diagnose_resolves_aliases_through_the_statement():
    # no cursor position: the alias map of the whole statement is used
    d = diagnose(fq("42703", "column u.last_login_at does not exist",
                    "select u.last_login_at from app.users u join orders o on o.user_id = u.id"))
    assert (d["schema"], d["table"], d["column"], d["qualifier"]) == ("app", "users", "last_login_at", "u")
    # the cursor picks the inner scope where the same alias means another table
    sql = "select * from orders u where exists (select 1 from users u where u.last_login_at > now())"
    d = diagnose(fq("42703", "column u.last_login_at does not exist", sql,
                    cursor_position=sql.index("u.last_login_at") + 1))
    assert d["table"] == "users"
    # a CTE is not a table
    d = diagnose(fq("42703", "column r.amount does not exist", "with r as (select 1 as x) select r.amount from r"))
    assert d["table"] is None and d["cte"] == "r"


def test_diagnose_type_mismatch_operands_with_cursor():
    sql = "select * from orders o join users u on o.user_id = u.id"
    d = diagnose(fq("42883", "operator does not exist: text = integer", sql, cursor_position=50))
    assert d["operands"] == [
        {"type": "text", "column": "user_id", "qualifier": "o", "table": "orders"},
        {"type": "integer", "column": "id", "qualifier": "u", "table": "users"}]
    assert (d["table"], d["column"]) == ("orders", "user_id")


def test_diagnose_constraint_violations():
    d = diagnose(fq("23503", 'insert or update on table "orders" violates foreign key constraint "orders_user_fk"',
                    "insert into shop.orders values (1, 2)", detail='Key (user_id)=(2) is not present in table "users".'))
    assert (d["kind"], d["schema"], d["table"], d["column"], d["referenced_table"], d["constraint"]) == (
        "fk_violation", "shop", "orders", "user_id", "users", "orders_user_fk")
    d = diagnose(fq("23505", 'duplicate key value violates unique constraint "uq"', "insert into t values (1, 2)",
                    detail="Key (a, b)=(1, 2) already exists."))
    assert (d["table"], d["key_columns"], d["column"]) == ("t", ["a", "b"], None)
    d = diagnose(fq("23502", 'null value in column "qty" of relation "orders" violates not-null constraint'))
    assert (d["table"], d["column"]) == ("orders", "qty")
