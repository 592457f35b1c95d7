"""Issue 12 items 3, 4, 5, 10: code the scanner used to misread, end to end against a real PostgreSQL.

Each case: setup SQL on a fresh database, a small source tree (and migrations), then the scan and
``missing_table`` / ``missing_column`` (and the code-side types) must report exactly ``expect``.
Positive and negative per item; ids carry the item number (``pytest -k item3``).
"""

from __future__ import annotations

import textwrap

import psycopg
import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.db import connect
from heal_pipeline.detect import DetectContext, Thresholds, run_detection
from heal_pipeline.introspect import take_snapshot

ONLY = {"missing_table", "missing_column", "unparsed_sql", "cast_workaround", "unsafe_sql"}


def _key(i):
    if i.issue_type in ("missing_table",):
        return (i.issue_type, i.schema_name, i.table_name)
    if i.issue_type == "missing_column":
        return (i.issue_type, i.schema_name, i.table_name, i.column_name)
    return (i.issue_type, i.file, i.line)


def detect(dsn: str, tmp_path, sql: str, code: dict[str, str], migrations: dict[str, str] | None = None,
           only: set[str] = ONLY):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(textwrap.dedent(sql))
    src = tmp_path / "src"
    for name, text in code.items():
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    mdirs: tuple = ()
    if migrations:
        mdir = tmp_path / "migrations"
        mdir.mkdir()
        for name, text in migrations.items():
            (mdir / name).write_text(textwrap.dedent(text).lstrip("\n"))
        mdirs = (mdir,)
    result = scan([src])
    snap = take_snapshot(dsn, target_db="t")
    ctx = DetectContext(target_db="t", snapshot=snap, code=result,
                        connect=lambda: connect(dsn, autocommit=False), thresholds=Thresholds(),
                        stats_coverage_s=0, migrations_dirs=mdirs)
    return result, run_detection(ctx, only=only)


# --- item 3: DDL in application code --------------------------------------------------------

def test_item3_pass_ddl_in_code_is_never_a_missing_table(fresh_dsn, tmp_path):
    code, res = detect(fresh_dsn, tmp_path, "CREATE TABLE users (id int PRIMARY KEY, email text);", {
        "app.py": '''
            def setup(cur):
                cur.execute("CREATE TABLE IF NOT EXISTS app_cache (k text PRIMARY KEY, v jsonb)")
                cur.execute("CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, email text)")
                cur.execute("DROP TABLE IF EXISTS legacy_import")
                cur.execute("DROP VIEW IF EXISTS old_report")

            def report(cur):
                cur.execute("""
                    CREATE TEMP TABLE tmp_ids ON COMMIT DROP AS SELECT id FROM users;
                    INSERT INTO tmp_ids SELECT id FROM users WHERE email LIKE '%x';
                    SELECT t.id FROM tmp_ids t JOIN users u ON u.id = t.id;
                    DROP TABLE tmp_ids
                """)

            def staged(cur, rows):
                cur.execute("CREATE TEMPORARY TABLE staging_rows (id int, email text)")
                cur.executemany("INSERT INTO staging_rows (id, email) VALUES (%s, %s)", rows)
                cur.execute("UPDATE users u SET email = s.email FROM staging_rows s WHERE s.id = u.id")

            def dynamic(cur, schema, suffix):
                cur.execute(f"SELECT id FROM {schema}.users")
                cur.execute(f"SELECT count(*) FROM events_{suffix}")
                cur.execute(f"DROP TABLE IF EXISTS {schema}.scratch")
        '''}, only={"missing_table", "missing_column"})
    assert res.issues == []
    names = {t.name for s in code.statements for t in s.tables}
    assert "_heal_hole_1" not in " ".join(names) and not any("_heal_hole_" in n for n in names)
    # created/dropped relations are definitions; a temp table used by *another* execute stays a
    # reference (the check knows the code creates it as TEMPORARY)
    assert {"app_cache", "legacy_import", "old_report", "tmp_ids"}.isdisjoint(names)
    assert "staging_rows" in names
    ddl = {(d.action, d.name, d.temporary) for s in code.statements for d in s.ddl}
    assert {("create", "app_cache", False), ("drop", "legacy_import", False), ("create", "tmp_ids", True),
            ("drop", "tmp_ids", False), ("create", "staging_rows", True)} <= ddl


