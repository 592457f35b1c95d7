"""Browser tests: a real `heal dev` (embedded PostgreSQL + demo estate + Dagster UI) driven in
Debian's Chromium with Playwright's sync API.

They run by default (marker ``browser``). Skip them with ``-m "not browser"`` or ``HEAL_SKIP_BROWSER=1``.
Chromium: ``/usr/bin/chromium`` (Debian's ``chromium`` package; never ``playwright install``).
Screenshots go to ``test-artifacts/browser/`` (git-ignored), with the ``heal dev`` log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from heal_pipeline.dev import DEMO_DB
from heal_pipeline.embedded import EmbeddedServer

from .ui import ARTIFACTS

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_TIMEOUT = 300


def _skip_requested() -> bool:
    return os.environ.get("HEAL_SKIP_BROWSER", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    if not _skip_requested():
        return
    skip = pytest.mark.skip(reason="HEAL_SKIP_BROWSER is set")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # read by the failure-screenshot fixture
    return report


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail("Chromium not found: `apt-get install chromium` (Debian), or skip the browser tests "
                    "with -m 'not browser' / HEAL_SKIP_BROWSER=1", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the second target of the fleet `heal dev` serves (the first is the demo, partition heal_demo)
SECOND_TARGET = "heal_b"


def prepare_fleet(base: Path, home: Path) -> dict[str, str]:
    """Two targets on the embedded server `heal dev` will adopt: the demo (heal dev builds it) and a
    small clean database. Returns the environment (HEAL_FLEET and the DSN variables it names)."""
    from heal_pipeline.demo.estate import MIGRATIONS_DIR, SOURCE_DIRS
    from heal_pipeline.embedded import create_database

    import psycopg

    info = EmbeddedServer(home / "pg" / "data").start()  # heal dev adopts it (and stops it at exit)
    create_database(info.dsn("postgres"), SECOND_TARGET)
    with psycopg.connect(info.dsn(SECOND_TARGET), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, email text NOT NULL)")
    fleet = base / "fleet.toml"
    dirs = ", ".join(f'"{d}"' for d in SOURCE_DIRS)
    fleet.write_text(
        f'[[targets]]\nname = "{DEMO_DB}"\ndsn_env = "HEAL_BROWSER_DEMO_URL"\nsource_dirs = [{dirs}]\n'
        f'migrations_dirs = ["{MIGRATIONS_DIR}"]\nquery_log = "{info.jsonlog}"\n\n'
        f'[[targets]]\nname = "{SECOND_TARGET}"\ndsn_env = "HEAL_BROWSER_B_URL"\n', encoding="utf-8")
    return {"HEAL_FLEET": str(fleet), "HEAL_BROWSER_DEMO_URL": info.dsn(DEMO_DB),
            "HEAL_BROWSER_B_URL": info.dsn(SECOND_TARGET)}


@dataclass
class HealUI:
    url: str
    home: Path
    log: Path
    env: dict

    @property
    def demo_dsn(self) -> str:
        """The demo estate (also the heal store) on the embedded server `heal dev` started."""
        return EmbeddedServer(self.home / "pg" / "data").info().dsn(DEMO_DB)


@pytest.fixture(scope="module")
def heal_ui():
    """`heal dev --port <free>` in its own HEAL_HOME over a two-target fleet (the demo, partition
    heal_demo, and a small clean database, heal_b); yields once it printed "UI ready"."""
    base = Path(tempfile.mkdtemp(prefix="heal-browser-"))
    os.chmod(base, 0o755)  # the embedded server runs as an unprivileged user when we are root
    home, port, log = base / ".heal", _free_port(), base / "heal-dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAL_")}
    env["HEAL_HOME"] = str(home)
    env.update(prepare_fleet(base, home))
    # SIGINT back to its default in the child, as in a terminal: a pytest started in the background
    # by a non-interactive shell inherits SIGINT ignored, and then Ctrl-C (our teardown) would not reach
    # heal dev (nor SIGTERM: Dagster maps SIGTERM to the SIGINT handler).
    proc = subprocess.Popen([sys.executable, "-m", "heal_pipeline.cli", "dev", "--port", str(port)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "UI ready" not in log.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"heal dev exited ({proc.returncode}):\n{log.read_text()[-3000:]}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"heal dev not ready in {READY_TIMEOUT}s:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.5)
        yield HealUI(url=f"http://127.0.0.1:{port}", home=home, log=log, env=env)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: heal dev stops Dagster and PostgreSQL
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # safety net: whatever a crashed heal dev left behind in this HEAL_HOME
        subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "stop"], env=env,
                       capture_output=True, timeout=120)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / "heal-dev.log")
        if EmbeddedServer(home / "pg" / "data").running_pid() is None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser_context():
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        # a fresh profile per module (Playwright takes the profile as user_data_dir, not as an arg)
        profile = tempfile.mkdtemp(prefix="heal-chromium-")
        context = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def ui_page(browser_context):
    from .ui import dismiss_nux

    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    dismiss_nux(page)
    return page


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "ui_page" in request.fixturenames:
        from .ui import shot

        try:
            shot(request.getfixturevalue("ui_page"), f"FAILED-{request.node.name}", full_page=True)
        except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
            pass
