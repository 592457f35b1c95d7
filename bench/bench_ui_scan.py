""""Materialize" in the Dagster UI → issue_set visible, on the demo, through a real `heal dev`.

    .venv/bin/python bench/bench_ui_scan.py [--port 3417] [--runs 3]

Starts `heal dev --no-scan` in a temporary HEAL_HOME (embedded PostgreSQL, demo estate, the
dagster-postgres instance, `dagster dev` with its daemon) on 127.0.0.1, waits for the webserver, then
launches the heal_scan job for the demo partition with the same GraphQL mutation the UI's
"Materialize" button sends (``launchPipelineExecution``), and polls until the run's issue_set
materialization event exists. Prints, per run: launch → run started (queue + run worker start),
launch → issue_set materialized, launch → run finished; and, as the baseline in the same run,
`heal check` against the same demo database. Stops `heal dev` (its own process group) at the end.
Target (issue 16): issue_set visible ≤ 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LAUNCH = """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime creationTime } } }"""
EVENTS = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
  ... on MaterializationEvent { timestamp assetKey { path } } } } } }"""


def gql(base: str, query: str, variables: dict) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        out = json.loads(resp.read())
    if out.get("errors"):
        raise SystemExit(f"GraphQL error: {out['errors'][0].get('message')}")
    return out["data"]


def one_run(base: str, partition: str) -> dict:
    params = {"selector": {"repositoryLocationName": "heal_pipeline", "repositoryName": "__repository__",
                           "jobName": "heal_scan"},
              "mode": "default", "runConfigData": "{}",
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}
    t0 = time.time()
    res = gql(base, LAUNCH, {"p": params})["launchPipelineExecution"]
    if res["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launch failed: {res}")
    run_id = res["run"]["runId"]
    seen_issue_set = None
    while time.time() - t0 < 300:
        run = gql(base, RUN, {"id": run_id})["runOrError"]
        if seen_issue_set is None:
            events = gql(base, EVENTS, {"id": run_id})["logsForRun"].get("events") or []
            for e in events:
                if e["__typename"] == "MaterializationEvent" and e["assetKey"]["path"] == ["issue_set"]:
                    seen_issue_set = time.time()
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            if seen_issue_set is None:
                seen_issue_set = time.time()
            return {"status": run["status"], "started_s": (run["startTime"] or t0) - t0,
                    "issue_set_s": seen_issue_set - t0, "finished_s": time.time() - t0}
        time.sleep(0.2)
    raise SystemExit("run did not finish in 300 s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=3417)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="heal-bench-ui-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEAL_", "DAGSTER_"))}
    env["HEAL_HOME"] = str(home)
    dev = subprocess.Popen([sys.executable, "-m", "heal_pipeline.cli", "dev", "--no-scan", "--port", str(args.port)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        dsn = None
        for line in dev.stdout:  # heal dev prints the demo's connection string, then "UI ready"
            if "postgresql://" in line and dsn is None:
                dsn = line[line.index("postgresql://"):].split()[0]
            if "UI ready" in line:
                break
        if dev.poll() is not None or dsn is None:
            raise SystemExit("heal dev did not start")
        check_env = {**env, "HEAL_DATABASE_URL": dsn}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "heal_pipeline.cli", "check"], env=check_env, capture_output=True)
        check_s = time.perf_counter() - t0
        rows = [one_run(base, "heal_demo") for _ in range(args.runs)]
        print(f"heal check (baseline) {check_s:.2f} s")
        for i, r in enumerate(rows):
            print(f"run {i + 1}: {r['status']:<8} started {r['started_s']:5.2f} s   issue_set visible "
                  f"{r['issue_set_s']:5.2f} s ({r['issue_set_s'] / check_s:.1f}x heal check)   "
                  f"finished {r['finished_s']:5.2f} s   (target: issue_set ≤ 10 s)")
    finally:
        try:
            os.killpg(dev.pid, signal.SIGTERM)  # heal dev's own group: it stops dagster and PostgreSQL
            dev.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


if __name__ == "__main__":
    main()