def test_item3_fail_table_defined_in_code_is_missing_with_its_definition(fresh_dsn, tmp_path):
    _code, res = detect(fresh_dsn, tmp_path, "CREATE TABLE users (id int PRIMARY KEY);", {
        "jobs.py": '''
            DDL = """
                CREATE TABLE IF NOT EXISTS job_locks (
                    name text PRIMARY KEY,
                    owner_id int REFERENCES users (id),
                    taken_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX IF NOT EXISTS job_locks_owner ON job_locks (owner_id)
            """

            def setup(cur):
                cur.execute(DDL)

            def take(cur, name, uid):
                cur.execute("INSERT INTO job_locks (name, owner_id) VALUES (%s, %s)", (name, uid))
        '''}, only={"missing_table", "missing_column"})
    assert {_key(i) for i in res.issues} == {("missing_table", "public", "job_locks")}
    issue = res.issues[0]
    assert issue.evidence["references"] == [{"file": "jobs.py", "line": 14}]  # the INSERT, not the CREATE
    assert issue.evidence["defined_in_code"]["file"] == "jobs.py"
    assert issue.evidence["defined_in_code"]["line"] == 11
    mig = issue.evidence["migration"]
    assert mig["source"] == "code" and mig["sql"].startswith("CREATE TABLE IF NOT EXISTS job_locks")
    assert "CREATE INDEX" not in mig["sql"]  # only the table's own statement: a fix can run it
    assert "defined in code at jobs.py:11" in issue.detail


# --- item 4: placeholder styles and dialect branches ----------------------------------------

def test_item4_qmark_and_named_placeholders_are_rewritten_not_unparsed(fresh_dsn, tmp_path):
    code, res = detect(fresh_dsn, tmp_path, "CREATE TABLE users (id int PRIMARY KEY, email text, tags jsonb);", {
        "app.py": '''
            def f(cur, uid, email):
                cur.execute("SELECT id FROM users WHERE email = ? AND id = ?", (email, uid))
                cur.execute("UPDATE users SET email = :email WHERE id = :uid", {"email": email, "uid": uid})
                cur.execute("SELECT id FROM users WHERE tags ? 'vip' AND tags ?| array['a'] AND id = ?", (uid,))
                cur.execute("SELECT u.nickname FROM users u WHERE u.id = ?", (uid,))
                cur.execute("SELEC id FROM users WHERE id = ?", (uid,))
        '''})
    # parsed, so the missing column behind a qmark statement is found; real syntax errors stay
    assert {_key(i) for i in res.issues} == {("missing_column", "public", "users", "nickname"),
                                             ("unparsed_sql", "app.py", 6)}
    s2, s3, s4 = (next(s for s in code.statements if s.line == n) for n in (2, 3, 4))
    assert [(p.index, p.style, p.column) for p in s2.params] == [(1, "qmark", "email"), (2, "qmark", "id")]
    assert {(p.index, p.name, p.column) for p in s3.params} == {(1, "email", "email"), (2, "uid", "id")}
    assert [(p.index, p.column) for p in s4.params] == [(1, "id")]  # jsonb ? / ?| are operators


