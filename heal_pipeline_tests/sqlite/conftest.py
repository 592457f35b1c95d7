"""Real SQLite files (Python's sqlite3) for the SQLite target tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from heal_pipeline.sqlite.demo import build_sqlite_demo
from heal_pipeline.targets import Target


def make_file(path: Path, script: str, *, wal: bool = False) -> Path:
    c = sqlite3.connect(path, isolation_level=None)
    if wal:
        c.execute("PRAGMA journal_mode = WAL")
    c.executescript(script)
    c.close()
    return path


@pytest.fixture
def demo(tmp_path) -> dict:
    return build_sqlite_demo(tmp_path / "shop.db")


@pytest.fixture
def demo_target(demo) -> Target:
    return Target(name="shop", dsn=demo["dsn"], store_dsn="", source_dirs=(Path(demo["source_dir"]),),
                  migrations_dirs=(Path(demo["migrations_dir"]),))
