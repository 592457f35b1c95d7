"""Target databases: one from the environment (``HEAL_DATABASE_URL``), or several from a fleet file.

A target is identified by a short name, which is also its Dagster partition key and the
``target_db`` column of every heal table. Plain Python, no Dagster.

The fleet file (``HEAL_FLEET``; TOML, or YAML with a ``.yaml``/``.yml`` suffix, or JSON) lists the
targets. It never holds a connection string: each target names the *environment variable* that
holds its DSN, so the file can be committed and the secrets stay in the environment::

    [defaults]                       # optional; every key of a target except name and dsn_env
    observation_window = "7d"
    policy = "policies/default.toml"

    [[targets]]
    name = "shop"                    # partition key and target_db; [A-Za-z0-9_.-]{1,63}
    dsn_env = "SHOP_DATABASE_URL"    # required: the variable holding the DSN
    # path = "data/shop.db"          # instead of dsn_env: a SQLite file (heal_pipeline.sqlite)
    store_env = "HEAL_STORE_URL"     # optional: where heal.* lives (default HEAL_STORE_URL, else the target)
    source_dirs = ["/src/shop"]      # optional: application source roots (a string or a list)
    migrations_dirs = ["/src/shop/migrations"]
    query_log = "/var/log/postgresql/postgresql.json"   # optional: jsonlog/csvlog to tail
    log_database = "shop"            # optional: the database name in that log (default: the DSN's)
    query_log_keys = { sqlstate = "pg.code", statement = "sql" }   # optional: keys of an app JSON log
                                     # (or "sqlstate=pg.code,statement=sql"; default HEAL_QUERY_LOG_KEYS)
    policy = "policies/shop.toml"    # optional: fix policy (default HEAL_POLICY)
    observation_window = "14d"       # optional (default HEAL_OBSERVATION_WINDOW, else 7d)

Relative paths are relative to the fleet file. Every problem is one :class:`ConfigError` line naming
the file, the target and the key. :func:`target_specs` reads the file without touching the
environment's secrets (what the schedule needs to fan out); :func:`resolve_target` resolves the DSN
of one target only, so one unset variable does not stop the other targets.
"""

from __future__ import annotations

import json
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings, database_name, is_sqlite_url, parse_duration, validate_dsn
from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# values that look like a connection string (URL or libpq key=value with a host/password)
_DSN_LIKE = re.compile(r"^\s*[a-z][a-z0-9+.-]*://|\b(password|host|hostaddr|dbname|user)\s*=\s*\S",
                       re.IGNORECASE)

DEFAULT_WINDOW_S = 7 * 86400.0

#: keys of a target entry (and of [defaults], except name/dsn_env)
FLEET_KEYS = ("name", "dsn_env", "path", "store_env", "source_dirs", "migrations_dirs", "query_log",
              "log_database", "policy", "observation_window", "query_log_keys")
#: keys that would hold a literal connection string or secret: always rejected
LITERAL_KEYS = ("dsn", "url", "uri", "database_url", "store_url", "store_dsn", "conninfo",
                "connection_string", "password")


@dataclass(frozen=True)
class Target:
    name: str
    dsn: str
    store_dsn: str
    source_dirs: tuple[Path, ...] = ()
    migrations_dirs: tuple[Path, ...] = ()
    query_log: Path | None = None
    policy: Path | None = None
    observation_window_s: float = 7 * 86400
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    # the environment variable the DSN came from (for messages; never the DSN itself)
    dsn_env: str | None = None
    # the database name the server log uses for this target (default: the DSN's database)
    log_database: str | None = None
    # key mapping of an application JSON log, as (field, key) pairs (heal_pipeline/logs/applog.py)
    query_log_keys: tuple[tuple[str, str], ...] = ()

    @property
    def log_keys(self) -> dict[str, str] | None:
        return dict(self.query_log_keys) or None

    @property
    def database(self) -> str:
        """The database name records of this target carry in the server log."""
        return self.log_database or database_name(self.dsn)


