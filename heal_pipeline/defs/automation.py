"""Schedules and sensors: when heal scans, and who hears about it. ``definitions.py`` merges the lists.

* ``heal_every_five_minutes`` — ``*/5 * * * *``: one ``heal_scan`` run per configured target
  (``run_key = "<db>:<scheduled time>"``, tags ``heal/target_db``, ``heal/trigger=schedule``,
  ``heal/auto_apply``). It registers partitions that are missing before requesting their runs.
  When a target's policy enables auto-apply, the scan run is tagged ``heal/auto_apply=true`` and
  :func:`auto_apply_sensor` (wired in ``definitions.py`` once the ``heal_apply`` job exists) requests
  ``heal_apply`` for that partition after the scan succeeded. Until then the hook is inert: nothing
  requests a job that does not exist.
* ``failed_query_log_sensor`` — tails each target's query log (``HEAL_QUERY_LOG`` / fleet
  ``query_log``; jsonlog or csvlog) with :func:`heal_pipeline.logs.read_new` and one JSON cursor per
  target (file identity + offset: survives rotation, truncation, partial last lines, garbage lines).
  New failures of the target's database → one ``heal_scan`` run per target per tick, however many
  errors (tags ``heal/failed_queries=N``, ``heal/first_sqlstate``, ``heal/sqlstates``). The run's
  ``failed_queries`` asset ingests the failures into ``heal.failed_queries`` with its own cursor in
  the store (written atomically with the rows), so the sensor itself writes nothing: it only decides
  *when* to scan. A scan of the target already waiting in the queue (from any trigger) absorbs new
  failures (no second request). The first tick for a log starts at its end (history is the asset's job).
* ``code_change_sensor`` — content hashes of the source roots (``.py``/``.sql``/JS/TS under
  ``source_dirs`` + ``migrations_dirs``); a cheap ``(mtime, size)`` pre-check, then only changed
  candidates are hashed. Cursor: the per-target digest of ``{path: sha1}``. A touch is not a change.
* ``heal_fleet_sync`` — keeps the ``target_db`` dynamic partitions equal to the configured targets
  (``dynamic_partitions_requests``: added and removed).
* ``heal_run_failure_alert`` — any failed run of this code location: logged, and POSTed to
  ``HEAL_WEBHOOK_URL`` when set (:mod:`heal_pipeline.notify`).
* ``heal_new_critical_issues`` — open critical rows of ``heal.issues`` whose ``first_seen`` is after
  the cursor (per target, read from each target's store): logged and POSTed likewise.

Everything starts RUNNING when the code location is first loaded (``heal dev`` shows it working at
once); stop any of them in the UI (Automation tab) or with ``dagster schedule|sensor stop``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import dagster as dg
from psycopg import sql as psql

from ..config import Settings, database_name
from ..errors import HealError, first_line
from ..targets import TargetSpec, target_specs
from .constants import TAG_TARGET_DB, target_db_partitions

SCAN_JOB = "heal_scan"
APPLY_JOB = "heal_apply"
AUTO_APPLY_SENSOR = "heal_auto_apply_after_scan"

TAG_TRIGGER = "heal/trigger"
TAG_AUTO_APPLY = "heal/auto_apply"
TAG_FAILED = "heal/failed_queries"
TAG_FIRST_SQLSTATE = "heal/first_sqlstate"
TAG_SQLSTATES = "heal/sqlstates"
TAG_CHANGED = "heal/changed_files"
TAG_CHANGED_SAMPLE = "heal/changed_sample"

SENSOR_INTERVAL_S = 30
#: per target per tick; a longer backlog is read by the next ticks
LOG_BYTES_PER_TICK = 16 * 1024 * 1024
CURSOR_VERSION = 1
RUNNING = dg.DefaultSensorStatus.RUNNING

Log = Callable[[str], None]


def _settings() -> Settings:
    return Settings.from_env()


def _load_cursor(raw: str | None) -> dict[str, Any]:
    """The sensor cursor as a dict; an unknown or broken cursor starts over (never crashes)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION or not isinstance(data.get("targets"), dict):
        return {}
    return data["targets"]


