"""Plan cache: re-plan an issue only when something the plan was made from has changed.

A cached plan is used only when every input of its planning is the same as when it was made:

* **global** (one key per ``plan_issues`` call): the snapshot's structure (``Snapshot.content_hash``:
  tables, columns, constraints, index and view definitions …), the server version, the thresholds
  and the policy, the application's SQL statements from the code scan, every file under the
  migrations folders, the planner code itself (every ``.py`` under ``heal_pipeline/plan/``), the
  squawk binary and whether linting is on;
* **per issue**: its fingerprint and every field the planner reads (detail, evidence …);
* **files**: the SHA-256 of the issue's source file and of every file the plan edits (a
  ``cast_workaround`` plan's LibCST codemod re-runs only when its file changed);
* **data**: for every table the plan touches or measures (its ``tables``, the issue's table, every
  schema/table and ref_schema/ref_table in its steps' arguments) the table's size, estimated rows and
  cumulative write counters (n_tup_ins/upd/del, n_live_tup) from the snapshot: a write to any of them
  re-plans (the counts a planner measured, rows_affected, can have changed). The counters are
  PostgreSQL's cumulative statistics, which a backend flushes within about a second of a write.

* **tree**: for planners that read every source file (a cast-only helper's removal looks for its
  callers in all files; the JS/TS fix), (path, size, mtime) of every file under the source roots.

Plans with a result of the moment (a measuring timeout, a database error while planning, a squawk
failure: ``TRANSIENT``) are never cached; other blocked plans are (their reason is a function of the
inputs, e.g. "views depend on …", "500 duplicate key(s) …"). A hit is the stored plan itself (``plan_to_dict``/``plan_from_dict``, lint findings
included), planned_at and backup-name stamps as of when it was planned. The cache is one JSON file
per target under ``$HEAL_HOME/cache/plans/`` (written atomically; a missing or unreadable file is an
empty cache); entries of issues no longer open are dropped when it is saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ..model import FixPlan, Issue, Snapshot
from .base import UNREAD_FIELDS  # declared by each planner (@planner(…, unread=…))

FORMAT = 1
PLAN_DIR = Path(__file__).resolve().parent
_code_hash: str | None = None


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def file_sha(path: Path | str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def planner_code_hash() -> str:
    """Every planner module's bytes: a changed planner never serves plans made by the old one."""
    global _code_hash
    if _code_hash is None:
        h = hashlib.sha256()
        for p in sorted(PLAN_DIR.rglob("*.py")):
            h.update(str(p.relative_to(PLAN_DIR)).encode() + b"\0" + p.read_bytes())
        _code_hash = h.hexdigest()
    return _code_hash


def _tree_hashes(dirs) -> list[tuple[str, str | None]]:
    out = []
    for d in dirs or ():
        root = Path(d)
        if root.is_dir():
            out += [(str(p), file_sha(p)) for p in sorted(root.rglob("*")) if p.is_file()]
    return out


def _squawk_stamp() -> list:
    try:
        from .lint import squawk_binary

        st = os.stat(squawk_binary())
        return [st.st_size, st.st_mtime_ns]
    except Exception:  # noqa: BLE001  (no squawk: linting blocks every plan anyway)
        return []


def global_key(snap: Snapshot, ctx) -> str:
    return _sha(FORMAT, planner_code_hash(), snap.content_hash(), snap.server_version_num, snap.target_db,
                dataclasses.asdict(ctx.thresholds) if dataclasses.is_dataclass(ctx.thresholds) else ctx.thresholds,
                repr(ctx.policy), [repr(s) for s in ctx.statements], _tree_hashes(ctx.migrations_dirs),
                [str(p) for p in ctx.source_dirs], bool(ctx.lint), _squawk_stamp())


_ISSUE_FIELDS = tuple(f.name for f in dataclasses.fields(Issue))


def issue_key(issue: Issue) -> str:
    # the fields as they are (json.dumps walks the nested evidence; asdict's deep copy is not needed)
    skip = UNREAD_FIELDS.get(issue.issue_type, ())
    return _sha({k: getattr(issue, k) for k in _ISSUE_FIELDS if k not in skip})


def _table_version(snap_tables: dict, qualified: str) -> list | None:
    t = snap_tables.get(qualified)
    if t is None:
        return None
    return [t.estimated_rows, t.size_bytes, t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_live_tup]


def _dep_tables(plan: FixPlan, issue: Issue) -> set[str]:
    deps = set(plan.tables or ())
    if issue.schema_name and issue.table_name:
        deps.add(f"{issue.schema_name}.{issue.table_name}")
    from . import _all_steps

    for s in _all_steps(plan):
        a = s.args or {}
        for sk, tk in (("schema", "table"), ("ref_schema", "ref_table"), ("backup_schema", "backup_table")):
            if isinstance(a.get(sk), str) and isinstance(a.get(tk), str):
                deps.add(f"{a[sk]}.{a[tk]}")
    return deps


def _files(plan: FixPlan, issue: Issue, ctx) -> dict[str, str | None]:
    from .base import locate_source

    paths = {str(e["path"]) for e in plan.code_edits or () if e.get("path")}
    src = locate_source(ctx, issue.file)
    if src is not None:
        paths.add(str(src))
    return {p: file_sha(p) for p in sorted(paths)}


