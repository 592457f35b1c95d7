"""The Dagster UI as heal's dashboard, driven in Chromium against a real `heal dev`.

One `heal dev` per module; the tests run in order and share what they learn (`state`): the lineage
graph, a scan launched from the UI, the issue table (fingerprint visible at 1600 px, the evidence of a
critical issue, the counts' plots, check results per partition of the two-target fleet), an approved
fix applied from the Launchpad and verified, its rollback from the Launchpad, and `heal approve`.
"""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg
import pytest
from playwright.sync_api import Page, expect

from heal_pipeline.defs.assets_detect import ISSUE_COLUMNS

from .conftest import SECOND_TARGET

from .ui import (launch, open_asset_launchpad, open_job, open_latest_event, select_partition, shot, table_rows,
                 type_config, wait_run_success)

pytestmark = pytest.mark.browser

ASSETS = ["schema_snapshot", "code_findings", "failed_queries", "issue_set", "fix_plan", "applied_fixes"]
PARTITION = "heal_demo"
SCHEDULE = "heal_every_five_minutes"
FINGERPRINT = re.compile(r"^[a-z_]+:[0-9a-f]{12}$")
CREATE_INDEX = re.compile(r"^create index (\S+) concurrently on (\S+)\.(\S+) \(")


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


@pytest.fixture(scope="module")
def ui(heal_ui, ui_page: Page):
    """The UI, with the five-minute scan schedule switched off from the Automation page, so that a
    scheduled scan does not compete with the runs these tests launch (2 cores)."""
    page = ui_page
    page.goto(f"{heal_ui.url}/automation", wait_until="domcontentloaded")
    row = page.locator("div[data-index]").filter(has=page.get_by_text(SCHEDULE, exact=True))
    switch = row.get_by_role("checkbox").last
    expect(switch).to_be_checked(timeout=30_000)  # default_status RUNNING
    row.locator("label:has(input[type=checkbox])").last.click()  # the visible switch
    expect(switch).not_to_be_checked()
    return heal_ui


def _hide_navigation(page: Page) -> None:
    """More room for the screenshots (the choice persists in the browser profile)."""
    hide = page.get_by_role("button", name="Hide navigation")
    if hide.is_visible():
        hide.click()
        expect(hide).to_be_hidden()


def _index_state(dsn: str, schema: str, name: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                           (schema, name)).fetchone()
    return "absent" if row is None else ("valid" if row[0] else "invalid")


def test_lineage_graph_shows_the_six_assets(ui, ui_page: Page):
    page = ui_page
    page.set_viewport_size({"width": 1800, "height": 1000})
    page.goto(f"{ui.url}/asset-groups", wait_until="domcontentloaded")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    # five groups (introspect, codescan, detect, plan, apply) are drawn collapsed: expand them all
    expect(page.get_by_text("introspect", exact=True).first).to_be_visible()
    _hide_navigation(page)
    page.locator("#zoom-slider-container").get_by_role("button", name="settings").click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    for asset in ASSETS:
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    # the asset sidebar off: the graph gets the width and draws full nodes (status, partitions, checks)
    page.locator("button:has([aria-label=panel_show_right])").click()
    expect(page.get_by_text("Latest event").first).to_be_visible()
    shot(page, "01-asset-graph")
    page.set_viewport_size({"width": 1600, "height": 1000})


def test_scan_launched_from_the_ui_succeeds(ui, ui_page: Page, state):
    page = ui_page
    dialog = open_asset_launchpad(page, ui.url, "heal_scan")
    select_partition(page, dialog, PARTITION)
    shot(page, "02-scan-launchpad")
    run_id = launch(page, dialog, "Materialize")
    text = wait_run_success(page, ui.url, run_id, name="02-scan-success")
    assert "heal_scan" in text and f"partition: {PARTITION}" in text
    state["scan_run"] = run_id


