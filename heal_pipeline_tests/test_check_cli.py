"""`heal check` as CI runs it: a subprocess, real database, real source tree, exit codes, baseline."""

import json
import os
import subprocess
import sys

import psycopg

from heal_pipeline.demo.estate import MIGRATIONS_DIR, SOURCE_DIRS, load_planted


def _heal(*args, env_extra=None, dsn=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env.update(env_extra or {})
    if dsn:
        env["HEAL_DATABASE_URL"] = dsn
    return subprocess.run([sys.executable, "-m", "heal_pipeline.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


DEMO_ENV = {"HEAL_SOURCE_DIRS": os.pathsep.join(str(d) for d in SOURCE_DIRS), "HEAL_MIGRATIONS_DIRS": str(MIGRATIONS_DIR),
            "HEAL_OBSERVATION_WINDOW": "0"}


def test_check_fails_on_critical_then_baseline_accepts_them(demo_dsn, tmp_path):
    res = _heal("check", "--json", dsn=demo_dsn, env_extra=DEMO_ENV)
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    found = {(i["issue_type"], i["object"]) for i in out["issues"]}
    assert len(out["issues"]) == len(load_planted()) and out["failing"] > 0, (
        f"{len(out['issues'])} issues for {len(load_planted())} planted; found {sorted(found)}; "
        f"not checked: {out.get('unchecked') or out.get('not_checked')}")
    assert all(i["severity"] == "critical" for i in out["issues"][: out["failing"]])
    assert {i["language"] for i in out["issues"] if i["file"]} == {"python", "javascript", "typescript"}
    base = tmp_path / "baseline.json"
    res = _heal("check", "--write-baseline", str(base), dsn=demo_dsn, env_extra=DEMO_ENV)
    assert res.returncode == 0 and "NEW" in res.stdout  # writing the baseline succeeds
    assert f"wrote {len(load_planted())} issue(s)" in res.stdout
    res = _heal("check", "--baseline", str(base), "--fail-on", "info", dsn=demo_dsn, env_extra=DEMO_ENV)
    assert res.returncode == 0, res.stdout
    assert "0 at or above 'info' outside the baseline" in res.stdout


def test_check_reports_a_new_issue_outside_the_baseline(fresh_dsn, tmp_path):
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p)")
    base = tmp_path / "b.json"
    src = tmp_path / "src"
    src.mkdir()
    env = {"HEAL_SOURCE_DIRS": str(src), "HEAL_OBSERVATION_WINDOW": "0"}
    assert _heal("check", "--write-baseline", str(base), "--fail-on", "warning", dsn=fresh_dsn,
                 env_extra=env).returncode == 0
    assert _heal("check", "--baseline", str(base), "--fail-on", "warning", dsn=fresh_dsn,
                 env_extra=env).returncode == 0
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE d (id int PRIMARY KEY, p_id bigint REFERENCES p)")  # new: unindexed + mismatch
    res = _heal("check", "--baseline", str(base), "--fail-on", "warning", "--json", dsn=fresh_dsn, env_extra=env)
    assert res.returncode == 1
    new = [i for i in json.loads(res.stdout)["issues"] if not i["in_baseline"]]
    assert {(i["issue_type"], i["table_name"]) for i in new} == {("fk_without_index", "d"), ("type_mismatch", "d")}
    # nothing was written to the target
    with psycopg.connect(fresh_dsn) as conn:
        assert conn.execute("SELECT to_regnamespace('heal')").fetchone()[0] is None


def test_check_bad_input_is_one_line(tmp_path):
    res = _heal("check", dsn="postgresql://nobody@127.0.0.1:1/x?connect_timeout=2")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "cannot connect" in res.stderr
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    res = _heal("check", "--baseline", str(bad), dsn="postgresql://nobody@127.0.0.1:1/x")
    assert res.returncode == 2 and "not valid JSON" in res.stderr and res.stderr.count("\n") == 1
    res = _heal("check")
    assert res.returncode == 2 and "no target database" in res.stderr
