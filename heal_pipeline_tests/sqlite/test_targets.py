"""SQLite targets: URLs, the fleet ``path`` key, bad files → one line, nothing written, others go on."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heal_pipeline.cli import main
from heal_pipeline.config import Settings, database_name, validate_dsn
from heal_pipeline.errors import ConfigError, HealError
from heal_pipeline.scan import scan_target
from heal_pipeline.sqlite.target import SqliteError, open_readonly, open_write, sqlite_path
from heal_pipeline.targets import load_fleet, resolve_target, targets_from_settings

from .conftest import make_file


def _digest(p: Path) -> tuple:
    return (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())


def test_urls_absolute_relative_and_invalid(tmp_path, monkeypatch):
    assert sqlite_path("sqlite:////srv/app.db") == Path("/srv/app.db")
    assert sqlite_path("sqlite:///data/app.db") == Path("data/app.db")
    assert validate_dsn("sqlite:///x.db", name="HEAL_DATABASE_URL") == "sqlite:///x.db"
    assert database_name("sqlite:////srv/shop.db") == "shop"
    for bad in ("sqlite://x.db", "sqlite:///", "sqlite:///a.db?mode=rw"):
        with pytest.raises(ConfigError) as e:
            validate_dsn(bad, name="HEAL_DATABASE_URL")
        assert "\n" not in str(e.value) and "HEAL_DATABASE_URL" in str(e.value)
    with pytest.raises(ConfigError, match="must be PostgreSQL"):
        Settings.from_env({"HEAL_STORE_URL": "sqlite:///x.db"})
    make_file(tmp_path / "rel.db", "CREATE TABLE t (id INTEGER PRIMARY KEY);")
    monkeypatch.chdir(tmp_path)
    targets = targets_from_settings(Settings.from_env({"HEAL_DATABASE_URL": "sqlite:///rel.db"}))
    (t,) = targets.values()
    assert t.name == "rel" and t.store_dsn == ""  # the store is never the SQLite file
    out = scan_target(t)
    assert out.snapshot.engine == "sqlite" and [x.name for x in out.snapshot.tables] == ["t"]


def test_fleet_path_key_and_validation(tmp_path):
    make_file(tmp_path / "a.db", "CREATE TABLE a (id INTEGER PRIMARY KEY);")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[targets]]\nname = "a"\npath = "a.db"\n\n[[targets]]\nname = "gone"\npath = "gone.db"\n')
    specs = load_fleet(fleet, env={})
    assert specs["a"].path == tmp_path / "a.db"
    settings = Settings.from_env({"HEAL_FLEET": str(fleet)})
    a = resolve_target("a", settings)
    assert a.dsn == f"sqlite:///{tmp_path}/a.db" and scan_target(a).snapshot.tables[0].name == "a"
    gone = resolve_target("gone", settings)  # a missing file fails that target only, at scan time
    with pytest.raises(SqliteError, match="does not exist"):
        scan_target(gone)
    assert not (tmp_path / "gone.db").exists()  # SQLite would have created it: heal did not
    fleet.write_text('[[targets]]\nname = "a"\npath = "a.db"\ndsn_env = "X"\n')
    with pytest.raises(ConfigError, match="either 'path'"):
        load_fleet(fleet, env={})
    fleet.write_text('[[targets]]\nname = "a"\npath = 3\n')
    with pytest.raises(ConfigError, match="path must be a path string"):
        load_fleet(fleet, env={})
    fleet.write_text('[defaults]\npath = "a.db"\n[[targets]]\nname = "a"\ndsn_env = "X"\n')
    with pytest.raises(ConfigError, match="unknown key 'path'"):
        load_fleet(fleet, env={})


def test_bad_files_one_line_nothing_written(tmp_path):
    notdb = tmp_path / "notes.db"
    notdb.write_text("hello, this is not a database at all" * 10)
    with pytest.raises(SqliteError, match="not a SQLite database"):
        with open_readonly(notdb):
            pass
    # WAL database copied without its -wal file: committed rows would be lost
    src = make_file(tmp_path / "w.db", "CREATE TABLE t (a); INSERT INTO t VALUES (1);", wal=True)
    keep = sqlite3.connect(src)
    keep.execute("INSERT INTO t VALUES (2)")
    keep.commit()
    copy = tmp_path / "copy.db"
    copy.write_bytes(src.read_bytes())
    before = _digest(copy)
    with pytest.raises(SqliteError, match="WAL database without its -wal"):
        with open_readonly(copy):
            pass
    assert _digest(copy) == before and sorted(os.listdir(tmp_path)) == sorted(
        ["notes.db", "w.db", "w.db-wal", "w.db-shm", "copy.db"])
    keep.close()


def test_locked_longer_than_busy_timeout(tmp_path):
    db = make_file(tmp_path / "l.db", "CREATE TABLE t (a);")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3,sys,time\n"
        f"c=sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(SqliteError, match="locked by another connection for longer than busy_timeout"):
            with open_readonly(db, busy_timeout_ms=300):
                pass
        with pytest.raises(SqliteError, match="locked"):
            open_write(db, busy_timeout_ms=300)
        assert time.monotonic() - t0 < 5
    finally:
        holder.kill()
        holder.wait()


def test_read_only_filesystem_refuses_fixes_but_scans(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    db = make_file(ro / "r.db", "CREATE TABLE t (id INTEGER PRIMARY KEY);")
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True).returncode == 0
    if not mounted:  # no mount privilege: a file that is not writable is the same refusal path
        pytest.skip("cannot create a read-only mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=False)
        with pytest.raises(SqliteError, match="read-only filesystem|not writable"):
            open_write(db)
        with open_readonly(db) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_heal_check_and_snapshot_cli(demo, capsys, monkeypatch):
    monkeypatch.delenv("HEAL_FLEET", raising=False)
    monkeypatch.setenv("HEAL_MIGRATIONS_DIRS", demo["migrations_dir"])
    before = _digest(Path(demo["path"]))
    rc = main(["check", "--dsn", demo["dsn"], "--source-dir", demo["source_dir"], "--json"])
    import json

    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["target_db"] == "shop"
    assert {"missing_table", "type_mismatch", "orphaned_rows"} <= {i["issue_type"] for i in out["issues"]}
    assert any(u["check"] == "unused_index" and "not applicable" in u["reason"] for u in out["not_checked"])
    assert main(["snapshot", "--dsn", demo["dsn"], "--json"]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["counts"]["tables"] == 8 and snap["server_version"].startswith("SQLite 3.")
    assert _digest(Path(demo["path"])) == before
    rc = main(["check", "--dsn", "sqlite:////nonexistent/x.db"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not exist" in err