def test_issue_table_in_issue_set_metadata(ui, ui_page: Page, state):
    page = ui_page
    page.set_viewport_size({"width": 2200, "height": 1300})
    open_latest_event(page, ui.url, "issue_set", state.get("scan_run"))
    expect(page.get_by_role("cell", name="type_mismatch", exact=True).first).to_be_visible()
    rows = table_rows(page, len(ISSUE_COLUMNS))  # severity, object, fingerprint, issue_type, detail, …
    issues = [r for r in rows if FINGERPRINT.match(r[2])]
    mismatches = [r for r in issues if r[3] == "type_mismatch"]
    assert mismatches, f"no type_mismatch row in the issue table: {issues[:5]}"
    assert all(r[2].startswith(f"{r[3]}:") for r in issues), issues[:5]
    assert {"critical", "warning"} <= {r[0] for r in issues}
    expect(page.get_by_text(mismatches[0][2], exact=True).first).to_be_visible()
    _hide_navigation(page)
    page.get_by_text(re.compile(r"materialized in run")).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    shot(page, "03-issue-set")
    page.set_viewport_size({"width": 1600, "height": 1000})


def test_fingerprint_fully_visible_at_1600px(ui, ui_page: Page, state):
    """Severity, object and fingerprint lead the table: at 1600 px (navigation shown) the first
    critical issue's fingerprint cell is entirely on screen, not cut by the table's scroll box."""
    page = ui_page
    page.set_viewport_size({"width": 1600, "height": 1000})
    show = page.get_by_role("button", name="Show navigation")
    if show.is_visible():
        show.click()
    page.goto(f"{ui.url}/assets/issue_set?view=events&partition={PARTITION}", wait_until="domcontentloaded")
    if state.get("scan_run"):
        expect(page.get_by_text(re.compile(rf"materialized in run\s*{state['scan_run'][:8]}")).first).to_be_visible()
    with psycopg.connect(ui.demo_dsn) as conn:
        fp = conn.execute("SELECT fingerprint FROM heal.issues WHERE target_db = %s AND status = 'open'"
                          " AND severity = 'critical' ORDER BY issue_type, fingerprint LIMIT 1", (PARTITION,)).fetchone()[0]
    cell = page.get_by_role("cell", name=fp, exact=True).first
    expect(cell).to_be_visible()
    left, right, width, on_top = cell.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " const hit = document.elementFromPoint(r.right - 3, r.top + r.height / 2);"
        " return [r.left, r.right, window.innerWidth, hit !== null && e.contains(hit)]; }")
    assert right <= width and on_top, (fp, left, right, width)
    shot(page, "03b-issue-table-1600")


def test_critical_issue_evidence_is_visible(ui, ui_page: Page):
    """critical_evidence: the rejected statement, its SQLSTATE and the references of each critical issue."""
    page = ui_page
    with psycopg.connect(ui.demo_dsn) as conn:
        fp, ev = conn.execute("SELECT fingerprint, evidence FROM heal.issues WHERE target_db = %s AND status = 'open'"
                              " AND issue_type = 'broken_statement' LIMIT 1", (PARTITION,)).fetchone()
        mt_fp, mt_ev = conn.execute("SELECT fingerprint, evidence FROM heal.issues WHERE target_db = %s AND"
                                    " status = 'open' AND issue_type = 'missing_table' ORDER BY fingerprint LIMIT 1",
                                    (PARTITION,)).fetchone()
    page.goto(f"{ui.url}/assets/issue_set?view=events&partition={PARTITION}", wait_until="domcontentloaded")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="critical_evidence", exact=True))
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text="critical_evidence")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text(fp).first).to_be_visible()
    expect(dialog.get_by_text(ev["sql"]).first).to_be_visible()  # the statement the server rejects
    expect(dialog.get_by_text(re.compile(rf"SQLSTATE {ev['sqlstate']}")).first).to_be_visible()
    ref = mt_ev["references"][0]
    expect(dialog.get_by_text(re.compile(re.escape(f"{ref['file']}:{ref['line']}"))).first).to_be_attached()
    assert mt_fp in dialog.inner_text()
    shot(page, "03c-critical-evidence")
    page.keyboard.press("Escape")


