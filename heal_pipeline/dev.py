"""``heal dev``: embedded PostgreSQL + demo estate + Dagster UI, in one command.

State lives in ``$HEAL_HOME`` (default ``.heal/``):

- ``pg/data``       the embedded server's data directory (also holds ``pglog/postgresql.json``)
- ``dagster_home``  DAGSTER_HOME, with a generated ``dagster.yaml`` (dagster-postgres storage on the
                    embedded server, queued runs limited to one per target database, no telemetry/NUX)
- ``run/dev.json``  who is running: our PID, the ``dagster dev`` PID, the port

Recovery: a second ``heal dev`` after a crash or SIGKILL finds ``dev.json`` naming a dead PID, stops
the ``dagster dev`` process group that run left behind (only if that PID is still a dagster process)
and adopts the PostgreSQL server still running on our data directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import Settings, database_name, describe_dsn, is_sqlite_url
from .embedded import EmbeddedServer, ServerInfo, create_database
from .errors import HealError

DEMO_DB = "heal_demo"
DAGSTER_DB = "dagster"


def _say(msg: str) -> None:
    print(f"heal dev: {msg}", flush=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        pass
    return True


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """The process start time (clock ticks since boot): tells a reused PID from the one we recorded."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _is_recorded(state: dict, key: str, needle: str) -> int:
    """The PID recorded under ``key`` if that very process (same start time, matching cmdline) lives."""
    pid = int(state.get(key) or 0)
    if not pid or pid == os.getpid() or not _pid_alive(pid) or needle not in _cmdline(pid):
        return 0
    ticks = state.get(f"{key}_start")
    if ticks is not None and _start_ticks(pid) != ticks:
        return 0
    return pid


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class DevPaths:
    home: Path

    @property
    def pgdata(self) -> Path:
        return self.home / "pg" / "data"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    @property
    def run_file(self) -> Path:
        return self.home / "run" / "dev.json"

    @property
    def cache(self) -> Path:
        return self.home / "cache"


#: the one code location name: heal dev, workspace.yaml, the README and the browser tests use it
LOCATION_NAME = "heal_pipeline"


#: ``dagster dev`` warns on every start that it is superseded by ``dg dev``; ``dg dev`` needs a dg
#: project in the working directory (an installed wheel has none), so heal keeps ``dagster dev`` and
#: silences exactly that warning, in that process only (``-W``, FutureWarning is its base class)
SILENCE_DEV_SUPERSESSION = "ignore:Function `dev_command` is superseded:FutureWarning"


def dagster_cli_hint(paths: DevPaths) -> str:
    """How to run ``dagster schedule|sensor|run …`` against this heal dev's instance and location."""
    return (f"DAGSTER_HOME={paths.dagster_home} dagster schedule list "
            f"-w {paths.dagster_home / 'workspace.yaml'}")


def workspace_yaml() -> str:
    """The workspace heal dev hands to ``dagster dev`` (the repository's workspace.yaml names it alike)."""
    return ("load_from:\n  - python_module:\n      module_name: heal_pipeline.definitions\n"
            f"      location_name: {LOCATION_NAME}\n")


#: the pooled dagster-postgres storages (named, not imported: heal dev starts without importing Dagster)
POOLED_STORAGE = (("run_storage", "PooledPostgresRunStorage"), ("event_log_storage", "PooledPostgresEventLogStorage"),
                  ("schedule_storage", "PooledPostgresScheduleStorage"))


def storage_yaml(postgres_url: str) -> str:
    """The three storage blocks of a dagster.yaml using heal_pipeline.defs.storage with one URL."""
    out = []
    for key, cls in POOLED_STORAGE:
        out += [f"{key}:", "  module: heal_pipeline.defs.storage", f"  class: {cls}", "  config:",
                f'    postgres_url: "{postgres_url}"']
    return "\n".join(out) + "\n"


def dagster_yaml(pg: ServerInfo) -> str:
    return f"""\
# generated by `heal dev` — instance storage on the embedded PostgreSQL server
# dagster-postgres storage that keeps one connection per process (heal_pipeline/defs/storage.py)
{storage_yaml(pg.sqlalchemy_url(DAGSTER_DB))}run_coordinator:                  # the queue that concurrency below limits; a click on "Materialize"
  module: dagster._core.run_coordinator   # waits for the next dequeue: 1 s, not the default 5 s
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: "heal/target_db"
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: "dagster/partition"   # runs launched from the UI carry only this one
        value:
          applyLimitPerUniqueValue: true
        limit: 1
  pools:
    default_limit: 1               # pool "heal_apply": one fix/rollback step at a time
telemetry:
  enabled: false
nux:
  enabled: false
"""


