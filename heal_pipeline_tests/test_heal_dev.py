"""`heal dev` for real: embedded PostgreSQL + demo + Dagster UI; Ctrl-C stops all; SIGKILL recovers."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from heal_pipeline.embedded import EmbeddedServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(home: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env["HEAL_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "heal_pipeline.cli", "dev", "--port", str(port)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"heal dev exited early:\n{log.read_text()[-3000:]}")
        if "UI ready" in log.read_text():
            return
        time.sleep(1)
    pytest.fail(f"heal dev not ready in {timeout}s:\n{log.read_text()[-3000:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_heal_dev_runs_stops_and_recovers():
    base = Path(tempfile.mkdtemp(prefix="heal-dev-"))
    os.chmod(base, 0o755)
    home, port = base / ".heal", _free_port()
    log1, log2 = base / "dev1.log", base / "dev2.log"
    server = EmbeddedServer(home / "pg" / "data")
    first = _start(home, port, log1)
    try:
        _wait_ready(first, port, log1)
        # the UI serves our code location with the assets, and the initial scan is materialized
        data = _graphql(port, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
        assert {"schema_snapshot", "code_findings", "issue_set"} <= {n["assetKey"]["path"][0] for n in data}
        ws = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
        assert [e["name"] for e in ws["data"]["workspaceOrError"]["locationEntries"]] == ["heal_pipeline"]
        mat = _graphql(port, '{ assetOrError(assetKey: {path: ["schema_snapshot"]}) { ... on Asset {'
                             ' assetMaterializations(limit: 1) { partition } } } }')
        assert mat["data"]["assetOrError"]["assetMaterializations"][0]["partition"] == "heal_demo"
        # no "dagster dev is superseded" warning on start (issue 16, item 7)
        text1 = log1.read_text()
        assert "is superseded" not in text1 and "SupersessionWarning" not in text1, text1[-3000:]
        # the dagster CLI line heal dev prints works against its instance and code location
        hint = next(ln for ln in text1.splitlines() if "dagster CLI on this instance:" in ln)
        dh = home.absolute() / "dagster_home"
        assert f"DAGSTER_HOME={dh} dagster schedule list -w {dh / 'workspace.yaml'}" in hint, hint
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEAL_", "DAGSTER_"))}
        res = subprocess.run([sys.executable, "-m", "dagster", "schedule", "list", "-w", str(dh / "workspace.yaml")],
                             env={**env, "DAGSTER_HOME": str(dh)}, cwd=base, capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "heal_every_five_minutes" in res.stdout and "RUNNING" in res.stdout.upper(), res.stdout
        state = json.loads((home / "run" / "dev.json").read_text())
        dagster_pid, pg_pid = state["dagster_pid"], server.running_pid()
        assert pg_pid and _alive(dagster_pid)

        # crash: SIGKILL leaves dagster and PostgreSQL behind; a second heal dev recovers
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _alive(dagster_pid) and server.running_pid() == pg_pid
        second = _start(home, port, log2)
        try:
            _wait_ready(second, port, log2)
            text = log2.read_text()
            assert "did not exit cleanly" in text and "PostgreSQL adopted" in text
            assert not _alive(dagster_pid)
            assert server.running_pid() == pg_pid
            new_dagster = json.loads((home / "run" / "dev.json").read_text())["dagster_pid"]
        finally:
            # Ctrl-C: everything it started stops, PostgreSQL included
            second.send_signal(signal.SIGINT)
            second.wait(90)
        assert second.returncode == 0
        assert server.running_pid() is None and not _alive(new_dagster)
        assert not (home / "run" / "dev.json").exists()
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
        subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "stop"],
                       env={**os.environ, "HEAL_HOME": str(home)}, capture_output=True, timeout=120)
        server.stop(mode="immediate")
