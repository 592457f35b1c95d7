"""The built wheel works from any folder: sql/ and the demo estate/app ship as package data.

Builds the wheel as `pip install .` would (isolated build), installs it with ``--no-deps`` into a
fresh venv whose only link to this one is a ``.pth`` line naming this venv's site-packages (so the
installed dependencies are reused, but neither the checkout nor the editable install is importable),
then runs the installed ``heal`` from a temporary folder against the test server.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from heal_pipeline.packaged import REPO_ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a clean copy: an in-tree build reuses build/lib, so a stale file there would ship
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".heal", ".pytest_cache",
        "test-artifacts", ".tmp_dagster_home_*", "node_modules"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp / "dist").glob("heal_pipeline-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "zz_reuse_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    return {"wheel": wheel, "venv": venv, "site": Path(site)}


def _run(installed, tmp_path, *args, dsn):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_") and k != "PYTHONPATH"}
    env.update({"HEAL_DATABASE_URL": dsn, "HEAL_SOURCE_DIRS": str(tmp_path), "HEAL_OBSERVATION_WINDOW": "0"})
    return subprocess.run([str(installed["venv"] / "bin" / "heal"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_wheel_carries_sql_and_the_demo(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for rel in ("sql/introspect/04_indexes.sql", "sql/schema/0001_core.sql", "demo_estate/planted.json",
                "demo_estate/01_schema.sql", "demo_app/queries.py", "demo_app/migrations/0042_add_refunds.sql",
                "demo_js/src/queries.ts", "demo_js/package.json"):
        assert f"heal_pipeline/_data/{rel}" in names, rel
    # every SQL file of the checkout is in the wheel
    for path in (REPO_ROOT / "sql").rglob("*.sql"):
        assert f"heal_pipeline/_data/sql/{path.relative_to(REPO_ROOT / 'sql').as_posix()}" in names


def test_installed_heal_reads_its_data_from_the_package(installed, tmp_path):
    py = installed["venv"] / "bin" / "python"
    code = ("import heal_pipeline, heal_pipeline.config as c, heal_pipeline.demo.estate as e;"
            "print(heal_pipeline.__file__); print(c.SQL_DIR); print(e.PLANTED_FILE); print(len(e.load_planted()))")
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}).stdout.split()
    site = str(installed["site"])
    assert all(line.startswith(site) for line in out[:3]), out
    assert int(out[3]) > 0


def test_installed_heal_check_and_snapshot_from_a_temporary_folder(installed, tmp_path, fresh_dsn):
    import psycopg

    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p)")
    res = _run(installed, tmp_path, "snapshot", dsn=fresh_dsn)
    assert res.returncode == 0, res.stderr
    assert "missing" not in res.stderr and "Traceback" not in res.stderr
    res = _run(installed, tmp_path, "check", "--fail-on", "warning", dsn=fresh_dsn)
    assert res.returncode == 1, res.stdout + res.stderr  # the unindexed foreign key is found
    assert "fk_without_index" in res.stdout and "Traceback" not in res.stderr