def test_counts_plot_over_time(ui, ui_page: Page):
    """Counts per severity/type are numbers: the Overview's metadata Plots (by event) draw them."""
    page = ui_page
    page.goto(f"{ui.url}/assets/issue_set", wait_until="domcontentloaded")
    page.get_by_role("button", name=re.compile(r"Plots$")).first.click()
    page.get_by_role("button", name=re.compile(r"Events$")).first.click()
    for label in ("severity/critical", "type/type_mismatch", f"trend/{PARTITION}/critical"):
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    page.get_by_text(f"trend/{PARTITION}/critical", exact=True).first.scroll_into_view_if_needed()
    shot(page, "03d-plots")


def test_check_results_per_partition(ui, ui_page: Page):
    """Two targets, two results: no_critical_issues failed on the demo and passed on heal_b."""
    page = ui_page
    page.goto(f"{ui.url}/assets/issue_set?view=checks", wait_until="domcontentloaded")
    page.get_by_text("no_critical_issues", exact=True).first.click()
    page.locator("button[role=tab]", has_text="Partitions").click()
    expect(page.get_by_text("Failed (1)", exact=True)).to_be_visible()
    expect(page.get_by_text("Passed (1)", exact=True)).to_be_visible()
    for partition, verdict in ((PARTITION, "Failed"), (SECOND_TARGET, "Passed")):
        page.get_by_text(partition, exact=True).filter(visible=True).last.click()
        expect(page.get_by_text(verdict, exact=True).filter(visible=True).first).to_be_visible()
        expect(page.get_by_text("Latest execution").first).to_be_visible()
        shot(page, f"03e-check-{partition}")


def test_approval_run_applies_one_auto_fix_and_verifies_it(ui, ui_page: Page, state):
    page = ui_page
    # the plan: fix_plan's metadata lists every plan with its tier; take a ready fk_without_index (auto)
    open_latest_event(page, ui.url, "fix_plan")
    expect(page.get_by_role("cell", name="fk_without_index", exact=True).first).to_be_visible()
    plans = table_rows(page, 7)  # fingerprint, issue_type, tier, locks, rows, status, summary
    auto = [r for r in plans if r[1] == "fk_without_index" and r[2] == "auto" and r[5] == "ready"]
    assert auto, f"no ready auto fk_without_index plan in fix_plan's metadata: {plans[:5]}"
    fingerprint, summary = auto[0][0], auto[0][6]
    m = CREATE_INDEX.match(summary)
    assert m, summary
    index, schema = m.group(1), m.group(2)
    shot(page, "04-fix-plan")
    assert _index_state(ui.demo_dsn, schema, index) == "absent"

    dialog = open_asset_launchpad(page, ui.url, "heal_apply")
    select_partition(page, dialog, PARTITION)
    type_config(page, dialog, f'ops:\n  applied_fixes:\n    config:\n      approve:\n        - "{fingerprint}"\n')
    shot(page, "04-apply-launchpad")
    run_id = launch(page, dialog, "Materialize")
    wait_run_success(page, ui.url, run_id, name="04-apply-success")

    open_latest_event(page, ui.url, "applied_fixes", run_id)
    expect(page.get_by_role("cell", name="verified", exact=True).first).to_be_visible()
    fixes = [r for r in table_rows(page, 8) if r[1] == fingerprint]  # fix_id, fingerprint, …, status, …
    assert len(fixes) == 1 and fixes[0][3] == "verified", fixes
    fix_id = int(fixes[0][0])
    assert fixes[0][7] == f"heal rollback {fix_id}"
    shot(page, "04-applied-fixes")
    assert _index_state(ui.demo_dsn, schema, index) == "valid"
    state.update(fix_id=fix_id, fingerprint=fingerprint, index=(schema, index))