def recover(paths: DevPaths) -> None:
    """Clean up after a previous ``heal dev`` that did not exit cleanly (or refuse if it is alive)."""
    if not paths.run_file.exists():
        return
    try:
        state = json.loads(paths.run_file.read_text())
    except (OSError, ValueError):
        paths.run_file.unlink(missing_ok=True)
        return
    owner = int(state.get("pid") or 0)
    if _is_recorded(state, "pid", "heal"):
        raise HealError(f"heal dev is already running (pid {owner}) at "
                        f"http://127.0.0.1:{state.get('port')} — stop it with Ctrl-C or `heal stop`")
    dpid = _is_recorded(state, "dagster_pid", "dagster")
    if dpid:
        _say(f"a previous heal dev (pid {owner}) did not exit cleanly; stopping its dagster (pid {dpid})")
        _stop_process_group(dpid)
    paths.run_file.unlink(missing_ok=True)


def _stop_process_group(pid: int, timeout: float = 25) -> None:
    """Stop a process we started in its own session: SIGINT (dagster's clean shutdown), then KILL."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    own_group = pgid == pid  # we start dagster dev with start_new_session: it leads its own group
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.2)
    # whatever is left in that process group (code servers, webserver) goes too — only when the
    # group is the one we created (a reused PID in someone else's group is never touched)
    if not own_group:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
        time.sleep(1.0)
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def prepare(home: Path, *, reset_demo: bool = False, port: int = 3000) -> tuple[EmbeddedServer, dict[str, str]]:
    """Start/adopt PostgreSQL, create databases, write DAGSTER_HOME; return the environment to run with."""
    paths = DevPaths(home.absolute())
    paths.home.mkdir(parents=True, exist_ok=True)
    (paths.home / "run").mkdir(exist_ok=True)
    recover(paths)
    settings = Settings.from_env()  # validates every HEAL_* variable first (one-line errors)

    server = EmbeddedServer(paths.pgdata)
    t0 = time.perf_counter()
    was_running = server.running_pid() is not None
    info = server.start()
    _say(f"PostgreSQL {'adopted' if was_running else 'started'} on {info.socket_dir} "
         f"(pid {info.pid}, {time.perf_counter() - t0:.1f}s)")
    admin = info.dsn("postgres")
    create_database(admin, DAGSTER_DB)

    env = dict(os.environ)
    if settings.database_url is None:
        from .demo.estate import MIGRATIONS_DIR, SOURCE_DIRS, build_estate  # noqa: PLC0415
        import psycopg  # noqa: PLC0415

        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DEMO_DB,)).fetchone()
        if reset_demo or not exists:
            t0 = time.perf_counter()
            summary = build_estate(admin, DEMO_DB)
            _say(f"demo estate built: {summary.get('tables')} tables, {summary.get('rows')} rows "
                 f"in {time.perf_counter() - t0:.1f}s")
        else:
            _say(f"reusing demo estate {DEMO_DB!r} (heal dev --reset-demo rebuilds it)")
        env["HEAL_DATABASE_URL"] = info.dsn(DEMO_DB)
        _say(f"demo database: {info.dsn(DEMO_DB)}  (heal check/snapshot/fixes/rollback use it while "
             f"heal dev runs)")
        env.setdefault("HEAL_SOURCE_DIRS", os.pathsep.join(str(d) for d in SOURCE_DIRS))
        env.setdefault("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
        env.setdefault("HEAL_QUERY_LOG", str(info.jsonlog))
        env.setdefault("HEAL_OBSERVATION_WINDOW", "0")
    else:
        _say(f"target: {describe_dsn(settings.database_url)} (HEAL_DATABASE_URL)")
    env["HEAL_HOME"] = str(paths.home)
    env["DAGSTER_HOME"] = str(paths.dagster_home)
    env.setdefault("XDG_RUNTIME_DIR", str(paths.home / "run"))
    paths.dagster_home.mkdir(exist_ok=True)
    (paths.dagster_home / "dagster.yaml").write_text(dagster_yaml(info), encoding="utf-8")
    (paths.dagster_home / "workspace.yaml").write_text(workspace_yaml(), encoding="utf-8")
    return server, env


def bootstrap_dagster(env: dict[str, str]) -> str:
    """Register the target partition and materialize the scan once, so the UI opens on real data."""
    os.environ.update(env)
    from .defs.bootstrap import register_and_scan  # noqa: PLC0415  (imports Dagster)

    return register_and_scan()


def _child_signals() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _restore_sigint() -> None:
    """Started with SIGINT ignored (nohup, `&` in a script, some CI runners)? Take it back, so Ctrl-C
    and SIGTERM work — for us and for the dagster dev child."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def preflight(env: dict[str, str] | None = None) -> None:
    """Validate every HEAL_* variable and the policy file and connect to HEAL_DATABASE_URL (if set),
    raising the same one-line error ``heal check`` prints — before PostgreSQL or Dagster starts."""
    settings = Settings.from_env(env)
    if settings.policy is not None:
        from .apply.policy import load_policy  # noqa: PLC0415

        load_policy(settings.policy)
    dsn = settings.database_url
    if dsn and not is_sqlite_url(dsn):  # a SQLite path was checked by Settings.from_env
        from .db import connect  # noqa: PLC0415

        connect(dsn, purpose="target database", connect_timeout=5).close()


