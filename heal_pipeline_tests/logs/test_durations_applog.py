"""Issue 12 items 8 and 9, log side: ``duration:`` lines of a real server in all three formats, and an
application's own JSON error log read through a key mapping (unrecognised lines counted)."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.config import with_database
from heal_pipeline.errors import ConfigError
from heal_pipeline.logs import cursor_at_end, merge_durations, parse_key_mapping, read_new
from heal_pipeline.logs.parse import parse_chunk


@pytest.fixture(scope="module")
def logged(pg_server):
    """Statements run with log_min_duration_statement = 0 (simple and extended protocol), and the
    server's three log files read back from where they stood before."""
    if pg_server is None:
        pytest.skip("HEAL_TEST_DSN points at an external server: its log files are not local")
    info = pg_server.info()
    admin = info.dsn("postgres")
    dbname = f"heal_dur_{uuid.uuid4().hex[:8]}"
    stderr = info.log_dir / "postgresql"
    paths = {"jsonlog": info.jsonlog, "csvlog": info.csvlog, "plain": stderr}
    cursors = {k: cursor_at_end(p, fmt=k) for k, p in paths.items()}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        with psycopg.connect(with_database(admin, dbname), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            conn.execute("SET log_min_duration_statement = 0")
            for i in range(3):
                conn.execute(f"SELECT count(*) FROM t WHERE id > {i}", prepare=False)  # simple protocol
            conn.execute("SELECT name\nFROM t\nWHERE id = %s", (7,))  # extended: execute <unnamed>
            conn.execute("SET log_min_duration_statement = -1")
            conn.execute("SELECT 'not logged'")
        out: dict = {}
        deadline = time.monotonic() + 20
        for fmt, path in paths.items():
            recs, cur = [], cursors[fmt]
            while True:
                res = read_new(path, cur, fmt=fmt)
                cur = res.cursor
                recs += res.durations
                if sum("WHERE id = $1" in r.statement or "id = %s" in r.statement or "WHERE id =" in r.statement
                       for r in recs) >= 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            out[fmt] = (recs, res)
        yield {"db": dbname, "cursors": cursors, **out}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.mark.parametrize("fmt", ["jsonlog", "csvlog", "plain"])
def test_duration_lines_of_the_real_server_in_every_format(logged, fmt):
    recs, res = logged[fmt]
    mine = [r for r in recs if "FROM t" in r.statement or "from t" in r.statement.lower()]
    stmts = [r.statement for r in mine]
    assert stmts[:3] == [f"SELECT count(*) FROM t WHERE id > {i}" for i in range(3)]
    assert "SELECT name\nFROM t\nWHERE id = $1" in stmts  # multi-line, extended protocol
    assert all(r.duration_ms is not None and r.duration_ms >= 0 for r in mine)
    assert not any("not logged" in s for s in stmts)
    if fmt != "plain":  # the default stderr prefix names no database
        assert {r.database for r in mine} == {logged["db"]}
    assert res.garbage == 0 and res.unrecognised == 0  # a real server's log: every line has a shape


def test_the_sensors_read_skips_duration_lines_and_recognises_every_line(logged):
    _, res = logged["plain"]
    again = read_new(res.path, logged["cursors"]["plain"], fmt="plain", durations=False)
    assert again.durations == [] and again.unrecognised == 0 and again.skipped > 0


def test_grouped_by_normalised_statement_with_calls_and_times(logged):
    recs, _ = logged["jsonlog"]
    res_groups = [g for g in _group(recs, logged["db"]) if "count(*)" in g.normalized]
    (g,) = res_groups
    assert g.normalized == "select count(*) from t where id > $1"
    assert g.calls == 3 and g.max_ms <= g.total_ms and g.mean_ms == pytest.approx(g.total_ms / 3)
    # a second read of the same statements adds up
    (m,) = [x for x in merge_durations([g], [g]) if x.normalized == g.normalized]
    assert m.calls == 6 and m.total_ms == pytest.approx(2 * g.total_ms)


def _group(recs, db):
    from heal_pipeline.logs import group_durations

    return group_durations(recs, database=db)


def test_duration_message_shapes_without_a_statement_are_skipped():
    line = ('{"timestamp":"2026-12-03 06:00:00.000 UTC","dbname":"app","error_severity":"LOG",'
            '"message":"%s","backend_type":"client backend"}\n')
    data = "".join(line % m for m in ("duration: 12.5 ms", "duration: 3.0 ms  parse <unnamed>: select 1",
                                      "duration: 4.0 ms  bind <unnamed>: select 1",
                                      "duration: 250.0 ms  execute S_1: select 2"))
    res = parse_chunk(data.encode(), "jsonlog", final=True)
    assert [(r.duration_ms, r.statement) for r in res.durations] == [(250.0, "select 2")]
    assert res.skipped == 3 and res.unrecognised == 0


# --------------------------------------------------------------------------------------
# application JSON logs
# --------------------------------------------------------------------------------------

APP_LINES = [
    {"ts": "2026-12-03T06:01:02Z", "level": "error", "sqlstate": "42883",
     "error": "operator does not exist: text = integer", "query": "SELECT id FROM users WHERE email = $1"},
    {"ts": "2026-12-03T06:01:03Z", "level": "error", "error": 'relation "refunds" does not exist',
     "query": "SELECT * FROM refunds"},  # no SQLSTATE key: inferred from the message
    {"ts": "2026-12-03T06:01:04Z", "level": "info", "msg": "request served"},  # not a failure
    {"ts": "2026-12-03T06:01:05Z", "level": "error", "error": "upstream timed out"},  # no SQLSTATE
    {"ts": "2026-12-03T06:01:06Z", "level": "warning", "sqlstate": "01000", "error": "a warning"},
]


def _app_log(lines) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def test_app_json_log_with_the_default_keys(tmp_path):
    path = tmp_path / "app.jsonl"
    path.write_bytes(_app_log(APP_LINES))
    res = read_new(path, None, database="shop")  # app lines name no database: they are the app's
    assert [(f.sqlstate, f.statement) for f in res.failed] == [
        ("42883", "SELECT id FROM users WHERE email = $1"), ("42P01", "SELECT * FROM refunds")]
    assert res.records[1].sqlstate_inferred and not res.records[0].sqlstate_inferred
    assert res.failed[0].first_seen == "2026-12-03T06:01:02+00:00"
    assert res.skipped == 2  # the info line and the 01000 warning
    assert res.unrecognised == 1 and res.unrecognised_samples[0]["line"] == 4
    assert "no SQLSTATE" in res.unrecognised_samples[0]["reason"]
    assert "1 unrecognised line(s)" in res.summary()


def test_app_json_log_with_its_own_key_names_through_a_mapping(tmp_path):
    lines = [{"@t": "2026-12-03T06:02:00Z", "sev": "ERROR", "pg": {"code": "22P02"},
              "err_text": 'invalid input syntax for type integer: "abc"', "sql_text": "SELECT * FROM t WHERE id = $1",
              "database": "shop"},
             {"@t": "2026-12-03T06:02:01Z", "sev": "ERROR", "pg": {"code": "23503"},
              "err_text": 'insert or update on table "orders" violates foreign key constraint "orders_user_fk"',
              "sql_text": "INSERT INTO orders (user_id) VALUES ($1)", "database": "other"}]
    path = tmp_path / "app.json"
    path.write_bytes(_app_log(lines))
    # without the mapping nothing is recognised — and that is said, not hidden
    plain = read_new(path, None)
    assert plain.failed == [] and plain.unrecognised == 2
    keys = parse_key_mapping("sqlstate=pg.code, message=err_text,statement=sql_text,timestamp=@t,severity=sev")
    res = read_new(path, None, keys=keys, database="shop")
    assert [(f.sqlstate, f.message[:20], f.database) for f in res.failed] == [
        ("22P02", "invalid input syntax", "shop")]  # the other database's line is filtered out
    assert res.unrecognised == 0 and len(res.records) == 2


def test_app_log_durations_feed_slow_query(tmp_path):
    path = tmp_path / "app.jsonl"
    path.write_bytes(_app_log([{"level": "info", "query": "SELECT * FROM big WHERE x = 1", "duration_ms": 812.5},
                               {"level": "debug", "query": "SELECT * FROM big WHERE x = 2", "duration_ms": 700}]))
    res = read_new(path, None)
    (g,) = res.slow
    assert (g.normalized, g.calls, g.max_ms) == ("select * from big where x = $1", 2, 812.5)
    assert res.skipped == 0 and res.unrecognised == 0


@pytest.mark.parametrize("value, message", [
    ("sqlstate", "is not field=key"),
    ("state=code", "unknown field 'state'"),
    ("sqlstate=", "is not field=key"),
])
def test_a_bad_key_mapping_is_a_one_line_error(value, message):
    with pytest.raises(ConfigError, match=message) as exc:
        parse_key_mapping(value)
    assert "\n" not in str(exc.value)
    assert parse_key_mapping("") is None and parse_key_mapping({"sqlstate": "code"}) == {"sqlstate": "code"}


def test_the_shape_cache_normalises_exactly_like_normalize():
    """group_durations calls normalize() once per literal shape: same answers, statement by statement."""
    from heal_pipeline.logs import normalize
    from heal_pipeline.logs.durations import _normalizer

    norm = _normalizer()
    stmts = ["select * from t where id = 5 and name = 'x'", "select * from t where id = 7 and name = 'it''s'",
             "SELECT * FROM t WHERE id = -3", "select * from t1 where id in (1, 2)", "select * from t1 where id in (3)",
             "select 1.5, 2 limit 10", "select * from t where a = $1 and b = $1", "select * from t where a = $1 and b = $2",
             'select * from "t 1" where id = 1', 'select * from "t 2" where id = 1', "select 1::numeric(10,2)",
             "select 2::numeric(12,2)", "select 'a' -- 5 rows", "select e'x\\'y'", "select x1 from t2 where y3 = 4"]
    for s in stmts + stmts:
        assert norm(s) == normalize(s), s


def test_the_key_mapping_from_the_environment_and_the_fleet_file(tmp_path):
    from heal_pipeline.config import Settings
    from heal_pipeline.targets import load_fleet, targets_from_settings

    env = {"HEAL_DATABASE_URL": "postgresql://app@db.internal/shop",
           "HEAL_QUERY_LOG_KEYS": "sqlstate=code,statement=sql"}
    (t,) = targets_from_settings(Settings.from_env(env)).values()
    assert t.log_keys == {"sqlstate": "code", "statement": "sql"}
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[targets]]\nname = "shop"\ndsn_env = "SHOP_DSN"\n'
                     'query_log_keys = { sqlstate = "pg.code", message = "err" }\n'
                     '[[targets]]\nname = "crm"\ndsn_env = "CRM_DSN"\nquery_log_keys = "statement=query_text"\n'
                     '[[targets]]\nname = "plain"\ndsn_env = "PLAIN_DSN"\n')
    specs = load_fleet(fleet, env={})
    assert dict(specs["shop"].query_log_keys) == {"sqlstate": "pg.code", "message": "err"}
    assert dict(specs["crm"].query_log_keys) == {"statement": "query_text"}
    assert specs["plain"].query_log_keys == ()
    resolved = specs["shop"].resolve({"SHOP_DSN": "postgresql://app@db.internal/shop"})
    assert resolved.log_keys == {"sqlstate": "pg.code", "message": "err"}
    fleet.write_text('[[targets]]\nname = "shop"\ndsn_env = "SHOP_DSN"\nquery_log_keys = { code = "x" }\n')
    with pytest.raises(ConfigError, match=r"fleet.toml: target 'shop': query_log_keys: unknown field 'code'"):
        load_fleet(fleet, env={})


