"""One code location name, ``heal_pipeline``: heal dev's workspace, the repository's workspace.yaml,
the README's production commands and the browser tests all use it (issue 16, item 7).

Dagster itself loads both workspaces (``dagster definitions validate``) and reports the name it gave
the location — the name a URL, ``dagster schedule … -l`` or a run's origin carries.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from heal_pipeline.dev import LOCATION_NAME, workspace_yaml
from heal_pipeline.packaged import REPO_ROOT


def _validated_location(workspace: Path | None, cwd: Path, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEAL_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir(exist_ok=True)
    ws = ["-w", str(workspace)] if workspace is not None else []  # None: pyproject.toml [tool.dagster]
    res = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", *ws],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-2000:]
    names = re.findall(r"Validation successful for code location (\S+?)\.?\s*$", out, re.M)
    assert len(names) == 1, out[-2000:]
    return names[0]


def test_the_name_is_heal_pipeline():
    assert LOCATION_NAME == "heal_pipeline"


@pytest.mark.parametrize("which", ["heal dev", "repository", "dagster dev in the checkout"])
def test_dagster_loads_the_workspace_under_that_name(which, tmp_path):
    if which == "heal dev":
        ws = tmp_path / "workspace.yaml"
        ws.write_text(workspace_yaml(), encoding="utf-8")
        cwd = tmp_path  # heal dev runs dagster dev from DAGSTER_HOME, outside the checkout
    elif which == "repository":
        ws, cwd = REPO_ROOT / "workspace.yaml", REPO_ROOT
    else:  # plain `dagster dev` / `dagster definitions validate` in the checkout read pyproject.toml
        ws, cwd = None, REPO_ROOT
    assert _validated_location(ws, cwd, tmp_path) == LOCATION_NAME


def test_readme_and_browser_tests_use_the_same_name():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"--location-name {LOCATION_NAME} " in readme
    assert f"location_name: {LOCATION_NAME}" in readme
    assert "location_name: heal_pipeline.definitions" not in readme
    ui = (REPO_ROOT / "heal_pipeline_tests" / "browser" / "ui.py").read_text(encoding="utf-8")  # imports playwright
    assert re.search(r'^LOCATION = "([^"]+)"', ui, re.M).group(1) == LOCATION_NAME
