"""Helpers for the code scanner case tests: write a snippet tree, scan it, query the result."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from heal_pipeline.codescan import scan
from heal_pipeline.model import CodeScan


class Scanned:
    def __init__(self, result: CodeScan, root: Path):
        self.result = result
        self.root = root

    @property
    def statements(self):
        return self.result.statements

    @property
    def findings(self):
        return self.result.findings

    def stmt(self, line: int, file: str = "app.py"):
        got = [s for s in self.result.statements if s.file == file and s.line == line]
        assert len(got) == 1, f"expected one statement at {file}:{line}, got {got} " \
                              f"(all: {[(s.file, s.line) for s in self.result.statements]})"
        return got[0]

    def kinds(self, kind: str, file: str | None = None):
        return [f for f in self.result.findings if f.kind == kind and (file is None or f.file == file)]

    def at(self, kind: str, line: int, file: str = "app.py"):
        return [f for f in self.result.findings if f.kind == kind and f.file == file and f.line == line]


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def scan_tree(tmp_path):
    """scan_tree({"app.py": "..."}, **scan_kwargs) -> Scanned (sources dedented)."""

    def run(files: dict[str, str | bytes], **kwargs) -> Scanned:
        root = tmp_path / "src"
        write_tree(root, files)
        return Scanned(scan([root], **kwargs), root)

    return run


@pytest.fixture
def scan_src(scan_tree):
    """scan_src("source of app.py") -> Scanned."""

    def run(source: str, **kwargs) -> Scanned:
        return scan_tree({"app.py": source}, **kwargs)

    return run