def test_driver_exceptions_logged_as_text_name_their_sqlstate(tmp_path):
    """psycopg / asyncpg / SQLAlchemy exception strings in the message: the class names the SQLSTATE,
    SQLAlchemy's [SQL: …] is the statement (placeholders as the server saw them)."""
    lines = [
        {"level": "error", "exc": "psycopg.errors.UndefinedFunction: operator does not exist: text = integer\n"
                                  "LINE 1: SELECT id FROM tags WHERE label = 5"},
        {"level": "error", "exc": 'asyncpg.exceptions.ForeignKeyViolationError: insert or update on table "orders" '
                                  'violates foreign key constraint "orders_user_fk"', "sql": "INSERT INTO orders VALUES ($1)"},
        {"level": "error", "exc": '(psycopg.errors.InvalidTextRepresentation) invalid input syntax for type integer: '
                                  '"abc"\n[SQL: SELECT * FROM users WHERE id = %(id)s AND org = %(org)s OR id = %(id)s]\n'
                                  "[parameters: {'id': 'abc'}]\n(Background on this error at: https://sqlalche.me/e/20/9h9h)"},
        {"level": "error", "exc": "ValueError: not a database error"},
    ]
    path = tmp_path / "app.jsonl"
    path.write_bytes(_app_log(lines))
    res = read_new(path, None, keys=parse_key_mapping("message=exc"))
    got = [(r.sqlstate, r.message, r.statement) for r in res.records]
    assert got == [
        ("42883", "operator does not exist: text = integer", None),
        ("23503", 'insert or update on table "orders" violates foreign key constraint "orders_user_fk"',
         "INSERT INTO orders VALUES ($1)"),
        ("22P02", 'invalid input syntax for type integer: "abc"',
         "SELECT * FROM users WHERE id = $1 AND org = $2 OR id = $1")]
    assert res.unrecognised == 1  # the ValueError