def run(home: Path, *, port: int = 3000, reset_demo: bool = False, open_ui: bool = True,
        initial_scan: bool = True) -> int:
    _restore_sigint()
    preflight()  # a wrong target fails in one line before anything starts
    paths = DevPaths(home.absolute())
    paths.home.mkdir(parents=True, exist_ok=True)
    (paths.home / "run").mkdir(exist_ok=True)
    recover(paths)  # a crashed run's dagster may still hold the port
    deadline = time.monotonic() + 10
    while not _port_free(port):
        if time.monotonic() > deadline:
            raise HealError(f"port {port} on 127.0.0.1 is in use; pick another with --port")
        time.sleep(0.5)
    server, env = prepare(home, reset_demo=reset_demo, port=port)
    child: subprocess.Popen | None = None
    stopping = False

    def shutdown(signum=None, frame=None):  # noqa: ARG001
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _say("stopping…")
        if child is not None and child.poll() is None:
            _stop_process_group(child.pid)
        server.stop()
        paths.run_file.unlink(missing_ok=True)
        _say("stopped Dagster and PostgreSQL")

    def on_term(signum, frame):  # noqa: ARG001
        shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        paths.run_file.write_text(json.dumps({"pid": os.getpid(), "pid_start": _start_ticks(os.getpid()),
                                              "port": port,
                                              "pgdata": str(server.pgdata)}))
        if initial_scan:
            t0 = time.perf_counter()
            target = bootstrap_dagster(env)
            _say(f"initial scan of {target!r} materialized in {time.perf_counter() - t0:.1f}s")
            # Dagster's in-process run re-routes SIGTERM to the SIGINT handler: take both back
            _restore_sigint()
            signal.signal(signal.SIGTERM, on_term)
        if not open_ui:
            return 0
        cmd = [sys.executable, "-W", SILENCE_DEV_SUPERSESSION, "-m", "dagster", "dev", "-h", "127.0.0.1",
               "-p", str(port), "-w", str(paths.dagster_home / "workspace.yaml")]
        # cwd: DAGSTER_HOME (a dagster.yaml in the cwd that is not DAGSTER_HOME only causes a warning)
        child = subprocess.Popen(cmd, env=env, cwd=env["DAGSTER_HOME"], start_new_session=True,
                                 stdin=subprocess.DEVNULL, preexec_fn=_child_signals)
        paths.run_file.write_text(json.dumps({"pid": os.getpid(), "pid_start": _start_ticks(os.getpid()),
                                              "dagster_pid": child.pid,
                                              "dagster_pid_start": _start_ticks(child.pid),
                                              "port": port, "pgdata": str(server.pgdata)}))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        if child.poll() is not None:
            raise HealError(f"dagster dev exited with code {child.returncode}")
        _say(f"Dagster UI ready at {url}  (Ctrl-C stops Dagster and PostgreSQL)")
        _say(f"dagster CLI on this instance: {dagster_cli_hint(paths)}  (schedule start/stop, sensor …)")
        child.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        shutdown()


def stop(home: Path) -> bool:
    """Stop what a ``heal dev`` in this HEAL_HOME left running (``heal stop``)."""
    paths = DevPaths(home.absolute())
    stopped = False
    if paths.run_file.exists():
        try:
            state = json.loads(paths.run_file.read_text())
        except (OSError, ValueError):
            state = {}
        owner = _is_recorded(state, "pid", "heal")
        if owner:
            os.kill(owner, signal.SIGTERM)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and _pid_alive(owner):
                time.sleep(0.2)
            stopped = True
        dpid = _is_recorded(state, "dagster_pid", "dagster")
        if dpid:
            _stop_process_group(dpid)
            stopped = True
        paths.run_file.unlink(missing_ok=True)
    server = EmbeddedServer(paths.pgdata)
    if server.stop():
        stopped = True
    return stopped


__all__ = ["run", "stop", "prepare", "recover", "DevPaths", "database_name"]
