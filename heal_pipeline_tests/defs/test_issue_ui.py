"""What the UI shows of a scan (issue 16, item 6): one real heal_scan of a demo copy per module, read
back as the metadata the Dagster UI renders — the issue table, the evidence, the numeric counts, the
per-partition checks, fix_plan's counts and launchpad scaffold."""

import re

import dagster as dg
import psycopg
import pytest

from heal_pipeline.definitions import defs
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.present import DETAIL_CHARS

FINGERPRINT = re.compile(r"^[a-z_]+:[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def demo_scan(admin_dsn, demo_dsn):
    """heal_scan on a private copy of the demo (module-scoped: one scan for every test here)."""
    from heal_pipeline.demo.estate import MIGRATIONS_DIR, SOURCE_DIRS
    from heal_pipeline_tests.conftest import _create_db, _drop_db

    name = "heal_demo_ui_copy"
    _drop_db(admin_dsn, name)
    dsn = _create_db(admin_dsn, name, template="heal_demo_test")
    mp = pytest.MonkeyPatch()
    mp.setenv("HEAL_SOURCE_DIRS", ":".join(str(d) for d in SOURCE_DIRS))
    mp.setenv("HEAL_MIGRATIONS_DIRS", str(MIGRATIONS_DIR))
    mp.setenv("HEAL_OBSERVATION_WINDOW", "0")
    mp.setenv("HEAL_DATABASE_URL", dsn)
    mp.setenv("HEAL_TARGET_NAME", "demo")
    for v in ("HEAL_POLICY", "HEAL_STORE_URL", "HEAL_QUERY_LOG", "HEAL_FLEET"):
        mp.delenv(v, raising=False)
    try:
        with dg.instance_for_test() as instance:
            sync_partitions(instance, ["demo"])
            res = defs.resolve_job_def("heal_scan").execute_in_process(instance=instance, partition_key="demo")
            assert res.success
            yield {"dsn": dsn, "result": res, "instance": instance}
    finally:
        mp.undo()
        _drop_db(admin_dsn, name)


def _md(scan, node):
    return scan["result"].asset_materializations_for_node(node)[0].metadata


def _open_issues(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT fingerprint, severity, detail, evidence FROM heal.issues WHERE status = 'open'")}


def test_issue_table_leads_with_severity_object_fingerprint(demo_scan):
    md = _md(demo_scan, "issue_set")
    table = md["issues"]
    names = [c.name for c in table.schema.columns]
    assert names[:3] == ["severity", "object", "fingerprint"], names
    rows = [r.data for r in table.records]
    issues = _open_issues(demo_scan["dsn"])
    assert {r["fingerprint"] for r in rows} == set(issues)
    assert all(FINGERPRINT.match(r["fingerprint"]) for r in rows)
    assert [r["severity"] for r in rows] == sorted((r["severity"] for r in rows),
                                                    key=["critical", "warning", "info"].index)
    long = [fp for fp, (_sev, detail, _ev) in issues.items() if len(detail) > DETAIL_CHARS]
    assert long, "the demo has details longer than the table keeps"
    for r in rows:
        assert len(r["detail"]) <= DETAIL_CHARS, r
    # the full text of every detail is in the markdown summary
    summary = md["summary"].value
    for fp, (_sev, detail, _ev) in issues.items():
        assert f"`{fp}`" in summary
    for fp in long:
        assert " ".join(issues[fp][1].split()).replace("|", "\\|") in summary, fp


def test_every_critical_issue_shows_its_evidence(demo_scan):
    md = _md(demo_scan, "issue_set")
    text = md["critical_evidence"].value
    issues = _open_issues(demo_scan["dsn"])
    critical = {fp: v for fp, v in issues.items() if v[0] == "critical"}
    assert critical
    sections = text.split("#### ")[1:]
    assert len(sections) == len(critical)
    by_fp = {re.search(r"`([a-z_]+:[0-9a-f]{12})`", s).group(1): s for s in sections}
    assert set(by_fp) == set(critical)
    for fp, (_sev, _detail, ev) in critical.items():
        sec = by_fp[fp]
        assert "(no evidence recorded)" not in sec, sec
        for ref in ev.get("references") or []:  # references with file:line
            if ref.get("file"):
                assert f"{ref['file']}:{ref['line']}" in sec, (fp, sec)
        if ev.get("sql"):  # the failed statement and the server's SQLSTATE
            assert ev["sql"].splitlines()[0] in sec and ev.get("sqlstate", "") in sec, sec
        for st in (ev.get("server") or {}).get("statements") or []:
            assert f"{st['sqlstate']} at {st['file']}:{st['line']}" in sec, sec
        for src in ev.get("sources") or []:
            if src.get("kind") == "code":
                assert f"code {src['file']}:{src['line']}" in sec, sec
        if ev.get("orphans") is not None:
            assert f"orphan rows {ev['orphans']}" in sec
    # the demo's broken statement: its SQL and SQLSTATE 42883 are in the UI, not only in heal.issues
    broken = next(s for fp, s in by_fp.items() if fp.startswith("broken_statement:"))
    assert "```sql" in broken and "42883" in broken
    # the table's evidence column names the references of every issue that has some
    rows = {r.data["fingerprint"]: r.data for r in md["issues"].records}
    for fp, (_sev, _detail, ev) in issues.items():
        files = [r for r in ev.get("references") or [] if r.get("file")]
        if files:
            assert f"{files[0]['file']}:{files[0]['line']}" in rows[fp]["evidence"], rows[fp]


def test_counts_are_numbers_for_the_plots_tab(demo_scan):
    from heal_pipeline.detect import RULES

    md = _md(demo_scan, "issue_set")
    issues = _open_issues(demo_scan["dsn"])
    for sev in ("critical", "warning", "info"):
        assert isinstance(md[f"severity/{sev}"], dg.IntMetadataValue)
        assert md[f"severity/{sev}"].value == sum(v[0] == sev for v in issues.values())
    with psycopg.connect(demo_scan["dsn"]) as conn:
        per_type = dict(conn.execute("SELECT issue_type, count(*) FROM heal.issues WHERE status = 'open'"
                                     " GROUP BY 1").fetchall())
    assert md["not_checked/count"].value == 0  # the demo runs every check
    for t in RULES:  # every type, 0 included: the trend line has no holes when nothing is missing
        assert isinstance(md[f"type/{t}"], dg.IntMetadataValue), t
        assert md[f"type/{t}"].value == per_type.get(t, 0), t
    assert md["open"].value == len(issues) == md["dagster/row_count"].value
    # per-target trend labels (a fleet's partitions share the Plots tab's Events view)
    assert md["trend/demo/open"].value == len(issues)
    assert md["trend/demo/critical"].value == md["severity/critical"].value


def test_fix_plan_counts_agree_with_its_rows(demo_scan):
    md = _md(demo_scan, "fix_plan")
    rows = [r.data for r in md["plans"].records]
    assert rows and md["planned"].value == len(rows)
    tiers = {r["tier"] for r in rows}
    assert {"auto", "approval", "manual"} & tiers, tiers
    for t in tiers | {"auto", "approval", "manual"}:
        assert md[f"tier/{t}"].value == sum(r["tier"] == t for r in rows), t
    assert sum(md[f"tier/{t}"].value for t in tiers | {"auto", "approval", "manual"}) == len(rows)
    assert md["status/blocked"].value == md["blocked"].value == sum(r["status"] == "blocked" for r in rows) > 0
    assert md["status/ready"].value + md["status/blocked"].value == len(rows)
    with psycopg.connect(demo_scan["dsn"]) as conn:
        measured = dict(conn.execute("SELECT fingerprint, rows_affected FROM heal.fix_plans").fetchall())
    assert None in measured.values()  # the demo has plans whose rows were not measured
    for r in rows:
        assert r["rows"] != -1, r
        assert r["rows"] == ("" if measured[r["fingerprint"]] is None else measured[r["fingerprint"]]), r


def test_fix_plan_launchpad_config_lists_every_ready_plan(demo_scan):
    import yaml

    md = _md(demo_scan, "fix_plan")
    text = md["launchpad_config"].value
    assert text.startswith("```yaml\n") and text.endswith("```")
    body = text[len("```yaml\n"):-3]
    assert yaml.safe_load(body)["ops"]["applied_fixes"]["config"]["approve"] == []
    for r in (r.data for r in md["plans"].records):
        if r["status"] == "ready":
            assert f'# "{r["fingerprint"]}",' in body, r
        else:
            assert f'#   {r["fingerprint"]}: ' in body and f'"{r["fingerprint"]}"' not in body, r
    assert "heal approve" in md["how_to_apply"].value
