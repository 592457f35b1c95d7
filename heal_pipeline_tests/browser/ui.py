"""Small Playwright helpers for driving the Dagster UI that `heal dev` serves (sync API).

Every wait is explicit: a locator wait, a URL wait, or a poll of the Runs page with a deadline.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
LOCATION = "heal_pipeline"  # heal_pipeline.dev.LOCATION_NAME
RUN_URL = re.compile(r"/runs/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# statuses of the Runs page's status column (RunStatusTag)
DONE_BAD = ("Failure", "Canceled", "Canceling")


def shot(page: Page, name: str, **kw) -> Path:
    """A screenshot under test-artifacts/browser/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    return path


def dismiss_nux(page: Page) -> None:
    """`heal dev` writes `nux: enabled: false`; if the community modal shows anyway, close it."""
    def close(_loc: Locator | None = None) -> None:
        skip = page.get_by_role("button", name=re.compile(r"^(Skip|Close|Dismiss)$"))
        if skip.count():
            skip.first.click()
        else:
            page.keyboard.press("Escape")

    page.add_locator_handler(page.get_by_text("Join the Dagster community"), close)


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def run_errors(base: str, run_id: str) -> str:
    """The failure messages of one run (for assertion messages only)."""
    q = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
             ... on MessageEvent { message } ... on ExecutionStepFailureEvent { error { message } } } } } }"""
    try:
        events = graphql(base, q, {"id": run_id})["data"]["logsForRun"]["events"]
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        return f"(could not read the run's events: {exc})"
    out = [(e.get("error") or {}).get("message") or e.get("message", "") for e in events
           if "Failure" in e["__typename"] or e["__typename"] == "EngineEvent" and "error" in e.get("message", "").lower()]
    return "\n".join(m.strip() for m in out if m) or "(no failure event)"


# -- launching ----------------------------------------------------------------------------------

def open_job(page: Page, base: str, job: str) -> None:
    page.goto(f"{base}/locations/{LOCATION}/jobs/{job}", wait_until="domcontentloaded")


def open_asset_launchpad(page: Page, base: str, job: str) -> Locator:
    """Asset job page → the arrow next to "Materialize…" → "Open launchpad"; returns the dialog."""
    open_job(page, base, job)
    materialize = page.get_by_role("button", name=re.compile(r"Materialize( all)?…$"))
    expect(materialize).to_be_enabled(timeout=30_000)
    materialize.locator("xpath=following::button[1]").click()  # its arrow_drop_down
    page.get_by_role("menuitem", name="Open launchpad").click()
    # (has_text is case-insensitive for strings: the menu's popover, also a dialog, says "Open launchpad")
    dialog = page.get_by_role("dialog").filter(has_text=re.compile(r"Launchpad \(configure"))
    expect(dialog).to_be_visible()
    return dialog


def select_partition(page: Page, scope: Locator, key: str) -> None:
    """The Launchpad's partition picker: type the key, pick it from the suggestions."""
    picker = scope.get_by_placeholder("Partition")
    picker.click()
    picker.fill(key)
    page.get_by_role("menuitem", name=key, exact=True).click()
    # choosing a partition reloads the partition's config and adds the partition tags
    expect(scope.get_by_text(f"partition: {key}", exact=True)).to_be_visible()


def type_config(page: Page, scope: Locator, yaml_text: str) -> None:
    """Replace the Launchpad's YAML with `yaml_text` (typed into the CodeMirror editor as one input)."""
    editor = scope.locator(".CodeMirror").first
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(yaml_text)  # one input event: no auto-indent of nested lines
    assert editor.evaluate("e => e.CodeMirror.getValue()") == yaml_text
    expect(scope.get_by_text("No errors", exact=True)).to_be_visible()


def launch(page: Page, scope: Locator, button: str) -> str:
    """Click the launch button; the UI then opens the new run's page. Returns the run id."""
    # the accessible name starts with the icon's label ("open_in_new Materialize")
    scope.get_by_role("button", name=re.compile(rf"(^|\s){re.escape(button)}$")).click()
    page.wait_for_url(RUN_URL, timeout=60_000)
    return RUN_URL.search(page.url).group(1)


def wait_run_success(page: Page, base: str, run_id: str, *, timeout: float = 240, name: str = "") -> str:
    """Poll the Runs page until the run's row says Success; fail fast on Failure/Canceled."""
    short = run_id[:8]
    deadline = time.monotonic() + timeout
    status = "?"
    while True:
        page.goto(f"{base}/runs", wait_until="domcontentloaded")
        row = page.locator("div[data-index]").filter(has=page.get_by_role("link", name=short))
        expect(row).to_be_visible(timeout=30_000)
        text = row.inner_text()
        lines = {ln.strip() for ln in text.splitlines()}
        status = next((s for s in ("Success", *DONE_BAD, "Started", "Starting", "Queued") if s in lines), "?")
        if status == "Success":
            if name:
                shot(page, name)
            return text
        if status in DONE_BAD:
            if name:
                shot(page, name)
            raise AssertionError(f"run {short} ended {status}:\n{run_errors(base, run_id)}")
        if time.monotonic() > deadline:
            if name:
                shot(page, name)
            raise AssertionError(f"run {short} not done after {timeout:.0f}s (Runs page says {status!r})")
        page.wait_for_timeout(1500)  # polling interval


# -- reading metadata -----------------------------------------------------------------------

def open_latest_event(page: Page, base: str, asset: str, run_id: str | None = None) -> None:
    """The asset's Events tab (latest materialization selected); optionally check which run made it."""
    page.goto(f"{base}/assets/{asset}?view=events", wait_until="domcontentloaded")
    if run_id:
        expect(page.get_by_text(re.compile(rf"materialized in run\s*{run_id[:8]}")).first).to_be_visible(timeout=30_000)


def table_rows(page: Page, ncols: int) -> list[list[str]]:
    """Rows of the metadata tables with exactly `ncols` cells (a table value nested in the metadata
    table has its own rows; the outer row that holds it has more cells)."""
    out = []
    rows = page.get_by_role("row")
    for i in range(rows.count()):
        cells = rows.nth(i).get_by_role("cell").all_inner_texts()
        if len(cells) == ncols:
            out.append([c.strip() for c in cells])
    return out