@dataclass(frozen=True)
class TargetSpec:
    """A configured target before its secrets are read: everything but the DSNs."""

    name: str
    dsn_env: str
    store_env: str | None = None
    source_dirs: tuple[Path, ...] = ()
    migrations_dirs: tuple[Path, ...] = ()
    query_log: Path | None = None
    log_database: str | None = None
    policy: Path | None = None
    observation_window_s: float = DEFAULT_WINDOW_S
    origin: str = "environment"  # "fleet file /x/fleet.toml" or "environment"
    path: Path | None = None  # a SQLite file target (fleet key ``path``; no secret, so no dsn_env)
    query_log_keys: tuple[tuple[str, str], ...] = ()

    def resolve(self, env: dict[str, str] | os._Environ) -> Target:
        """The target with its DSN (and store DSN) read from the environment."""
        dsn = ("sqlite:///" + self.path.as_posix()) if self.path is not None else (env.get(self.dsn_env) or None)
        if dsn is None:
            where = f"{self.origin}: target {self.name!r}: " if self.origin != "environment" else ""
            raise ConfigError(f"{where}environment variable {self.dsn_env} is not set "
                              f"(it must hold the DSN of {self.name!r})")
        validate_dsn(dsn, name=self.dsn_env)
        if self.store_env:
            store = env.get(self.store_env) or None
            if store is None:
                raise ConfigError(f"{self.origin}: target {self.name!r}: environment variable "
                                  f"{self.store_env} (store_env) is not set")
            validate_dsn(store, name=self.store_env)
        else:
            store = env.get("HEAL_STORE_URL") or None
            if store is not None:
                validate_dsn(store, name="HEAL_STORE_URL")
        return Target(name=self.name, dsn=dsn, store_dsn=store or ("" if is_sqlite_url(dsn) else dsn),
                      source_dirs=self.source_dirs,
                      migrations_dirs=self.migrations_dirs, query_log=self.query_log, policy=self.policy,
                      observation_window_s=self.observation_window_s, dsn_env=self.dsn_env,
                      log_database=self.log_database, query_log_keys=self.query_log_keys)


def default_target_name(dsn: str) -> str:
    name = os.environ.get("HEAL_TARGET_NAME") or database_name(dsn)
    if not _NAME.match(name):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:63] or "target"
    return name


# ------------------------------------------------------------------------------------------
# the fleet file
# ------------------------------------------------------------------------------------------

_fleet_cache: dict[str, tuple[tuple[int, int], dict[str, TargetSpec]]] = {}
_fleet_lock = threading.Lock()


def load_fleet(path: str | os.PathLike, *, env: dict[str, str] | None = None) -> dict[str, TargetSpec]:
    """The targets of a fleet file, by name, in file order. Cached on (mtime, size): schedules and
    sensors call this every tick."""
    env = dict(os.environ if env is None else env)
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"fleet file {p} does not exist (HEAL_FLEET)") from None
    except OSError as exc:
        raise ConfigError(f"fleet file {p} cannot be read: {exc.strerror or exc}") from None
    # the defaults taken from the environment are part of the cache key
    key = str(p.absolute()) + "\0" + "\0".join(env.get(k, "") for k in (
        "HEAL_POLICY", "HEAL_OBSERVATION_WINDOW", "HEAL_QUERY_LOG_KEYS"))
    stamp = (st.st_mtime_ns, st.st_size)
    with _fleet_lock:
        hit = _fleet_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return dict(hit[1])
    specs = _parse_fleet(p, env)
    with _fleet_lock:
        _fleet_cache[key] = (stamp, specs)
    return dict(specs)


def _read_fleet(p: Path) -> Any:
    if p.is_dir():
        raise ConfigError(f"fleet file {p} is a directory, not a file (HEAL_FLEET)")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"fleet file {p} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"fleet file {p}: not UTF-8 text") from None
    suffix = p.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml  # noqa: PLC0415  (PyYAML: a dependency of dagster)

            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"fleet file {p}: invalid TOML: {str(exc).splitlines()[0]}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"fleet file {p}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001  (yaml.YAMLError and its subclasses)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"fleet file {p}: invalid YAML{where}: {problem}") from None