def test_item4_sqlite_branches_produce_no_postgresql_findings(fresh_dsn, tmp_path):
    code, res = detect(fresh_dsn, tmp_path, "CREATE TABLE users (id int PRIMARY KEY, email text);", {
        "repo.py": '''
            def upsert(db, uid, email):
                if db.is_sqlite:
                    db.execute("INSERT OR REPLACE INTO users (id, email) VALUES (?, ?)", (uid, email))
                    db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                    db.execute("SELECT id FROM users WHERE CAST(id AS TEXT) = ?", (str(uid),))
                else:
                    db.execute("INSERT INTO users (id, email) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
                               " SET email = EXCLUDED.email", uid, email)

            def count(db, engine):
                if engine.dialect.name != "sqlite":
                    return db.execute("SELECT count(*) FROM user_archive")  # PostgreSQL: really missing
                return db.execute("SELECT count(*) FROM users_fts")

            def by_email(db, email):
                q = "SELECT id FROM users WHERE email = ? COLLATE NOCASE" if db.is_sqlite else \\
                    "SELECT id FROM users WHERE lower(email) = lower($1)"
                return db.fetchval(q, email)
        '''})
    assert {_key(i) for i in res.issues} == {("missing_table", "public", "user_archive")}
    by_line = {s.line: s for s in code.statements}
    assert sorted(by_line) == [7, 12, 18]
    assert "lower($1)" in by_line[18].sql and by_line[18].dialect is None
    other = {s.line: s.dialect for s in code.other_dialects}
    assert other == {3: "sqlite", 4: "sqlite", 5: "sqlite", 13: "sqlite"}
    # the same tree scanned for a SQLite target: the branches swap roles
    lite = scan([tmp_path / "src"], dialect="sqlite")
    assert sorted(s.line for s in lite.statements) == [3, 4, 5, 7, 12, 13, 18]


def test_item4_branch_conditions(tmp_path):
    from heal_pipeline.codescan.dialect import branch_dialects
    import ast

    def of(src):
        return branch_dialects(ast.parse(src, mode="eval").body)

    assert of("db.is_sqlite") == ("sqlite", None)
    assert of("not db.is_sqlite") == (None, "sqlite")
    assert of("settings.DATABASE_URL.startswith('sqlite')") == ("sqlite", None)
    # only the named branch is attributed: the else of a PostgreSQL test may still be PostgreSQL
    # (if scheme == "postgresql+aiopg": … else: … serves asyncpg too — encode/databases' tests)
    assert of("engine.name == 'postgresql'") == ("postgresql", None)
    assert of("url.scheme != 'postgresql+aiopg'") == (None, "postgresql")
    assert of("engine.name in ('mysql', 'mariadb')") == ("mysql", None)
    assert of("USE_ASYNCPG") == (None, None)  # a driver, not an engine
    assert of("db.is_sqlite or db.is_postgres") == (None, None)  # two engines: nothing attributed
    assert of("url.scheme in ['mysql', 'mysql+aiomysql', 'postgresql+aiopg']") == (None, None)


# --- item 10: a migration's FK PostgreSQL refuses -------------------------------------------

def test_item10_fail_refused_fk_is_the_reason_the_table_is_missing(fresh_dsn, tmp_path):
    _code, res = detect(fresh_dsn, tmp_path, """
        CREATE TABLE users (id int PRIMARY KEY);
        CREATE TABLE orgs (id uuid PRIMARY KEY);""", {
        "app.py": '''
            def f(cur, uid):
                cur.execute("SELECT name FROM teams WHERE owner_id = %s", (uid,))
                cur.execute("SELECT body FROM notes WHERE author_id = %s", (uid,))
        '''}, migrations={
        "0001_init.sql": "CREATE TABLE users (id int PRIMARY KEY);\nCREATE TABLE orgs (id uuid PRIMARY KEY);\n",
        "0007_teams.sql": """
            -- owner_id is text, users.id integer: PostgreSQL refuses the FK, the table never exists
            CREATE TABLE teams (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                owner_id text REFERENCES users,
                org_id text,
                FOREIGN KEY (org_id) REFERENCES orgs (id)
            );""",
        "0008_notes.sql": "CREATE TABLE notes (id bigint PRIMARY KEY, author_id bigint REFERENCES users (id),\n"
                          "                    body text);\n",
    }, only={"missing_table"})
    by = {i.table_name: i for i in res.issues}
    assert set(by) == {"teams", "notes"}
    teams, notes = by["teams"], by["notes"]
    assert [(x["column"], x["type"], x["references"], x["referenced_type"], x["file"], x["line"])
            for x in teams.evidence["refused_fks"]] == [
        ("owner_id", "text", "public.users.id", "integer", "0007_teams.sql", 2),
        ("org_id", "text", "public.orgs.id", "uuid", "0007_teams.sql", 2)]
    assert "0007_teams.sql:2" in teams.detail and "42804" in teams.detail
    assert teams.evidence["migration"]["refused"] == teams.evidence["refused_fks"]
    # bigint -> integer is a valid FK: the migration simply was not applied, nothing was refused
    assert "refused_fks" not in notes.evidence and "refused" not in notes.evidence["migration"]
    assert "it is defined in migration 0008_notes.sql:1" in notes.detail
    # the planner does not run a definition PostgreSQL refuses; the valid one it plans
    from heal_pipeline.plan import PlanContext, plan_issue

    snap = take_snapshot(fresh_dsn)
    with PlanContext.open(fresh_dsn) as pctx:
        refused_plan = plan_issue(teams, snap, pctx)
        ok_plan = plan_issue(notes, snap, pctx)
    assert refused_plan.blocked and "42804" in refused_plan.blocked and "0007_teams.sql:2" in refused_plan.blocked
    assert not ok_plan.blocked, ok_plan.blocked