def _dump_cursor(targets: dict[str, Any]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "targets": targets}, sort_keys=True, separators=(",", ":"))


def _missing_partitions(instance: dg.DagsterInstance, names: list[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(target_db_partitions.name))
    return [n for n in names if n not in existing]


def _add_requests(instance: dg.DagsterInstance, names: list[str]) -> list:
    missing = _missing_partitions(instance, names)
    return [target_db_partitions.build_add_request(missing)] if missing else []


def _short(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ==========================================================================================
# the schedule
# ==========================================================================================

def auto_apply_enabled(spec: TargetSpec) -> tuple[bool, str | None]:
    """Whether the target's policy lets scheduled runs apply fixes (not dry-run, some
    ``auto_apply_tiers``). A broken policy file never enables anything: (False, its error)."""
    if spec.policy is None:
        return False, None
    from ..apply.policy import load_policy  # noqa: PLC0415

    try:
        policy = load_policy(spec.policy)
    except HealError as exc:
        return False, str(exc)
    return (not policy.dry_run and bool(policy.auto_apply_tiers)), None


def schedule_requests(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    specs = target_specs(_settings())
    if not specs:
        return dg.SkipReason("no target database configured (set HEAL_DATABASE_URL or HEAL_FLEET)")
    names = list(specs)
    instance = context.instance
    missing = _missing_partitions(instance, names)
    if missing:
        # a schedule cannot return dynamic_partitions_requests: register before requesting
        # (heal_fleet_sync also removes the partitions of targets that left the fleet)
        instance.add_dynamic_partitions(target_db_partitions.name, missing)
        context.log.info(f"registered target partition(s): {', '.join(missing)}")
    when = context.scheduled_execution_time or datetime.now(timezone.utc)
    stamp = when.isoformat()
    try:
        repo = context.repository_def
        apply_wired = repo.has_job(APPLY_JOB) and repo.has_sensor_def(AUTO_APPLY_SENSOR)
    except dg.DagsterInvariantViolationError:  # evaluated without a code location (tests)
        apply_wired = False
    requests = []
    for name, spec in specs.items():
        auto, policy_error = auto_apply_enabled(spec)
        tags = {TAG_TARGET_DB: name, TAG_TRIGGER: "schedule", TAG_AUTO_APPLY: "true" if auto else "false"}
        if policy_error:
            tags["heal/policy_error"] = _short(policy_error)
            context.log.warning(f"{name}: policy not usable, nothing will be auto-applied: {policy_error}")
        elif auto and apply_wired:
            context.log.info(f"{name}: the policy enables auto-apply: {APPLY_JOB} follows a successful scan")
        elif auto:
            context.log.warning(f"{name}: the policy enables auto-apply, but this code location has no "
                                f"{APPLY_JOB} job with the {AUTO_APPLY_SENSOR} sensor: only the scan runs")
        requests.append(dg.RunRequest(run_key=f"{name}:{stamp}", partition_key=name, tags=tags))
    return requests


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job_name=SCAN_JOB,
    name="heal_every_five_minutes",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every five minutes: one heal_scan run per target database (partition). Scans never "
                "apply; a target whose policy enables auto-apply gets heal_apply after its scan.",
)
def heal_every_five_minutes(context: dg.ScheduleEvaluationContext):
    return schedule_requests(context)


def auto_apply_sensor(apply_job, *, scan_job_name: str = SCAN_JOB) -> dg.SensorDefinition:
    """The auto-apply hook: after a successful scheduled scan tagged ``heal/auto_apply=true``,
    request ``apply_job`` for the same partition. Add it in ``definitions.py`` next to the apply job:
    ``sensors=[*SENSORS, auto_apply_sensor(heal_apply)]``."""

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=AUTO_APPLY_SENSOR,
        request_job=apply_job,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=RUNNING,
        description=f"After a successful scheduled {scan_job_name} run whose target policy enables "
                    "auto-apply, request the apply job for that target (policy gates every fix).",
    )
    def heal_auto_apply_after_scan(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if run.job_name != scan_job_name:
            return dg.SkipReason(f"{run.job_name} is not {scan_job_name}")
        if run.tags.get(TAG_AUTO_APPLY) != "true":
            return dg.SkipReason(f"run {run.run_id[:8]} was not marked for auto-apply")
        target = run.tags.get(TAG_TARGET_DB) or run.tags.get("dagster/partition")
        if not target:
            return dg.SkipReason(f"run {run.run_id[:8]} has no target partition")
        return dg.RunRequest(run_key=f"apply:{run.run_id}", partition_key=target,
                             tags={TAG_TARGET_DB: target, TAG_TRIGGER: "auto_apply",
                                   "heal/scan_run_id": run.run_id})

    return heal_auto_apply_after_scan


# ==========================================================================================
# failed-query log sensor
# ==========================================================================================

def _log_database(spec: TargetSpec, env: dict[str, str]) -> str | None:
    if spec.log_database:
        return spec.log_database
    dsn = env.get(spec.dsn_env)
    if not dsn:
        return None
    try:
        return database_name(dsn)
    except Exception:  # noqa: BLE001  (an unparseable DSN: the run reports it)
        return None


def _pending_scan(instance: dg.DagsterInstance, target: str) -> str | None:
    """A scan of ``target`` that has not started yet (queued behind the per-database limit, say):
    it reads the log when it runs, so it will see the new failures too."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=SCAN_JOB, tags={TAG_TARGET_DB: target},
                              statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]),
        limit=1)
    return records[0].dagster_run.run_id if records else None


def _tick_result(instance: dg.DagsterInstance, new_state: dict[str, Any], specs: dict, watched: int,
                 requests: list[dg.RunRequest], notes: list[str], nothing_watched: str) -> dg.SensorResult:
    """The end of a per-target sensor tick: skip with the reason, or the run requests (+ partitions)."""
    new_cursor = _dump_cursor(new_state)
    if watched == 0:
        reason = nothing_watched if specs else "no target database configured (set HEAL_DATABASE_URL or HEAL_FLEET)"
        return dg.SensorResult(skip_reason=reason, cursor=new_cursor)
    if not requests:
        return dg.SensorResult(skip_reason=_short("; ".join(notes), 1000), cursor=new_cursor)
    names = [r.partition_key for r in requests if r.partition_key]
    return dg.SensorResult(run_requests=requests, cursor=new_cursor,
                           dynamic_partitions_requests=_add_requests(instance, names))


def evaluate_failed_query_log(cursor: str | None, instance: dg.DagsterInstance, *,
                              settings: Settings | None = None, log: Log | None = None,
                              max_bytes: int = LOG_BYTES_PER_TICK) -> dg.SensorResult:
    """One tick of ``failed_query_log_sensor`` (plain arguments, so tests and benches call it)."""
    from ..logs import LogUnreadable, group_failed, read_new  # noqa: PLC0415

    say = log or (lambda _m: None)
    settings = settings or _settings()
    env = settings.env or dict(os.environ)
    specs = target_specs(settings)
    state = _load_cursor(cursor)
    new_state: dict[str, Any] = {}
    notes: list[str] = []
    requests: list[dg.RunRequest] = []
    reads: dict[tuple[str, str, str], Any] = {}  # one read per (log, cursor) even if targets share it
    watched = 0
    for name, spec in specs.items():
        if spec.query_log is None:
            continue
        watched += 1
        path = str(spec.query_log)
        prev = state.get(name)
        known = isinstance(prev, dict) and prev.get("log") == path and isinstance(prev.get("cursor"), dict)
        tail_cursor = prev["cursor"] if known else None
        runs = int(prev.get("runs", 0)) if known else 0
        start = "beginning" if known else "end"
        db = _log_database(spec, env)
        if db is None:
            notes.append(f"{name}: {spec.dsn_env} is not set and no log_database is configured: "
                         "cannot tell its records apart")
            if known:
                new_state[name] = prev
            continue
        key = (path, json.dumps(tail_cursor, sort_keys=True), start)
        try:
            res = reads.get(key)
            if res is None:
                res = reads[key] = read_new(path, tail_cursor, start=start, max_bytes=max_bytes,
                                            keys=dict(spec.query_log_keys) or None, durations=False)
        except LogUnreadable as exc:
            notes.append(f"{name}: {exc}")
            say(f"failed_query_log_sensor: {name}: {exc}")
            if known:
                new_state[name] = prev
            continue
        new_state[name] = {"log": path, "cursor": res.cursor, "runs": runs}
        extra = []
        if res.rotated:
            extra.append("rotated")
        if res.truncated:
            extra.append("truncated")
        if res.garbage:
            extra.append(f"{res.garbage} garbage line(s) skipped")
        if res.unrecognised:
            extra.append(f"{res.unrecognised} unrecognised line(s) (HEAL_QUERY_LOG_KEYS)")
        if res.more:
            extra.append("more to read next tick")
        if res.reason:
            extra.append(res.reason)
        if not known:
            notes.append(f"{name}: watching {path} from offset {res.cursor.get('offset', 0)}"
                         + (f" ({'; '.join(extra)})" if extra else ""))
            continue
        records = [r for r in res.records if r.is_failure and (r.database is None or r.database == db)]
        if not records:
            notes.append(f"{name}: no new failed queries (offset {res.cursor.get('offset', 0)}"
                         + (f"; {'; '.join(extra)}" if extra else "") + ")")
            continue
        groups = group_failed(records, source=path)
        by_state = Counter(r.sqlstate for r in records)
        pending = _pending_scan(instance, name)
        if pending is not None:
            notes.append(f"{name}: {len(records)} new failed quer(ies); scan run {pending[:8]} is already "
                         "queued and will read them")
            continue
        runs += 1
        new_state[name]["runs"] = runs
        tags = {
            TAG_TARGET_DB: name, TAG_TRIGGER: "failed_query_log",
            TAG_FAILED: str(len(records)), "heal/failed_groups": str(len(groups)),
            TAG_FIRST_SQLSTATE: str(records[0].sqlstate),
            TAG_SQLSTATES: _short(",".join(f"{k}={v}" for k, v in by_state.most_common())),
        }
        run_key = f"failed_queries:{name}:{runs}@{res.cursor.get('offset', 0)}"
        requests.append(dg.RunRequest(run_key=run_key, partition_key=name, tags=tags))
        msg = (f"{name}: {len(records)} new failed quer(ies) in {len(groups)} group(s) "
               f"({tags[TAG_SQLSTATES]}) → {SCAN_JOB}" + (f" [{'; '.join(extra)}]" if extra else ""))
        notes.append(msg)
        say(f"failed_query_log_sensor: {msg}")
    # targets that left the configuration drop out of the cursor
    return _tick_result(instance, new_state, specs, watched, requests, notes,
                        "no target has a query log configured (HEAL_QUERY_LOG, or query_log in the fleet file)")


@dg.sensor(
    job_name=SCAN_JOB,
    name="failed_query_log_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=RUNNING,
    description="Tails each target's PostgreSQL jsonlog/csvlog (HEAL_QUERY_LOG) from a rotation-safe "
                "cursor; new failed queries of the target's database request one heal_scan run "
                "(tags heal/failed_queries, heal/first_sqlstate).",
)
def failed_query_log_sensor(context: dg.SensorEvaluationContext):
    return evaluate_failed_query_log(context.cursor, context.instance, log=context.log.info)


# ==========================================================================================
# code-change sensor
# ==========================================================================================

WATCHED_SUFFIXES = (".py", ".sql", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
#: files modified this recently are re-hashed next tick too (mtime granularity: "racy" entries)
RACY_S = 2.0


def _exclude() -> tuple[str, ...]:
    try:
        from ..codescan.scanner import DEFAULT_EXCLUDE  # noqa: PLC0415

        return tuple(DEFAULT_EXCLUDE)
    except ImportError:  # pragma: no cover
        return (".venv", "venv", "site-packages", "node_modules", ".git", "__pycache__")


class CodeWatcher:
    """Content hashes of source trees with an ``(mtime_ns, size)`` pre-check.

    ``files`` caches ``path -> (mtime_ns, size, sha1)``; a file whose stat is unchanged is not read.
    ``last`` keeps each target's last ``{path: sha1}`` (to name the changed files). Both are kept in
    memory (the code server is long-lived) and in ``$HEAL_HOME/cache/code_watch.json`` (restarts).
    """

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, int, str]] = {}
        self.last: dict[str, dict[str, str]] = {}
        self.loaded_from: Path | None = None
        self.lock = threading.Lock()
        self.hashed = 0  # files read by the last scan (for tests and benches)
        self.stat_calls = 0

    def load(self, path: Path) -> None:
        if self.loaded_from == path:
            return
        self.loaded_from = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.files = {k: (int(v[0]), int(v[1]), str(v[2])) for k, v in data.get("files", {}).items()}
            self.last = {k: dict(v) for k, v in data.get("last", {}).items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            self.files, self.last = {}, {}

    def save(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"files": self.files, "last": self.last}, separators=(",", ":")),
                           encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # an optimisation only: the next process hashes everything once

    def walk(self, roots: list[Path]) -> list[tuple[str, os.stat_result]]:
        exclude = set(_exclude())
        out: list[tuple[str, os.stat_result]] = []
        seen: set[str] = set()
        for root in roots:
            root = Path(root)
            if root.is_file():
                try:
                    out.append((str(root.absolute()), root.stat()))
                except OSError:
                    pass
                continue
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if d not in exclude and not d.startswith("."))
                for fn in filenames:
                    if not fn.endswith(WATCHED_SUFFIXES):
                        continue
                    p = os.path.join(os.path.abspath(dirpath), fn)
                    if p in seen:
                        continue
                    seen.add(p)
                    try:
                        st = os.stat(p)
                    except OSError:
                        continue
                    self.stat_calls += 1
                    out.append((p, st))
        return out

    def snapshot(self, roots: list[Path]) -> dict[str, str]:
        """``{path: sha1}`` of every watched file under ``roots``; reads only changed candidates."""
        now = time.time()
        result: dict[str, str] = {}
        self.hashed = 0
        for p, st in self.walk(roots):
            cached = self.files.get(p)
            if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
                result[p] = cached[2]
                continue
            try:
                with open(p, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha1").hexdigest()
            except OSError:
                continue
            self.hashed += 1
            result[p] = digest
            if now - st.st_mtime_ns / 1e9 > RACY_S:
                self.files[p] = (st.st_mtime_ns, st.st_size, digest)
            else:
                self.files.pop(p, None)  # too fresh to trust (mtime, size) next time
        return result


def tree_digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
        h.update(files[path].encode())
        h.update(b"\n")
    return h.hexdigest()


def changed_files(before: dict[str, str] | None, after: dict[str, str]) -> list[str] | None:
    if before is None:
        return None
    out = [p for p, h in after.items() if before.get(p) != h]
    out += [p for p in before if p not in after]
    return sorted(out)


_WATCHER = CodeWatcher()


def _rel(path: str, roots: list[Path]) -> str:
    for r in roots:
        base = str(Path(r).absolute())
        if path.startswith(base + os.sep):
            return path[len(base) + 1:]
    return path


def evaluate_code_change(cursor: str | None, instance: dg.DagsterInstance, *,
                         settings: Settings | None = None, log: Log | None = None,
                         watcher: CodeWatcher | None = None) -> dg.SensorResult:
    """One tick of ``code_change_sensor``."""
    say = log or (lambda _m: None)
    settings = settings or _settings()
    watcher = watcher or _WATCHER
    specs = target_specs(settings)
    state = _load_cursor(cursor)
    new_state: dict[str, Any] = {}
    notes: list[str] = []
    requests: list[dg.RunRequest] = []
    cache_file = settings.home.absolute() / "cache" / "code_watch.json"
    watched = 0
    with watcher.lock:
        watcher.load(cache_file)
        for name, spec in specs.items():
            roots = [*spec.source_dirs, *spec.migrations_dirs]
            if not roots:
                continue
            watched += 1
            existing = [r for r in roots if Path(r).exists()]
            files = watcher.snapshot(existing)
            digest = tree_digest(files)
            prev = state.get(name) if isinstance(state.get(name), dict) else None
            runs = int(prev.get("runs", 0)) if prev else 0
            new_state[name] = {"digest": digest, "runs": runs, "files": len(files)}
            before = watcher.last.get(name)
            watcher.last[name] = files
            if prev is None:
                notes.append(f"{name}: watching {len(files)} file(s) under {len(existing)} root(s)")
                continue
            if prev.get("digest") == digest:
                notes.append(f"{name}: no change in {len(files)} file(s) ({watcher.hashed} re-hashed)")
                continue
            changed = changed_files(before, files)
            runs += 1
            new_state[name]["runs"] = runs
            sample = ", ".join(_rel(p, existing) for p in (changed or [])[:5])
            tags = {TAG_TARGET_DB: name, TAG_TRIGGER: "code_change",
                    TAG_CHANGED: "?" if changed is None else str(len(changed))}
            if sample:
                tags[TAG_CHANGED_SAMPLE] = _short(sample)
            requests.append(dg.RunRequest(run_key=f"code_change:{name}:{runs}:{digest[:16]}",
                                          partition_key=name, tags=tags))
            msg = (f"{name}: {'some' if changed is None else len(changed)} file(s) changed"
                   f"{': ' + sample if sample else ''} → {SCAN_JOB}")
            notes.append(msg)
            say(f"code_change_sensor: {msg}")
        for gone in [n for n in watcher.last if n not in specs]:
            del watcher.last[gone]
        watcher.save(cache_file)
    return _tick_result(instance, new_state, specs, watched, requests, notes,
                        "no target has source roots configured (HEAL_SOURCE_DIRS, or source_dirs in the fleet file)")


@dg.sensor(
    job_name=SCAN_JOB,
    name="code_change_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=RUNNING,
    description="Content hashes of each target's source and migration roots ((mtime, size) pre-check, "
                "then sha1 of changed candidates); a changed digest requests heal_scan for that target.",
)
def code_change_sensor(context: dg.SensorEvaluationContext):
    return evaluate_code_change(context.cursor, context.instance, log=context.log.info)


# ==========================================================================================
# partitions = configured targets
# ==========================================================================================

def evaluate_fleet_sync(instance: dg.DagsterInstance, *, settings: Settings | None = None) -> dg.SensorResult:
    specs = target_specs(settings or _settings())
    if not specs:
        return dg.SensorResult(skip_reason="no target database configured: partitions are left as they are")
    existing = instance.get_dynamic_partitions(target_db_partitions.name)
    add = [n for n in specs if n not in set(existing)]
    remove = [n for n in existing if n not in specs]
    reqs: list = []
    if add:
        reqs.append(target_db_partitions.build_add_request(add))
    if remove:
        reqs.append(target_db_partitions.build_delete_request(remove))
    if not reqs:
        return dg.SensorResult(skip_reason=f"partitions in sync: {', '.join(sorted(specs))}")
    return dg.SensorResult(dynamic_partitions_requests=reqs)


@dg.sensor(
    name="heal_fleet_sync",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=RUNNING,
    description="Keeps the target_db partitions equal to the configured targets (HEAL_FLEET or "
                "HEAL_DATABASE_URL): adds new ones, removes the ones that left the fleet file.",
)
def heal_fleet_sync(context: dg.SensorEvaluationContext):
    result = evaluate_fleet_sync(context.instance)
    for req in result.dynamic_partitions_requests or []:
        verb = "adding" if isinstance(req, dg.AddDynamicPartitionsRequest) else "removing"
        context.log.info(f"heal_fleet_sync: {verb} target partition(s) {', '.join(req.partition_keys)}")
    return result


# ==========================================================================================
# notifications
# ==========================================================================================

@dg.run_failure_sensor(
    name="heal_run_failure_alert",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=RUNNING,
    description="Logs every failed run of this code location and POSTs it to HEAL_WEBHOOK_URL when set.",
)
def heal_run_failure_alert(context: dg.RunFailureSensorContext):
    from .. import notify  # noqa: PLC0415

    run = context.dagster_run
    steps = []
    try:
        steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    except Exception:  # noqa: BLE001  (no event log access in some contexts: the message suffices)
        pass
    payload = notify.run_failure_payload(run_id=run.run_id, job_name=run.job_name, tags=dict(run.tags),
                                         message=context.failure_event.message, failed_steps=steps)
    context.log.error(payload["text"])
    delivery = notify.send(payload)
    if delivery is not None:
        (context.log.info if delivery.sent else context.log.error)(f"heal_run_failure_alert: {delivery.describe()}")


_ISSUE_COLUMNS = ("fingerprint", "issue_type", "schema_name", "table_name", "column_name", "object_name",
                  "file", "line", "detail", "first_seen")


def _issue_object(row: dict[str, Any]) -> str:
    if row.get("file"):
        return f"{row['file']}:{row.get('line') or ''}"
    parts = [row.get("schema_name"), row.get("table_name"), row.get("column_name")]
    obj = ".".join(p for p in parts if p)
    if row.get("object_name"):
        obj = f"{obj} ({row['object_name']})" if obj else row["object_name"]
    return obj


def evaluate_critical_issues(cursor: str | None, *, settings: Settings | None = None,
                             log: Log | None = None, warn: Log | None = None,
                             send: Callable[[dict], Any] | None = None) -> dg.SensorResult:
    """One tick of ``heal_new_critical_issues``: per target, open critical issues first seen after
    the cursor (``{"ts": <first_seen text>, "fps": [fingerprints at ts]}``). The first tick of a
    target only records where "now" is. A webhook that fails keeps that target's cursor (retried)."""
    import psycopg  # noqa: PLC0415

    from .. import notify  # noqa: PLC0415
    from ..db import connect  # noqa: PLC0415

    say = log or (lambda _m: None)
    warn = warn or say
    send = send or notify.send
    settings = settings or _settings()
    env = settings.env or dict(os.environ)
    specs = target_specs(settings)
    state = _load_cursor(cursor)
    new_state: dict[str, Any] = {}
    notes: list[str] = []
    by_store: dict[str, list[str]] = {}
    for name, spec in specs.items():
        try:
            store = spec.resolve(env).store_dsn
        except HealError as exc:
            notes.append(f"{name}: {exc}")
            if name in state:
                new_state[name] = state[name]
            continue
        by_store.setdefault(store, []).append(name)
    notified = 0
    for store, names in by_store.items():
        try:
            conn = connect(store, purpose="heal store", connect_timeout=5)
        except HealError as exc:
            notes.append(f"{', '.join(names)}: {exc}")
            new_state.update({n: state[n] for n in names if n in state})
            continue
        with conn:
            if conn.execute("SELECT to_regclass('heal.issues')").fetchone()[0] is None:
                notes.append(f"{', '.join(names)}: no heal store yet")
                continue
            for name in names:
                prev = state.get(name)
                try:
                    if not (isinstance(prev, dict) and isinstance(prev.get("ts"), str)):
                        row = conn.execute(
                            "SELECT coalesce(max(first_seen), now())::text FROM heal.issues"
                            " WHERE target_db = %s AND severity = 'critical'", (name,)).fetchone()
                        ts = row[0]
                        fps = [r[0] for r in conn.execute(
                            "SELECT fingerprint FROM heal.issues WHERE target_db = %s AND severity = 'critical'"
                            " AND first_seen = %s::timestamptz", (name, ts)).fetchall()]
                        new_state[name] = {"ts": ts, "fps": fps}
                        notes.append(f"{name}: watching for critical issues first seen after {ts}")
                        continue
                    cur = conn.execute(
                        psql.SQL("SELECT {}, i.first_seen::text FROM heal.issues i"
                                 " WHERE i.target_db = %s AND i.severity = 'critical' AND i.status = 'open'"
                                 " AND i.first_seen >= %s::timestamptz AND NOT (i.fingerprint = ANY(%s))"
                                 " ORDER BY i.first_seen, i.fingerprint LIMIT 200").format(
                            psql.SQL(", ").join(psql.Identifier("i", c) for c in _ISSUE_COLUMNS)),
                        (name, prev["ts"], list(prev.get("fps") or [])))
                    rows = cur.fetchall()
                except psycopg.Error as exc:
                    notes.append(f"{name}: cannot read heal.issues: {first_line(exc)}")
                    new_state[name] = prev if isinstance(prev, dict) else {}
                    continue
                if not rows:
                    new_state[name] = prev
                    notes.append(f"{name}: no new critical issue")
                    continue
                issues = []
                for r in rows:
                    d = dict(zip(_ISSUE_COLUMNS, r[:-1]))
                    d["first_seen"] = r[-1]
                    d["object"] = _issue_object(d)
                    issues.append(d)
                last_ts = issues[-1]["first_seen"]
                fps = [i["fingerprint"] for i in issues if i["first_seen"] == last_ts]
                if last_ts == prev["ts"]:
                    fps = list(prev.get("fps") or []) + fps
                for i in issues:
                    warn(f"heal_new_critical_issues: {name}: new critical {i['issue_type']} on {i['object']}: "
                         f"{_short(str(i['detail']), 200)} [{i['fingerprint']}]")
                delivery = send(notify.critical_issues_payload(name, issues))
                if delivery is not None and not delivery.sent:
                    notes.append(f"{name}: {len(issues)} new critical issue(s); {delivery.describe()} "
                                 "(retried next tick)")
                    warn(f"heal_new_critical_issues: {delivery.describe()}")
                    new_state[name] = prev
                    continue
                notified += len(issues)
                new_state[name] = {"ts": last_ts, "fps": fps}
                notes.append(f"{name}: {len(issues)} new critical issue(s)"
                             + (f"; {delivery.describe()}" if delivery is not None else ""))
    new_cursor = _dump_cursor(new_state)
    if not specs:
        return dg.SensorResult(skip_reason="no target database configured", cursor=new_cursor)
    return dg.SensorResult(skip_reason=_short("; ".join(notes) or "nothing to report", 1000), cursor=new_cursor)


@dg.sensor(
    name="heal_new_critical_issues",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=RUNNING,
    description="Open critical issues first seen since the last tick (heal.issues of each target's "
                "store): logged, and POSTed to HEAL_WEBHOOK_URL when set.",
)
def heal_new_critical_issues(context: dg.SensorEvaluationContext):
    return evaluate_critical_issues(context.cursor, log=context.log.info, warn=context.log.warning)


SCHEDULES: list[dg.ScheduleDefinition] = [heal_every_five_minutes]
SENSORS: list[dg.SensorDefinition] = [failed_query_log_sensor, code_change_sensor, heal_fleet_sync,
                                      heal_run_failure_alert, heal_new_critical_issues]
