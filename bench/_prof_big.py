import os, sys, tempfile, cProfile, pstats, time
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import dagster as dg
import bench_dagster as b
from heal_pipeline.defs.bootstrap import sync_partitions
from heal_pipeline.demo.estate import APP_DIR, MIGRATIONS_DIR, build_estate
from heal_pipeline.dev import DAGSTER_DB, dagster_yaml
from heal_pipeline.embedded import create_database, temporary_server
def main():
    server = temporary_server(); home = tempfile.mkdtemp()
    try:
        admin = server.info().dsn("postgres"); create_database(admin, DAGSTER_DB)
        Path(home, "dagster.yaml").write_text(dagster_yaml(server.info()))
        dsn = build_estate(admin, "heal_big")["dsn"]; b._grow(dsn, 1000)
        env = {"HEAL_DATABASE_URL": dsn, "HEAL_SOURCE_DIRS": str(APP_DIR), "HEAL_MIGRATIONS_DIRS": str(MIGRATIONS_DIR),
               "HEAL_OBSERVATION_WINDOW": "0", "HEAL_HOME": home + "/h", "HEAL_TARGET_NAME": "heal_big"}
        os.environ.update(env)
        print("check", b._check(env), b._check(env))
        out = __import__("subprocess").run([sys.executable, "-m", "heal_pipeline.cli", "check"], capture_output=True, text=True)
        print(out.stdout[-600:], out.stderr[-300:])
        with dg.DagsterInstance.from_config(home) as inst:
            sync_partitions(inst, ["heal_big"])
            print("cold", b._run(inst, b._scan_job, "heal_big"))
            pr = cProfile.Profile(); pr.enable()
            print("warm", b._run(inst, b._scan_job, "heal_big"))
            pr.disable(); pr = cProfile.Profile(); pr.enable(); print("warm2", b._run(inst, b._scan_job, "heal_big"))
            pr.disable()
            pstats.Stats(pr).sort_stats("cumulative").print_stats("heal_pipeline|dagster_postgres/event_log/event_log.py:183", 45)
    finally:
        server.destroy()
if __name__ == "__main__":
    main()