def test_item10_compatibility_rule_matches_the_server(fresh_dsn):
    from heal_pipeline.detect.migrations import fk_compatible

    pairs = [("text", "integer"), ("integer", "numeric"), ("numeric", "integer"), ("uuid", "text"),
             ("varchar(20)", "text"), ("text", "char(3)"), ("bigint", "integer"), ("smallint", "bigint"),
             ("date", "timestamptz"), ("timestamp", "timestamptz"), ("integer", "double precision"),
             ("double precision", "integer"), ("numeric", "double precision"), ("double precision", "numeric"),
             ("integer", "text"), ("boolean", "integer"), ("real", "double precision"), ("uuid", "uuid")]
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        for i, (fk, pk) in enumerate(pairs):
            conn.execute(f"CREATE TABLE p{i} (id {pk} PRIMARY KEY)")
            try:
                conn.execute(f"CREATE TABLE c{i} (x {fk} REFERENCES p{i} (id))")
                server = True
            except psycopg.errors.DatatypeMismatch:
                server = False
            assert fk_compatible(fk, pk) is server, (fk, pk)
    assert fk_compatible("public.mytype", "integer") is None  # unknown: never claimed refused


# --- item 5: data flow -------------------------------------------------------------------------

WRAPPED = {
    "db.py": '''
        class Database:
            def __init__(self, pool):
                self.pool = pool

            async def fetch_all(self, query, *args):
                async with self.pool.acquire() as conn:
                    return await conn.fetch(query, *args)

        async def run_sql(conn, sql, *params):
            return await conn.execute(sql, *params)
    ''',
    "users.py": '''
        from .db import run_sql

        GET_BY_ORG = "SELECT id, email FROM users WHERE org_id = $1"

        async def by_id(db, uid):
            return await db.fetch_all("SELECT id FROM users WHERE id = $1", str(uid))

        async def by_org(db, org):
            return await db.fetch_all(GET_BY_ORG, org)

        async def forget(conn, uid):
            return await run_sql(conn, "DELETE FROM sessions WHERE user_id = $1", uid)

        async def stale(db):
            return await db.fetch_all("SELECT id FROM user_archive")

        def log_it(log):
            log.info("SELECT is only a word in this log line")
    ''',
}


def test_item5_wrapper_parameter_is_traced_to_its_callers(fresh_dsn, tmp_path):
    code, res = detect(fresh_dsn, tmp_path, """
        CREATE TABLE users (id int PRIMARY KEY, email text, org_id int);
        CREATE TABLE sessions (id int PRIMARY KEY, user_id int);""", WRAPPED)
    got = sorted((s.file, s.line, s.call, s.sql) for s in code.statements)
    assert got == [("users.py", 6, "fetch_all", "SELECT id FROM users WHERE id = $1"),
                   ("users.py", 9, "fetch_all", "SELECT id, email FROM users WHERE org_id = $1"),
                   ("users.py", 12, "run_sql", "DELETE FROM sessions WHERE user_id = $1"),
                   ("users.py", 15, "fetch_all", "SELECT id FROM user_archive")]
    # the wrappers' own calls are not "untraced" once their callers are found
    assert [f for f in code.findings if f.kind == "untraced_sql"] == []
    # the caller's bound argument is seen through the wrapper's *args (str(uid) bound to users.id)
    casts = [(f.file, f.line, f.table, f.column) for f in code.findings if f.kind == "cast_workaround"]
    assert casts == [("users.py", 6, "users", "id")]
    assert {_key(i) for i in res.issues} == {("missing_table", "public", "user_archive")}


