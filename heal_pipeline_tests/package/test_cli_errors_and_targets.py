"""One-line errors (issue 16 item 4) and the CLI finding `heal dev`'s database (item 5).

Real subprocesses of ``python -m heal_pipeline.cli`` against the session's embedded PostgreSQL.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from heal_pipeline.embedded import EmbeddedServer, create_database

BAD_DSN = "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"


def _heal(*args, env_extra=None, cwd=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "heal_pipeline.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _one_line(res) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("heal: error: "), res.stderr
    return res.stderr


def test_heal_dev_checks_a_wrong_target_first_with_heal_checks_line(tmp_path):
    home = tmp_path / "home"
    dev = _heal("dev", "--port", "3917", "--no-ui", env_extra={"HEAL_DATABASE_URL": BAD_DSN,
                                                               "HEAL_HOME": str(home)}, timeout=60)
    check = _heal("check", env_extra={"HEAL_DATABASE_URL": BAD_DSN})
    assert _one_line(dev) == _one_line(check)
    assert "cannot connect to the target database" in dev.stderr
    assert not home.exists()  # nothing was started or written


def test_foreign_scheme_names_the_scheme(tmp_path):
    for cmd in (["check"], ["snapshot"], ["fixes"]):
        line = _one_line(_heal(*cmd, "--dsn", "mysql://u@db.example/app"))
        assert "'mysql' scheme" in line and "postgresql://" in line, line
    line = _one_line(_heal("dev", "--no-ui", env_extra={"HEAL_DATABASE_URL": "mysql://u@h/db",
                                                        "HEAL_HOME": str(tmp_path / "h")}))
    assert "HEAL_DATABASE_URL uses the 'mysql' scheme" in line


def test_binary_policy_file_is_one_line(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_bytes(bytes(range(128, 256)) * 4)
    line = _one_line(_heal("dev", "--no-ui", env_extra={"HEAL_POLICY": str(policy),
                                                        "HEAL_HOME": str(tmp_path / "h")}))
    assert str(policy) in line and "not UTF-8 text" in line
    assert not (tmp_path / "h").exists()


def test_write_baseline_exits_0_and_says_how_many(fresh_dsn, tmp_path):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p)")
    src = tmp_path / "src"
    src.mkdir()
    base = tmp_path / "b.json"
    env = {"HEAL_SOURCE_DIRS": str(src), "HEAL_OBSERVATION_WINDOW": "0"}
    res = _heal("check", "--dsn", fresh_dsn, "--write-baseline", str(base), "--fail-on", "info", env_extra=env)
    assert res.returncode == 0, res.stdout + res.stderr
    written = json.loads(base.read_text())["issues"]
    assert len(written) >= 1
    assert f"wrote {len(written)} issue(s)" in res.stdout and str(base) in res.stdout
    assert "(--dsn)" in res.stderr  # which database it used
    # --json keeps stdout JSON and says it on stderr
    res = _heal("check", "--dsn", fresh_dsn, "--write-baseline", str(base), "--json", env_extra=env)
    assert res.returncode == 0 and len(json.loads(res.stdout)["issues"]) == len(written)
    assert f"wrote {len(written)} issue(s)" in res.stderr


@pytest.fixture
def dev_home():
    """A HEAL_HOME as a running `heal dev` leaves it: its own embedded server in pg/data (started
    here, ~1 s) with a small ``heal_demo`` database."""
    home = Path(tempfile.mkdtemp(prefix="hh-"))  # short: the socket path must stay < 100 bytes
    os.chmod(home, 0o755)  # as root the server runs as another user
    server = EmbeddedServer(home / "pg" / "data", fast_unsafe=True)
    try:
        info = server.start()
        create_database(info.dsn("postgres"), "heal_demo")
        with psycopg.connect(info.dsn("heal_demo"), autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, email text)")
        yield home
    finally:
        server.destroy()
        shutil.rmtree(home, ignore_errors=True)


def test_commands_use_the_running_heal_dev_demo_and_say_so(dev_home, tmp_path):
    env = {"HEAL_HOME": str(dev_home)}
    res = _heal("snapshot", "--json", env_extra=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["tables"] == 1
    assert f"heal: database heal_demo@" in res.stderr and f"the running heal dev demo in {dev_home}" in res.stderr
    res = _heal("check", "--json", "--fail-on", "info", env_extra=env, cwd=tmp_path)
    assert res.returncode in (0, 1), res.stderr
    assert json.loads(res.stdout)["target_db"] == "heal_demo"
    assert "the running heal dev demo" in res.stderr
    res = _heal("fixes", env_extra=env, cwd=tmp_path)
    assert res.returncode == 0 and "the running heal dev demo" in res.stderr, res.stderr
    # nothing running there: the one line names the folder
    line = _one_line(_heal("snapshot", env_extra={"HEAL_HOME": str(tmp_path / "none")}))
    assert "start `heal dev`" in line and str(tmp_path / "none") in line