def _parse_fleet(p: Path, env: dict[str, str]) -> dict[str, TargetSpec]:
    data = _read_fleet(p)
    src = f"fleet file {p}"
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: the top level must be a table/mapping with a 'targets' list")
    unknown = sorted(set(data) - {"targets", "defaults"})
    if unknown:
        raise ConfigError(f"{src}: unknown top-level key {unknown[0]!r} (known: defaults, targets)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{src}: 'defaults' must be a table/mapping")
    _check_entry(defaults, src, "defaults", allowed=set(FLEET_KEYS) - {"name", "dsn_env", "path"})
    entries = data.get("targets")
    if entries is None:
        raise ConfigError(f"{src}: no targets (add [[targets]] entries with name and dsn_env)")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{src}: 'targets' must be a non-empty list of tables/mappings")
    base = p.absolute().parent
    env_policy = env.get("HEAL_POLICY") or None
    env_window = env.get("HEAL_OBSERVATION_WINDOW") or None
    specs: dict[str, TargetSpec] = {}
    for i, entry in enumerate(entries):
        label = f"targets[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{src}: {label} must be a table/mapping, got {type(entry).__name__}")
        name = entry.get("name")
        if isinstance(name, str):
            label = f"target {name!r}"
        _check_entry(entry, src, label, allowed=set(FLEET_KEYS))
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{src}: {label}: 'name' is required (a partition key, [A-Za-z0-9_.-], "
                              "at most 63 characters)")
        if not _NAME.match(name):
            raise ConfigError(f"{src}: {label}: name must match [A-Za-z0-9_.-] and be at most 63 "
                              "characters (it is the Dagster partition key)")
        if name in specs:
            raise ConfigError(f"{src}: target {name!r} is listed twice")
        merged = {**defaults, **entry}
        dsn_env = merged.get("dsn_env")
        sqlite_file = _path(entry.get("path"), base, src, label, "path")
        if sqlite_file is not None:
            if "dsn_env" in entry:
                raise ConfigError(f"{src}: {label}: give either 'path' (a SQLite file) or 'dsn_env', not both")
            dsn_env = ""
        elif not isinstance(dsn_env, str) or not dsn_env:
            raise ConfigError(f"{src}: {label}: 'dsn_env' is required: the name of the environment "
                              "variable holding its DSN")
        for key in ("dsn_env", "store_env"):
            v = merged.get(key)
            if v is None or (key == "dsn_env" and sqlite_file is not None):
                continue
            if not isinstance(v, str) or not _ENV_NAME.match(v):
                raise ConfigError(f"{src}: {label}: {key} must be an environment variable name "
                                  "such as SHOP_DATABASE_URL (letters, digits, underscores)")
        window = merged.get("observation_window", env_window)
        if window is None:
            window_s = DEFAULT_WINDOW_S
        elif isinstance(window, bool) or not isinstance(window, (str, int, float)):
            raise ConfigError(f"{src}: {label}: observation_window must be a duration such as \"7d\"")
        else:
            try:
                window_s = parse_duration(str(window), name="observation_window")
            except ConfigError as exc:
                raise ConfigError(f"{src}: {label}: {exc}") from None
        log_db = merged.get("log_database")
        if log_db is not None and (not isinstance(log_db, str) or not log_db):
            raise ConfigError(f"{src}: {label}: log_database must be a database name")
        policy = _path(merged.get("policy"), base, src, label, "policy")
        from .logs.applog import parse_key_mapping  # noqa: PLC0415

        try:
            log_keys = parse_key_mapping(merged.get("query_log_keys"), name="query_log_keys")
        except ConfigError as exc:
            raise ConfigError(f"{src}: {label}: {exc}") from None
        if log_keys is None:
            log_keys = parse_key_mapping(env.get("HEAL_QUERY_LOG_KEYS") or None)
        specs[name] = TargetSpec(
            name=name, dsn_env=dsn_env, store_env=merged.get("store_env"),
            source_dirs=_paths(merged.get("source_dirs"), base, src, label, "source_dirs"),
            migrations_dirs=_paths(merged.get("migrations_dirs"), base, src, label, "migrations_dirs"),
            query_log=_path(merged.get("query_log"), base, src, label, "query_log"),
            log_database=log_db,
            policy=policy if policy is not None else (Path(env_policy).expanduser() if env_policy else None),
            observation_window_s=window_s, origin=src, path=sqlite_file,
            query_log_keys=tuple(sorted((log_keys or {}).items())))
    return specs