def test_item5_without_callers_the_wrapper_stays_untraced(scan_tree):
    r = scan_tree({"db.py": WRAPPED["db.py"], "other.py": '''
        def report(log, cur):
            log.warning("SELECT nothing: a log line passed to a function that is no wrapper")
            cur.mogrify("SELECT 1")
    '''})
    assert r.statements == []
    assert sorted((f.file, f.line) for f in r.kinds("untraced_sql")) == [("db.py", 7), ("db.py", 10)]


def test_item5_params_built_earlier_and_starred(scan_src):
    r = scan_src('''
        def search(conn, org_id, status, limit):
            params = [str(org_id)]
            params.append(status)
            params += [int(limit)]
            return conn.fetch("SELECT id FROM orders WHERE org_id = $1 AND status = $2 LIMIT $3", *params)

        def one(cur, uid):
            args = (str(uid),)
            cur.execute("SELECT id FROM users WHERE id = %s", args)
    ''')
    casts = sorted((f.line, f.table, f.column, f.evidence["cast"]) for f in r.kinds("cast_workaround"))
    assert casts == [(2, "orders", "org_id", "str"), (8, "users", "id", "str")]


def test_item5_integer_counter_is_not_string_concatenation(scan_src):
    r = scan_src('''
        def search(conn, status, since):
            conds, params = [], []
            n = 0
            if status:
                n += 1
                conds.append(f"status = ${n}")
                params.append(status)
            if since:
                n += 1
                conds.append(f"created_at > ${n}")
                params.append(since)
            sql = "SELECT id FROM orders WHERE " + " AND ".join(conds) + f" LIMIT ${len(params) + 1}"
            return conn.fetch(sql, *params)
    ''')
    s = r.stmt(13)
    assert s.sql == "SELECT id FROM orders WHERE status = $1 AND created_at > $2 LIMIT $3"
    assert "$11" not in s.sql and not s.dynamic and s.parse_error is None
    assert r.kinds("unsafe_sql") == [] and r.kinds("unparsed_sql") == []


def test_item5_orm_declarations_are_table_references(fresh_dsn, tmp_path):
    code, res = detect(fresh_dsn, tmp_path, """
        CREATE TABLE users (id int PRIMARY KEY);
        CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int PRIMARY KEY);""", {
        "models.py": '''
            import sqlalchemy as sa
            from sqlalchemy.orm import DeclarativeBase

            metadata = sa.MetaData()
            invoices = sa.Table("invoices", metadata, sa.Column("id", sa.Integer), schema="billing")
            refunds = sa.Table("refunds", metadata, sa.Column("id", sa.Integer), schema="billing")

            class Base(DeclarativeBase):
                pass

            class User(Base):
                __tablename__ = "users"

            class Coupon(Base):
                __tablename__ = "coupons"
                __table_args__ = ({"schema": "billing"},)
        '''}, only={"missing_table"})
    decl = sorted((f.line, f.schema, f.table) for f in code.findings if f.kind == "table_declaration")
    assert decl == [(5, "billing", "invoices"), (6, "billing", "refunds"), (12, None, "users"),
                    (15, "billing", "coupons")]
    assert {_key(i) for i in res.issues} == {("missing_table", "billing", "refunds"),
                                             ("missing_table", "billing", "coupons")}
    from heal_pipeline.detect.coderefs import referenced_tables
    snap = take_snapshot(fresh_dsn, target_db="t")
    ctx = DetectContext(target_db="t", snapshot=snap, code=code, connect=None)
    assert referenced_tables(ctx, code) == {("public", "users"), ("billing", "invoices")}


