"""Helpers for the JavaScript/TypeScript scanner case tests: write files, scan them, query."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from heal_pipeline.codescan import scan


class Scanned:
    def __init__(self, result):
        self.result = result

    def stmts(self, file: str = "app.ts"):
        return [s for s in self.result.statements if s.file == file]

    def stmt(self, line: int, file: str = "app.ts"):
        got = [s for s in self.result.statements if s.file == file and s.line == line]
        assert len(got) == 1, (line, [(s.file, s.line) for s in self.result.statements])
        return got[0]

    def at(self, kind: str, line: int | None = None, file: str = "app.ts"):
        return [f for f in self.result.findings if f.kind == kind and f.file == file
                and (line is None or f.line == line)]

    def kinds(self, kind: str):
        return [f for f in self.result.findings if f.kind == kind]


@pytest.fixture
def js(tmp_path: Path):
    """``js({"app.ts": source, ...}, **scan_kwargs)`` -> Scanned."""

    def run(files: dict[str, str | bytes], **kw) -> Scanned:
        for rel, body in files.items():
            p = tmp_path / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(body, bytes):
                p.write_bytes(body)
            else:
                p.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
        return Scanned(scan([tmp_path], **kw))

    return run
