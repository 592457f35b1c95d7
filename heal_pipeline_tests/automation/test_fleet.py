"""The fleet file (HEAL_FLEET): TOML/YAML targets, env-var DSNs only, one-line errors."""

from __future__ import annotations

import pytest

from heal_pipeline.config import Settings
from heal_pipeline.errors import ConfigError
from heal_pipeline.targets import load_fleet, resolve_target, target_specs, targets_from_settings

from .helpers import settings

FLEET_TOML = """
[defaults]
observation_window = "14d"
migrations_dirs = ["migrations"]

[[targets]]
name = "shop"
dsn_env = "SHOP_DATABASE_URL"
source_dirs = ["src/shop", "/abs/lib"]
query_log = "/var/log/postgresql/postgresql.json"
policy = "policies/shop.toml"

[[targets]]
name = "crm"
dsn_env = "CRM_DATABASE_URL"
store_env = "HEAL_STORE_CRM"
log_database = "crm_prod"
observation_window = "0"
"""


def _write(workdir, text, name="fleet.toml"):
    p = workdir / name
    p.write_text(text, encoding="utf-8")
    return p


def test_toml_fleet_with_defaults_and_relative_paths(workdir):
    fleet = _write(workdir, FLEET_TOML)
    specs = load_fleet(fleet, env={})
    assert list(specs) == ["shop", "crm"]
    shop, crm = specs["shop"], specs["crm"]
    assert shop.source_dirs == (workdir / "src/shop", workdir.joinpath("/abs/lib"))
    assert shop.migrations_dirs == (workdir / "migrations",) == crm.migrations_dirs
    assert shop.policy == workdir / "policies/shop.toml" and crm.policy is None
    assert shop.observation_window_s == 14 * 86400 and crm.observation_window_s == 0
    assert crm.log_database == "crm_prod" and crm.store_env == "HEAL_STORE_CRM"
    assert str(shop.query_log) == "/var/log/postgresql/postgresql.json"


def test_yaml_fleet_is_equivalent(workdir):
    fleet = _write(workdir, """
targets:
  - name: shop
    dsn_env: SHOP_DATABASE_URL
    source_dirs: src/shop
  - {name: crm, dsn_env: CRM_DATABASE_URL, observation_window: 2h}
""", "fleet.yaml")
    specs = load_fleet(fleet, env={"HEAL_POLICY": "/etc/heal/policy.toml"})
    assert specs["shop"].source_dirs == (workdir / "src/shop",)
    assert specs["crm"].observation_window_s == 7200
    assert str(specs["crm"].policy) == "/etc/heal/policy.toml"  # HEAL_POLICY is the default policy


def test_targets_resolve_dsns_from_the_named_variables_only(workdir):
    fleet = _write(workdir, FLEET_TOML)
    s = settings(HEAL_FLEET=str(fleet), SHOP_DATABASE_URL="postgresql://app@db1/shop",
                 CRM_DATABASE_URL="postgresql://app@db2/crm", HEAL_STORE_CRM="postgresql://heal@store/heal",
                 HEAL_DATABASE_URL="postgresql://ignored@x/y")
    targets = targets_from_settings(s)
    assert set(targets) == {"shop", "crm"}  # the fleet is the list; HEAL_DATABASE_URL is not a target
    assert targets["shop"].dsn == "postgresql://app@db1/shop" == targets["shop"].store_dsn
    assert targets["crm"].store_dsn == "postgresql://heal@store/heal"
    assert targets["crm"].database == "crm_prod" and targets["shop"].database == "shop"


def test_one_unset_variable_only_breaks_its_own_target(workdir):
    fleet = _write(workdir, FLEET_TOML)
    s = settings(HEAL_FLEET=str(fleet), SHOP_DATABASE_URL="postgresql://app@db1/shop")
    assert set(target_specs(s)) == {"shop", "crm"}  # the schedule needs no secrets
    assert resolve_target("shop", s).dsn.endswith("/shop")
    with pytest.raises(ConfigError) as err:
        resolve_target("crm", s)
    msg = str(err.value)
    assert "\n" not in msg and str(fleet) in msg and "CRM_DATABASE_URL is not set" in msg
    with pytest.raises(ConfigError, match="unknown target database 'nope'"):
        resolve_target("nope", s)