def test_item5_starred_sql_and_params_tuple(scan_src):
    r = scan_src('''
        def one(cur, uid):
            query = ("SELECT id FROM users WHERE id = %s", (str(uid),))
            cur.execute(*query)

        def unknown(cur, q):
            cur.execute(*q)
    ''')
    s = r.stmt(3)
    assert s.sql == "SELECT id FROM users WHERE id = %s" and [p.column for p in s.params] == ["id"]
    assert [(f.line, f.column) for f in r.kinds("cast_workaround")] == [(2, "id")]
    assert [f.evidence["reason"] for f in r.kinds("untraced_sql")] == ["starred argument"]


# --- the store keeps what items 3 and 4 add (the Dagster path reads the scan back) -----------

def test_store_round_trip_keeps_ddl_and_dialect(fresh_dsn, tmp_path):
    from heal_pipeline.store import load_code_scan, open_store, save_code_scan

    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(textwrap.dedent('''
        def f(db):
            db.execute("CREATE TEMP TABLE t_ids (id int)")
            if db.is_sqlite:
                db.execute("INSERT OR IGNORE INTO users (id) VALUES (?)", (1,))
    ''').lstrip("\n"))
    code = scan([src])
    assert len(code.statements) == 1 and len(code.other_dialects) == 1
    with open_store(fresh_dsn) as store:
        save_code_scan(store, "t", code, "run-1")
        back = load_code_scan(store, "t")
    assert [(s.line, s.ddl, s.dialect) for s in back.statements] == [
        (s.line, s.ddl, s.dialect) for s in code.statements]
    assert back.statements[0].ddl[0].temporary is True
    assert [(s.line, s.dialect) for s in back.other_dialects] == [(4, "sqlite")]


def test_item3_column_defined_by_the_codes_create_table(fresh_dsn, tmp_path):
    from heal_pipeline.plan.missing_column import column_from_migration

    _code, res = detect(fresh_dsn, tmp_path, "CREATE TABLE job_runs (id int PRIMARY KEY);", {
        "jobs.py": '''
            def setup(cur):
                cur.execute("CREATE TABLE IF NOT EXISTS job_runs (id int PRIMARY KEY, finished_at timestamptz)")

            def last(cur):
                cur.execute("SELECT max(finished_at) FROM job_runs")
                cur.execute("SELECT max(started_at) FROM job_runs")
        '''}, only={"missing_table", "missing_column"})
    by = {i.column_name: i for i in res.issues}
    assert set(by) == {"finished_at", "started_at"}
    done = by["finished_at"]
    assert done.evidence["inferred_type"] == "timestamptz"
    assert done.evidence["migration"]["source"] == "code" and "defined in code at jobs.py:2" in done.detail
    assert column_from_migration(done.evidence["migration"]["sql"], "job_runs", "finished_at")[0] == "timestamptz"
    assert "defined_in_code" not in by["started_at"].evidence and by["started_at"].evidence["migration"] is None


def test_item5_wrapper_named_like_an_execute_call(scan_tree):
    # async def fetch(query, *args) on a Database class: its callers are sites already (fetch is an
    # execute-like name); the inner pool.fetch(query, *args) is then no untraced SQL
    r = scan_tree({"db.py": '''
        class Database:
            async def fetch(self, query, *args):
                return await self.pool.fetch(query, *args)
    ''', "users.py": '''
        async def one(db, uid):
            return await db.fetch("SELECT id FROM users WHERE id = $1", uid)
    '''})
    assert [(s.file, s.line) for s in r.statements] == [("users.py", 2)]
    assert r.kinds("untraced_sql") == []


def test_item4_constant_defined_per_engine(scan_src):
    r = scan_src('''
        import os
        IS_SQLITE = os.environ.get("DB", "").startswith("sqlite")
        if not IS_SQLITE:
            GET_USER = "SELECT id FROM users WHERE id = $1"
        else:
            GET_USER = "SELECT id FROM users WHERE id = ? LIMIT 1 OFFSET 0"

        def get(conn, uid):
            return conn.fetchrow(GET_USER, uid)
    ''')
    assert r.stmt(9).sql == "SELECT id FROM users WHERE id = $1"