def test_rollback_run_restores_it(ui, ui_page: Page, state):
    if "fix_id" not in state:
        pytest.skip("no verified fix to roll back (the apply test did not pass)")
    page = ui_page
    fix_id, (schema, index) = state["fix_id"], state["index"]
    open_job(page, ui.url, "heal_rollback")
    page.get_by_role("tab", name="Launchpad").or_(page.get_by_role("link", name="Launchpad")).first.click()
    expect(page.get_by_text("Missing required config entry \"fix_id\"").first).to_be_visible()
    # the config applied_fixes' how_to_roll_back shows (a fleet needs the target: there are two)
    type_config(page, page.locator("body"),
                f"ops:\n  rollback_fix_op:\n    config:\n      fix_id: {fix_id}\n      target_db: {PARTITION}\n")
    shot(page, "05-rollback-launchpad")
    run_id = launch(page, page.locator("body"), "Launch Run")
    wait_run_success(page, ui.url, run_id, name="05-rollback-success")

    # the rollback run records itself on applied_fixes (rolled_back_fix = the fix id)
    open_latest_event(page, ui.url, "applied_fixes", run_id)
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="rolled_back_fix", exact=True))
    expect(row.get_by_role("cell", name=str(fix_id), exact=True)).to_be_visible()
    shot(page, "05-applied-fixes-rolled-back")

    assert _index_state(ui.demo_dsn, schema, index) == "absent"
    with psycopg.connect(ui.demo_dsn) as conn:
        status, rolled_back_by = conn.execute(
            "SELECT status, rolled_back_by FROM heal.fix_history WHERE fix_id = %s", (fix_id,)).fetchone()
    assert rolled_back_by is not None, status


def test_heal_approve_round_trip(ui, ui_page: Page, state):
    """`heal approve FINGERPRINT --wait` (the real CLI, finding heal dev's webserver and the plan's
    partition by itself) launches heal_apply; the UI shows the run and the verified fix."""
    page = ui_page
    with psycopg.connect(ui.demo_dsn) as conn:
        fp, summary = conn.execute(
            "SELECT fingerprint, summary FROM heal.fix_plans WHERE target_db = %s AND issue_type = 'fk_without_index'"
            " AND blocked IS NULL AND fingerprint <> %s ORDER BY fingerprint LIMIT 1",
            (PARTITION, state.get("fingerprint", ""))).fetchone()
    m = CREATE_INDEX.match(summary)
    assert m, summary
    index, schema = m.group(1), m.group(2)
    assert _index_state(ui.demo_dsn, schema, index) == "absent"
    env = dict(ui.env)
    res = subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "approve", fp, "--wait", "--timeout", "240"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = re.search(r": run ([0-9a-f-]{36})", res.stdout).group(1)
    fix_id = int(re.search(rf"fix (\d+) {re.escape(fp)} \(fk_without_index\): verified", res.stdout).group(1))
    assert f"heal rollback {fix_id}" in res.stdout
    assert _index_state(ui.demo_dsn, schema, index) == "valid"

    text = wait_run_success(page, ui.url, run_id, name="06-approve-run")
    assert "heal_apply" in text and f"partition: {PARTITION}" in text
    open_latest_event(page, ui.url, "applied_fixes", run_id)
    fixes = [r for r in table_rows(page, 8) if r[1] == fp]
    assert len(fixes) == 1 and fixes[0][3] == "verified" and int(fixes[0][0]) == fix_id, fixes
    shot(page, "06-approve-applied-fixes")
    # how_to_roll_back names this very fix: the config to paste into heal_rollback's launchpad
    # (short markdown is rendered in place; a long one behind "[Show Markdown]")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="how_to_roll_back", exact=True))
    expect(row).to_contain_text(f"heal rollback {fix_id}")
    expect(row).to_contain_text(f"fix_id: {fix_id}")
    expect(row).to_contain_text(f"target_db: {PARTITION}")
