"""The production deploy/dagster.yaml loads against a real PostgreSQL and enforces the tag limit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading

import psycopg
import pytest

from heal_pipeline.config import REPO_ROOT

ROOT_YAML = REPO_ROOT / "deploy" / "dagster.yaml"


class TcpToUnix:
    """127.0.0.1:<port> → the test server's Unix socket. The embedded server listens on a socket only,
    and dagster-postgres' ``hostname`` goes into a URL, where a socket directory cannot be written."""

    def __init__(self, unix_path: str):
        self.unix_path = unix_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.unix_path)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def pg_tcp(admin_dsn):
    """(host, port) over TCP for dagster-postgres: the server itself when HEAL_TEST_DSN is TCP."""
    d = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    host, port = str(d.get("host") or "localhost"), int(d.get("port") or 5432)
    if not host.startswith("/"):
        yield host, port
        return
    fwd = TcpToUnix(os.path.join(host, f".s.PGSQL.{port}"))
    yield "127.0.0.1", fwd.port
    fwd.close()


def _pg_env(admin_dsn: str, tcp: tuple[str, int], db: str) -> dict[str, str]:
    d = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    return {"DAGSTER_PG_USER": str(d.get("user") or "postgres"),
            "DAGSTER_PG_PASSWORD": str(d.get("password") or ""),
            "DAGSTER_PG_HOST": tcp[0], "DAGSTER_PG_PORT": str(tcp[1]), "DAGSTER_PG_DB": db}


def test_root_dagster_yaml_loads_with_postgres_storage(admin_dsn, pg_tcp, dagster_db, workdir):
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT_YAML, home / "dagster.yaml")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "HEAL_"))},
           **_pg_env(admin_dsn, pg_tcp, dagster_db), "DAGSTER_HOME": str(home)}
    res = subprocess.run([sys.executable, "-m", "dagster", "instance", "info"], env=env, cwd=home,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for storage in ("PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"):
        assert storage in out, out
    assert "heal/target_db" in out and "applyLimitPerUniqueValue" in out
    # Dagster created its tables in that database (and nothing was written to the repo)
    d = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    d["dbname"] = dagster_db
    with psycopg.connect(psycopg.conninfo.make_conninfo(**d)) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
    assert {"runs", "event_logs", "job_ticks", "dynamic_partitions"} <= tables


def test_instance_from_root_yaml_writes_through_psycopg2(admin_dsn, pg_tcp, dagster_db, workdir,
                                                          monkeypatch):
    """In process: a run record and a dynamic partition round-trip through dagster-postgres
    (the ``NOTIFY`` that breaks with psycopg 3 is on the event path)."""
    import dagster as dg

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT_YAML, home / "dagster.yaml")
    for k, v in _pg_env(admin_dsn, pg_tcp, dagster_db).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"  # tag limits apply
        instance.add_dynamic_partitions("target_db", ["shop", "crm"])
        assert instance.get_dynamic_partitions("target_db") == ["shop", "crm"]

        @dg.asset
        def ping():
            return 1

        assert dg.materialize([ping], instance=instance).success
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [
            {"key": "heal/target_db", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        ]
