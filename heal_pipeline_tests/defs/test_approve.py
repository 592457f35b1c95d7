"""``heal approve FINGERPRINT…`` (issue 16, item 6): the real CLI finds the partition whose plans hold
the fingerprint and launches heal_apply through the GraphQL API of a real Dagster webserver; the run
applies the fix and it verifies. The webserver runs on a free port of 127.0.0.1 with a SQLite instance
in a temporary DAGSTER_HOME (default run coordinator: the webserver launches the run itself) and is
stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from heal_pipeline.approve import scaffold_yaml
from heal_pipeline.definitions import defs
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.dev import workspace_yaml
from heal_pipeline.store import load_fix_plans, open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _heal(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "heal_pipeline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def webserver(demo_copy, tmp_path):
    """A scanned demo copy, and a Dagster webserver over the same instance (stopped by PID)."""
    from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n", encoding="utf-8")
    (home / "workspace.yaml").write_text(workspace_yaml(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEAL_", "DAGSTER_"))}
    env.update(HEAL_DATABASE_URL=demo_copy, HEAL_TARGET_NAME="demo", HEAL_SOURCE_DIRS=str(APP_DIR),
               HEAL_MIGRATIONS_DIRS=str(MIGRATIONS_DIR), HEAL_OBSERVATION_WINDOW="0", DAGSTER_HOME=str(home),
               HEAL_HOME=str(tmp_path / "heal_home"))
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as instance:
            sync_partitions(instance, ["demo"])
            assert defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo").success
    finally:
        os.environ.clear()
        os.environ.update(saved)
    port = _free_port()
    log = (tmp_path / "webserver.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-h", "127.0.0.1",
                             "-p", str(port), "-w", str(home / "workspace.yaml")],
                            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "webserver not ready in 120 s"
                time.sleep(0.5)
        yield {"url": url, "env": env, "dsn": demo_copy, "home": home}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _index_names(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index")}


def test_heal_approve_launches_heal_apply_for_the_partition(webserver):
    env, url, dsn = webserver["env"], webserver["url"], webserver["dsn"]
    with open_store(dsn) as store:
        plans = load_fix_plans(store, "demo")
    fp = next(p.fingerprint for p in plans if p.issue_type == "fk_without_index" and not p.blocked)
    blocked = next(p.fingerprint for p in plans if p.blocked)

    # the scaffold lists every ready plan as a comment; as printed it approves nothing
    scaf = _heal(env, "approve", "--scaffold")
    assert scaf.returncode == 0, scaf.stderr
    assert f'# "{fp}",' in scaf.stdout and f"#   {blocked}: " in scaf.stdout
    assert yaml.safe_load(scaf.stdout)["ops"]["applied_fixes"]["config"]["approve"] == []

    with dg.DagsterInstance.from_config(str(webserver["home"])) as instance:
        runs_before = len(instance.get_runs())
        for bad, words in ((["nope:123"], "unknown fingerprint(s) nope:123"), ([blocked], f"plan {blocked} is blocked")):
            res = _heal(env, "approve", *bad, "--url", url)
            assert res.returncode == 2 and words in res.stderr, res.stderr
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert len(instance.get_runs()) == runs_before  # nothing launched

        before = _index_names(dsn)
        res = _heal(env, "approve", fp, "--url", url, "--wait", "--timeout", "240")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "verified" in res.stdout and "heal rollback " in res.stdout, res.stdout
        (run,) = instance.get_runs(limit=1)
        assert run.job_name == "heal_apply" and run.tags["dagster/partition"] == "demo"
        assert run.tags["heal/trigger"] == "heal approve" and run.status == dg.DagsterRunStatus.SUCCESS
    assert len(_index_names(dsn) - before) == 1
    with psycopg.connect(dsn) as conn:
        status = conn.execute("SELECT status FROM heal.fix_history WHERE run_id = %s AND fingerprint = %s",
                              (run.run_id, fp)).fetchone()[0]
    assert status == "verified"


def test_scaffold_uncommented_line_is_the_approval():
    from heal_pipeline.model import FixPlan

    plans = [FixPlan("fk_without_index:aaaaaaaaaaaa", "fk_without_index", "t", "auto", "create index x"),
             FixPlan("type_mismatch:bbbbbbbbbbbb", "type_mismatch", "t", "approval", "change a.b | c: d"),
             FixPlan("no_primary_key:cccccccccccc", "no_primary_key", "t", "manual", "m", blocked="no key")]
    text = scaffold_yaml("t", plans)
    assert yaml.safe_load(text)["ops"]["applied_fixes"]["config"]["approve"] == []
    picked = text.replace('# "type_mismatch:bbbbbbbbbbbb",', '"type_mismatch:bbbbbbbbbbbb",')
    assert yaml.safe_load(picked)["ops"]["applied_fixes"]["config"]["approve"] == ["type_mismatch:bbbbbbbbbbbb"]
    both = picked.replace('# "fk_without_index:aaaaaaaaaaaa",', '"fk_without_index:aaaaaaaaaaaa",')
    assert sorted(yaml.safe_load(both)["ops"]["applied_fixes"]["config"]["approve"]) == [
        "fk_without_index:aaaaaaaaaaaa", "type_mismatch:bbbbbbbbbbbb"]
    assert "no_primary_key:cccccccccccc: no key" in text and '"no_primary_key' not in text
