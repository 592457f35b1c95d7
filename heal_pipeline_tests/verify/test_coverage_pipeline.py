"""Coverage is never silent: the statement_checks asset + check (real Dagster) and `heal check`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import dagster as dg
import psycopg

from heal_pipeline.defs.assets import code_findings
from heal_pipeline.defs.assets_verify import statement_checks
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.defs.resources import HealResource

APP = '''
def f(cur, uid):
    cur.execute("SELECT id, name FROM users WHERE id = %s", (uid,))
    cur.execute("SELECT v FROM watched")
    cur.execute("SELECT nope FROM users")
    cur.execute("CREATE TABLE made_later (a int)")
'''


def _run(instance, dsn, src, monkeypatch):
    monkeypatch.setenv("HEAL_DATABASE_URL", dsn)
    monkeypatch.setenv("HEAL_TARGET_NAME", "v")
    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(src))
    monkeypatch.delenv("HEAL_STORE_URL", raising=False)
    sync_partitions(instance, ["v"])
    return dg.materialize([code_findings, statement_checks], instance=instance, partition_key="v",
                          resources={"heal": HealResource(database_url=dsn)}, raise_on_error=False)


def test_statement_checks_asset_reports_coverage_and_fails_when_unchecked(vdb, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(textwrap.dedent(APP))
    monkeypatch.setenv("HEAL_VERIFY_MAX_UNCHECKED", "0.2")
    with dg.instance_for_test() as instance:
        res = _run(instance, vdb, src, monkeypatch)
        assert res.success
        md = res.asset_materializations_for_node("statement_checks")[0].metadata
        assert (md["extracted"].value, md["ok"].value, md["rejected"].value) == (4, 2, 1)
        assert md["not_verifiable/ddl"].value == 1 and md["rejected/42703"].value == 1
        assert md["summary"].value.startswith("statements: 4 extracted, 2 verified ok, 1 rejected")
        checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
        assert checks == {"statements_checked": True}

        holder = psycopg.connect(vdb)
        try:
            holder.execute("LOCK TABLE watched IN ACCESS EXCLUSIVE MODE")
            res = _run(instance, vdb, src, monkeypatch)
        finally:
            holder.rollback()
            holder.close()
        assert res.success  # the asset materializes; its check tells the truth
        md = res.asset_materializations_for_node("statement_checks")[0].metadata
        assert md["not_verifiable/lock"].value == 1
        assert md["unchecked_share"].value == round(1 / 3, 4)
        ev = {e.check_name: e for e in res.get_asset_check_evaluations()}["statements_checked"]
        assert ev.passed is False and ev.metadata["threshold"].value == 0.2


def test_heal_check_prints_the_coverage_line(vdb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env.update({"HEAL_DATABASE_URL": vdb, "HEAL_SOURCE_DIRS": str(src), "HEAL_OBSERVATION_WINDOW": "0"})
    res = subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "check"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert "statements: 4 extracted, 2 verified ok, 1 rejected, 1 not verifiable (ddl 1)" in res.stdout, (
        res.stdout + res.stderr)
