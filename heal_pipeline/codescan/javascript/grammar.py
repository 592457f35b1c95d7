"""tree-sitter grammars and parsers for JavaScript / TypeScript (one parser per grammar, per process)."""

from __future__ import annotations

import re

import tree_sitter as ts

#: extension -> (language reported on statements, grammar)
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".js": ("javascript", "javascript"), ".jsx": ("javascript", "javascript"),
    ".mjs": ("javascript", "javascript"), ".cjs": ("javascript", "javascript"),
    ".ts": ("typescript", "typescript"), ".mts": ("typescript", "typescript"),
    ".cts": ("typescript", "typescript"), ".tsx": ("typescript", "tsx"),
}
#: directories whose JavaScript is build output or dependencies, never application source
BUILD_DIRS = frozenset({"node_modules", "dist", "build", ".next", ".nuxt", ".output", "coverage"})
_MIN_NAME = re.compile(r"\.min\.[cm]?js$|[.-]bundle\.[cm]?js$|\.chunk\.[cm]?js$")

_LANGS: dict[str, ts.Language] = {}
_PARSERS: dict[str, ts.Parser] = {}


def ext_of(name: str) -> str | None:
    i = name.rfind(".")
    if i < 0:
        return None
    ext = name[i:].lower()
    return ext if ext in EXTENSIONS else None


def is_source(name: str) -> bool:
    """Is this file name a JavaScript/TypeScript module the scanner reads?"""
    return ext_of(name) is not None


def language_of(name: str) -> str | None:
    ext = ext_of(name)
    return EXTENSIONS[ext][0] if ext else None


def grammar_of(name: str) -> str:
    ext = ext_of(name)
    return EXTENSIONS[ext][1] if ext else "javascript"


def language(grammar: str) -> ts.Language:
    got = _LANGS.get(grammar)
    if got is None:
        if grammar == "javascript":
            import tree_sitter_javascript as tj
            got = ts.Language(tj.language())
        else:
            import tree_sitter_typescript as tt
            got = ts.Language(tt.language_tsx() if grammar == "tsx" else tt.language_typescript())
        _LANGS[grammar] = got
    return got


def parser(grammar: str) -> ts.Parser:
    got = _PARSERS.get(grammar)
    if got is None:
        got = _PARSERS[grammar] = ts.Parser(language(grammar))
    return got


def parse(data: bytes, name: str) -> ts.Tree:
    return parser(grammar_of(name)).parse(data)


def skip_reason(name: str, text: str) -> str | None:
    """Why a JS/TS file is not application source (declaration, minified), else None."""
    low = name.lower()
    if low.endswith((".d.ts", ".d.mts", ".d.cts")):
        return "TypeScript declaration file (types only, no runtime code)"
    if _MIN_NAME.search(low):
        return "minified or bundled file (by its name)"
    head = text[:65536]
    if len(head) < 1000 or head.count("\n", 0, len(head)) * 300 >= len(head):
        return None  # average line under 300 characters: not minified (cheap test first)
    longest = max(len(x) for x in head.split("\n"))
    if longest > 1000:
        return f"minified file (a {longest}-character line)"
    return None


def first_error(tree: ts.Tree) -> tuple[int, int, str] | None:
    """(line, col, kind) of the first ERROR or MISSING node, 1-based; None when clean."""
    root = tree.root_node
    if not root.has_error:
        return None
    stack = [root]
    while stack:
        n = stack.pop()
        if n.is_missing:
            return n.start_point[0] + 1, n.start_point[1] + 1, f"missing {n.type}"
        if n.type == "ERROR":
            return n.start_point[0] + 1, n.start_point[1] + 1, "syntax error"
        if n.has_error:
            stack.extend(reversed(n.children))
    return root.start_point[0] + 1, 1, "syntax error"
