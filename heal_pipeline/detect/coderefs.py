"""Resolve what the application's SQL names against the snapshot (shared by several checks)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import CodeScan, Snapshot
from .base import DetectContext, examined_schema

SYSTEM_PREFIXES = ("pg_",)


@dataclass
class Resolver:
    snap: Snapshot
    search_path: tuple[str, ...] = ("public",)
    _relations: set[tuple[str, str]] = field(default_factory=set)
    _columns: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._relations = {(t.schema, t.name) for t in self.snap.tables}
        self._relations |= {(v.schema, v.name) for v in self.snap.views}
        for c in self.snap.columns:
            self._columns.setdefault((c.schema, c.table), set()).add(c.name)

    def ignorable(self, schema: str | None, name: str) -> bool:
        """System catalogs and schemas heal does not examine are never 'missing'."""
        if schema is None:
            return name.startswith(SYSTEM_PREFIXES)  # pg_class, pg_stat_statements… via pg_catalog
        return not examined_schema(schema)

    def table(self, schema: str | None, name: str) -> tuple[str, str] | None:
        """The existing relation (table or view) a reference resolves to, or None."""
        if schema is not None:
            return (schema, name) if (schema, name) in self._relations else None
        for s in self.search_path:
            if (s, name) in self._relations:
                return (s, name)
        return None

    def expected(self, schema: str | None, name: str) -> tuple[str, str]:
        """Where a missing unqualified table would be created: the first schema of search_path."""
        return (schema or self.search_path[0], name)

    def has_column(self, rel: tuple[str, str], column: str) -> bool:
        return column in self._columns.get(rel, set())


def resolver(ctx: DetectContext) -> Resolver:
    return ctx.memo("resolver", lambda: Resolver(ctx.snapshot, ctx.thresholds.search_path))  # type: ignore[return-value]


def referenced_tables(ctx: DetectContext, code: CodeScan) -> set[tuple[str, str]]:
    """Existing relations named anywhere in the scanned code's SQL."""
    def build() -> set[tuple[str, str]]:
        r = resolver(ctx)
        out: set[tuple[str, str]] = set()
        for st in code.statements:
            for t in st.tables:
                rel = r.table(t.schema, t.name)
                if rel is not None:
                    out.add(rel)
        for schema, name, _f in orm_tables(code):
            rel = r.table(schema, name)
            if rel is not None:
                out.add(rel)
        return out
    return ctx.memo("referenced_tables", build)  # type: ignore[return-value]


def orm_tables(code: CodeScan) -> list[tuple[str | None, str, object]]:
    """Tables the code declares through an ORM (SQLAlchemy ``Table(...)``, ``__tablename__``): references."""
    return [(f.schema, f.table, f) for f in code.findings if f.kind == "table_declaration" and f.table]