def test_item5_attribute_reassigned_and_generated_tokens(scan_src):
    # encode/databases: self._savepoint_name = "" in __init__, a uuid-made name before use; the
    # SQL is neither "SAVEPOINT " (unparsed_sql) nor composed from input (unsafe_sql)
    r = scan_src('''
        import secrets
        import uuid

        class Transaction:
            def __init__(self, conn):
                self.conn = conn
                self._name = ""

            def start(self):
                id = str(uuid.uuid4()).replace("-", "_")
                self._name = f"SP_{id}"
                self.conn.execute(f"SAVEPOINT {self._name}")

            def token(self, cur):
                cur.execute(f"SELECT * FROM jobs WHERE token = '{secrets.token_hex(8)}' AND run = '{uuid.uuid4().hex}'")

            def unsafe(self, cur, name):
                cur.execute(f"SAVEPOINT {name}")
    ''')
    assert r.stmt(12).sql == "SAVEPOINT SP__heal_hole_1" and not r.stmt(12).dynamic
    assert r.kinds("unparsed_sql") == []
    assert [f.line for f in r.kinds("unsafe_sql")] == [18]  # a caller's value is still unsafe


def test_item5_module_wrappers_taking_the_app_first(scan_tree):
    # the FastAPI/asyncpg shape seen in the wild: async def fetch_one(app, query, *args)
    r = scan_tree({"app/db.py": '''
        async def fetch_one(app, query: str, *args):
            async with app.state.db_pool.acquire() as conn:
                return await conn.fetchrow(query, *args)

        async def execute(app, query: str, *args) -> str:
            async with app.state.db_pool.acquire() as conn:
                return await conn.execute(query, *args)
    ''', "app/routes.py": '''
        from . import db

        async def get_user(request, uid):
            return await db.fetch_one(request.app, "SELECT id, email FROM users WHERE id = $1", int(uid))

        async def touch(request, uid):
            await db.execute(request.app, "UPDATE users SET seen_at = now() WHERE id = $1", uid)
    '''})
    assert sorted((s.file, s.line, s.call) for s in r.statements) == [
        ("app/routes.py", 4, "fetch_one"), ("app/routes.py", 7, "execute")]
    assert r.kinds("untraced_sql") == []
    assert [(f.line, f.column) for f in r.kinds("cast_workaround")] == [(4, "id")]


def test_item4_engine_named_classes_and_modules(scan_tree):
    # peewee's SqliteDatabase / MySQLDatabase classes, encode/databases' backends/sqlite.py
    r = scan_tree({"db.py": '''
        class SqliteDatabase:
            def set_pragma(self, cur, value):
                cur.execute("PRAGMA journal_mode = wal")

        class PostgresqlDatabase:
            def tables(self, cur):
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", ("public",))
    ''', "backends/sqlite.py": '''
        def fetch(conn, q):
            conn.execute("INSERT OR IGNORE INTO t (a) VALUES (?)", (q,))
    ''', "backends/postgres_sqlite_bridge.py": '''
        def both(conn):
            conn.execute("SELECT 1")
    '''})
    assert {(s.file, s.line, s.dialect) for s in r.result.other_dialects} == {
        ("db.py", 3, "sqlite"), ("backends/sqlite.py", 2, "sqlite")}
    assert {(s.file, s.line, s.dialect) for s in r.statements} == {
        ("db.py", 7, "postgresql"), ("backends/postgres_sqlite_bridge.py", 2, None)}  # two engines: none
    assert r.kinds("unparsed_sql") == []


def test_item5_wrapper_called_with_the_sql_by_keyword(scan_tree):
    r = scan_tree({"db.py": '''
        async def run_sql(conn, sql, *params):
            return await conn.execute(sql, *params)
    ''', "jobs.py": '''
        from .db import run_sql

        async def purge(conn):
            await run_sql(conn, sql="DELETE FROM sessions WHERE expires_at < now()")

        async def other(conn, log):
            log.info("x", extra="SELECT is a word here")
    '''})
    assert [(s.file, s.line, s.sql) for s in r.statements] == [
        ("jobs.py", 4, "DELETE FROM sessions WHERE expires_at < now()")]
    assert r.kinds("untraced_sql") == []
