"""A small schema the verifier is checked against, plus code scanned from real files."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from heal_pipeline.codescan import scan

SCHEMA = """
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id integer REFERENCES users, name text, total numeric(10,2));
CREATE TABLE exec_log (at timestamptz DEFAULT now(), what text);
CREATE TABLE watched (id integer PRIMARY KEY, v text);
CREATE FUNCTION record_exec() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO exec_log (what) VALUES (TG_OP); RETURN NEW; END $$;
CREATE TRIGGER watched_rec BEFORE INSERT OR UPDATE OR DELETE ON watched
  FOR EACH ROW EXECUTE FUNCTION record_exec();
CREATE FUNCTION side_effect(x integer) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN INSERT INTO exec_log (what) VALUES ('side_effect'); RETURN x; END $$;
CREATE SCHEMA secret;
CREATE TABLE secret.keys (id integer, k text);
"""


@pytest.fixture
def vdb(make_db) -> str:
    dsn = make_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return dsn


@pytest.fixture
def vconn(vdb):
    with psycopg.connect(vdb, autocommit=True) as conn:
        yield conn


@pytest.fixture
def scan_code(tmp_path):
    """Write ``{name: source}`` under a temp root and scan it; returns the statements by line."""

    def run(files: dict[str, str]):
        root = tmp_path / f"app_{uuid.uuid4().hex[:6]}"
        root.mkdir()
        for name, src in files.items():
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(src))
        result = scan([root])
        return sorted(result.statements, key=lambda s: (s.file, s.line, s.col))

    return run


@pytest.fixture
def make_role(vdb, admin_dsn):
    """A LOGIN role (dropped afterwards); returns (role name, DSN connecting as it)."""
    made: list[str] = []

    def make(grants: list[str]) -> tuple[str, str]:
        name = f"heal_v_{uuid.uuid4().hex[:8]}"
        made.append(name)
        with psycopg.connect(vdb, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            for g in grants:
                conn.execute(sql.SQL(g).format(role=sql.Identifier(name)))
        return name, psycopg.conninfo.make_conninfo(vdb, user=name)

    yield make
    for name in made:
        with psycopg.connect(vdb, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


REPO = Path(__file__).resolve().parents[2]