def _check_entry(entry: dict, src: str, label: str, *, allowed: set[str]) -> None:
    for key, value in entry.items():
        if not isinstance(key, str):
            raise ConfigError(f"{src}: {label}: keys must be strings, got {key!r}")
        if key.lower() in LITERAL_KEYS:
            raise ConfigError(f"{src}: {label}: {key!r} is not allowed: the fleet file must not hold "
                              "connection strings or passwords; put the DSN in an environment "
                              "variable and name it with dsn_env")
        if key not in allowed:
            raise ConfigError(f"{src}: {label}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")
        for v in (value if isinstance(value, list) else [value]):
            if isinstance(v, str) and key not in ("source_dirs", "migrations_dirs", "query_log", "policy", "path") \
                    and _DSN_LIKE.search(v):
                raise ConfigError(f"{src}: {label}: {key} holds what looks like a connection string; "
                                  "the fleet file must not contain DSNs (name an environment variable "
                                  "with dsn_env instead)")


def _path(value: Any, base: Path, src: str, label: str, key: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{src}: {label}: {key} must be a path string")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _paths(value: Any, base: Path, src: str, label: str, key: str) -> tuple[Path, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(os.pathsep) if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{src}: {label}: {key} must be a path or a list of paths")
    return tuple(_path(v, base, src, label, key) for v in value)  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# the configured targets
# ------------------------------------------------------------------------------------------

def _env(settings: Settings) -> dict[str, str]:
    return settings.env or dict(os.environ)


def target_specs(settings: Settings | None = None) -> dict[str, TargetSpec]:
    """Every configured target, by name, without reading any DSN variable of a fleet file.
    Empty when nothing is configured (never a guess)."""
    settings = settings or Settings.from_env()
    env = _env(settings)
    if settings.fleet is not None:
        return load_fleet(settings.fleet, env=env)
    if settings.database_url is None:
        return {}
    dsn = validate_dsn(settings.database_url, name="HEAL_DATABASE_URL")
    name = default_target_name(dsn)
    return {name: TargetSpec(
        name=name, dsn_env="HEAL_DATABASE_URL",
        source_dirs=tuple(settings.source_dirs), migrations_dirs=tuple(settings.migrations_dirs),
        query_log=settings.query_log, policy=settings.policy,
        observation_window_s=settings.observation_window_s,
        query_log_keys=tuple(sorted((settings.query_log_keys or {}).items())))}


def targets_from_settings(settings: Settings) -> dict[str, Target]:
    """The targets heal knows about. Empty when nothing is configured (never a guess).

    With a fleet file every target's DSN variable must be set (a :class:`ConfigError` names the
    first that is not); use :func:`resolve_target` to resolve one target only."""
    if settings.fleet is None and settings.database_url is not None:
        # single target: the DSN is already in the settings (HealResource may override it)
        dsn = validate_dsn(settings.database_url, name="HEAL_DATABASE_URL")
        name = default_target_name(dsn)
        return {name: Target(
            name=name, dsn=dsn,
            store_dsn=settings.effective_store_url or ("" if is_sqlite_url(dsn) else dsn),
            source_dirs=tuple(settings.source_dirs), migrations_dirs=tuple(settings.migrations_dirs),
            query_log=settings.query_log, policy=settings.policy,
            observation_window_s=settings.observation_window_s, dsn_env="HEAL_DATABASE_URL",
            query_log_keys=tuple(sorted((settings.query_log_keys or {}).items())))}
    env = _env(settings)
    return {name: spec.resolve(env) for name, spec in target_specs(settings).items()}


def resolve_target(name: str, settings: Settings | None = None) -> Target:
    settings = settings or Settings.from_env()
    if settings.fleet is None:
        targets = targets_from_settings(settings)
        if not targets:
            raise ConfigError("no target database configured: set HEAL_DATABASE_URL or HEAL_FLEET "
                              "(or run `heal dev` for the demo estate)")
        if name not in targets:
            raise ConfigError(f"unknown target database {name!r}; configured: {', '.join(sorted(targets))}")
        return targets[name]
    specs = target_specs(settings)
    if name not in specs:
        raise ConfigError(f"unknown target database {name!r}; the fleet file {settings.fleet} lists: "
                          f"{', '.join(sorted(specs))}")
    return specs[name].resolve(_env(settings))