def reads_whole_tree(issue: Issue) -> bool:
    """Planners that read every source file, not only the issue's: a cast-only helper's removal
    looks for its callers everywhere; the JS/TS fix resolves imports across the roots."""
    if issue.issue_type != "cast_workaround":
        return False
    return (issue.evidence or {}).get("kind") == "helper" or not str(issue.file or "").endswith(".py")


def tree_stamp(source_dirs) -> str:
    """(path, size, mtime) of every file under the source roots: any edit, addition or removal changes it."""
    rows = []
    for d in source_dirs or ():
        root = Path(d)
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and not any(part.startswith(".") or part in ("__pycache__", "node_modules")
                                       for part in p.relative_to(root).parts):
                st = p.stat()
                rows.append((str(p), st.st_size, st.st_mtime_ns))
    return _sha(rows)


# results that depend on the moment, not on the inputs: such a plan is planned again next time
TRANSIENT = re.compile(r"timed out|^planning failed|^cannot count rows|^squawk (failed|not found|output "
                       r"unreadable|reported an unknown)")


def transient(plan: FixPlan) -> bool:
    texts = [plan.blocked or "", plan.summary or "", *(str(n) for n in plan.notes or ())]
    return any(TRANSIENT.search(t) for t in texts if t)


class PlanCache:
    """One target's cached plans; see the module docstring for what makes an entry valid."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self._loaded = False  # the file on disk holds exactly ``entries`` as read
        self.stats = {"hits": 0, "misses": 0, "stored": 0}
        self.missed: list[str] = []  # fingerprints re-planned this time (observability, tests)
        if path is not None:
            try:
                data = json.loads(path.read_text())
                if data.get("format") == FORMAT:
                    self.entries = dict(data.get("entries") or {})
                    self._loaded = True
            except (OSError, ValueError, AttributeError):
                self.entries = {}
        self._global: str | None = None
        self._tree: str | None = None
        self._tables: dict = {}
        self._seen: set[str] = set()
        self._dropped = 0

    @classmethod
    def for_target(cls, target_db: str, home: Path | None = None) -> "PlanCache":
        if home is None:
            from ..config import Settings

            home = Settings.from_env().home
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target_db) + "-" + hashlib.sha256(target_db.encode()).hexdigest()[:8]
        return cls(Path(home).absolute() / "cache" / "plans" / f"{safe}.json")

    def begin(self, snap: Snapshot, ctx) -> None:
        self._global = global_key(snap, ctx)
        self._tree = None
        self._tables = {f"{t.schema}.{t.name}": t for t in snap.tables}

    def lookup(self, issue: Issue, ctx) -> FixPlan | None:
        fp = issue.fingerprint
        self._seen.add(fp)
        e = self.entries.get(fp)
        if (e is None or e.get("global") != self._global or e.get("issue") != issue_key(issue)
                or any(_table_version(self._tables, t) != v for t, v in (e.get("tables") or {}).items())
                or any(file_sha(p) != h for p, h in (e.get("files") or {}).items())
                or ("tree" in e and e["tree"] != self._tree_stamp(ctx))):
            self.stats["misses"] += 1
            self.missed.append(fp)
            return None
        from . import ISSUE_FIELDS, plan_from_dict

        self.stats["hits"] += 1
        plan = plan_from_dict(e["plan"])
        if issue.issue_type in UNREAD_FIELDS:  # what the key ignored is shown as it is now
            plan.issue = {k: getattr(issue, k) for k in ISSUE_FIELDS}
        return plan

    def _tree_stamp(self, ctx) -> str:
        if self._tree is None:
            self._tree = tree_stamp(ctx.source_dirs)
        return self._tree

    def store(self, issue: Issue, plan: FixPlan, ctx) -> None:
        if transient(plan) or self._global is None:
            self._dropped += self.entries.pop(issue.fingerprint, None) is not None
            return
        from . import plan_to_dict

        extra = {"tree": self._tree_stamp(ctx)} if reads_whole_tree(issue) else {}
        self.entries[issue.fingerprint] = {**extra,
            "global": self._global, "issue": issue_key(issue),
            "tables": {t: _table_version(self._tables, t) for t in sorted(_dep_tables(plan, issue))},
            "files": _files(plan, issue, ctx),
            # a JSON copy: what a later run reads back from disk, untouched by later edits of ``plan``
            "plan": json.loads(json.dumps(plan_to_dict(plan), default=str))}
        self.stats["stored"] += 1

    def save(self) -> None:
        if self.path is None:
            return
        keep = {k: v for k, v in self.entries.items() if k in self._seen}
        if not self.stats["stored"] and not self._dropped and len(keep) == len(self.entries) and self._loaded:
            return  # every entry was a hit and none is stale: the file on disk is already this
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".plans-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:  # dumps + one write: json.dump encodes in small Python chunks
                fh.write(json.dumps({"format": FORMAT, "entries": keep}, default=str))
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


__all__ = ["PlanCache", "global_key", "issue_key", "planner_code_hash"]
