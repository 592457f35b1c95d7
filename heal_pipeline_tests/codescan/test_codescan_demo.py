"""The demo estate: every planted code-side issue is found as a candidate at its file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heal_pipeline.codescan import scan

REPO = Path(__file__).resolve().parents[2]
DEMO_APP = REPO / "examples" / "demo_app"
DEMO_JS = REPO / "examples" / "demo_js"  # the Node service, scanned beside the Python app
PLANTED = REPO / "examples" / "demo_estate" / "planted.json"
CODE_SIDE = ("cast_workaround", "unsafe_sql", "query_in_loop", "unparsed_sql")


def _rel(file: str) -> str:
    """Planted paths may be repo-relative or relative to the app root."""
    file = file.replace("\\", "/")
    for prefix in ("examples/demo_app/", "demo_app/"):
        if file.startswith(prefix):
            return file[len(prefix):]
    return file


def _planted() -> list[dict]:
    # the demo is part of the repository: a missing file is a failure, never a skip
    return [p for p in json.loads(PLANTED.read_text()) if p.get("issue_type") in CODE_SIDE]


@pytest.fixture(scope="module")
def demo_scan():
    assert DEMO_APP.is_dir(), f"{DEMO_APP} is missing"
    return scan([DEMO_APP, DEMO_JS])


def test_demo_app_scans_cleanly(demo_scan):
    assert demo_scan.statements, "the demo app runs SQL"
    assert [f for f in demo_scan.findings if f.kind == "skipped_file"] == []


def test_planted_list_has_code_side_items():
    assert len(_planted()) >= 4


@pytest.mark.parametrize("item", _planted(), ids=lambda p: f"{p['issue_type']}@{p['file']}:{p['line']}")
def test_planted_code_side_issue_is_found(demo_scan, item):
    file, line = _rel(item["file"]), item["line"]
    got = [f for f in demo_scan.findings if f.kind == item["issue_type"] and f.file == file and f.line == line]
    near = [(f.kind, f.file, f.line) for f in demo_scan.findings if f.file == file]
    assert got, f"planted {item['issue_type']} at {file}:{line} not found; findings in that file: {near}"
    match = item.get("match")
    if match:
        root = DEMO_APP if (DEMO_APP / file).is_file() else DEMO_JS
        source = (root / file).read_text().splitlines()[line - 1]
        assert match in source, f"planted match {match!r} is not on {file}:{line}: {source!r}"