BAD = [
    ('[[targets]]\nname = "a"\ndsn = "postgresql://u:secret@h/db"\n', "'dsn' is not allowed"),
    ('[[targets]]\nname = "a"\ndsn_env = "postgresql://u:secret@h/db"\n', "looks like a connection string"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\npassword = "x"\n', "'password' is not allowed"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\nlog_database = "host=db password=x"\n',
     "looks like a connection string"),
    ('[[targets]]\nname = "a"\n', "'dsn_env' is required"),
    ('[[targets]]\ndsn_env = "A"\n', "'name' is required"),
    ('[[targets]]\nname = "a b"\ndsn_env = "A"\n', "name must match"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\n[[targets]]\nname = "a"\ndsn_env = "B"\n', "listed twice"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\nsource_dir = "x"\n', "unknown key 'source_dir'"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\nobservation_window = "soon"\n', "not a duration"),
    ('[[targets]]\nname = "a"\ndsn_env = "A"\nsource_dirs = [1]\n', "source_dirs must be a path"),
    ('[[targets]]\nname = "a"\ndsn_env = "my var"\n', "dsn_env must be an environment variable name"),
    ('name = "a"\n', "unknown top-level key 'name'"),
    ('[defaults]\nname = "x"\n', "unknown key 'name'"),
    ('[defaults]\ndsn = "postgresql://x@y/z"\n', "'dsn' is not allowed"),
    ("targets = []\n", "non-empty list"),
    ("", "no targets"),
    ('[[targets]\nname = "a"', "invalid TOML"),
]


@pytest.mark.parametrize("text,expected", BAD, ids=[e for _t, e in BAD])
def test_bad_fleet_files_are_one_line_errors_naming_the_file(workdir, text, expected):
    fleet = _write(workdir, text)
    with pytest.raises(ConfigError) as err:
        load_fleet(fleet, env={})
    msg = str(err.value)
    assert expected in msg and str(fleet) in msg and "\n" not in msg
    assert "secret" not in msg and "password=x" not in msg  # never echo a credential


def test_bad_yaml_and_missing_file(workdir):
    fleet = _write(workdir, "targets:\n  - name: a\n   dsn_env: [\n", "fleet.yml")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d"):
        load_fleet(fleet, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_fleet(workdir / "nope.toml", env={})
    with pytest.raises(ConfigError, match="HEAL_FLEET"):
        targets_from_settings(Settings.from_env({"HEAL_FLEET": str(workdir / "nope.toml")}))


def test_edits_are_seen_without_a_restart(workdir):
    fleet = _write(workdir, '[[targets]]\nname = "a"\ndsn_env = "A"\n')
    assert list(load_fleet(fleet, env={})) == ["a"]
    fleet.write_text('[[targets]]\nname = "a"\ndsn_env = "A"\n\n[[targets]]\nname = "bb"\ndsn_env = "B"\n')
    assert list(load_fleet(fleet, env={})) == ["a", "bb"]


def test_single_target_mode_is_unchanged():
    s = settings(HEAL_DATABASE_URL="postgresql://app@db/shop", HEAL_QUERY_LOG="/x.json")
    (name, target), = targets_from_settings(s).items()
    assert name == "shop" and target.dsn_env == "HEAL_DATABASE_URL" and str(target.query_log) == "/x.json"
    assert list(target_specs(s)) == ["shop"]
    assert targets_from_settings(settings()) == {} == target_specs(settings())


def test_a_run_resolves_its_fleet_target_from_the_partition(make_db, workdir, monkeypatch):
    """schema_snapshot for partition 'b' of a 2-database fleet snapshots database b, stores under 'b'."""
    import dagster as dg
    import psycopg

    from heal_pipeline.defs.assets import schema_snapshot
    from heal_pipeline.defs.resources import HealResource

    a, b = make_db(), make_db()
    with psycopg.connect(b, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_b (id int PRIMARY KEY)")
    fleet = _write(workdir, '[[targets]]\nname = "a"\ndsn_env = "A_URL"\n\n[[targets]]\nname = "b"\ndsn_env = "B_URL"\n')
    monkeypatch.setenv("HEAL_FLEET", str(fleet))
    monkeypatch.setenv("A_URL", a)
    monkeypatch.setenv("B_URL", b)
    # with a fleet, HealResource.database_url is not a target (any value; see the report to the lead)
    unused = "postgresql://unused@127.0.0.1:1/unused"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("target_db", ["a", "b"])
        res = dg.materialize([schema_snapshot], instance=instance, partition_key="b",
                             resources={"heal": HealResource(database_url=unused)})
    assert res.success
    md = res.asset_materializations_for_node("schema_snapshot")[0].metadata
    assert md["count/tables"].value == 1
    with psycopg.connect(b) as conn:
        assert conn.execute("SELECT target_db FROM heal.schema_snapshots").fetchall() == [("b",)]
    with psycopg.connect(a) as conn:
        assert conn.execute("SELECT to_regclass('heal.schema_snapshots')").fetchone()[0] is None
