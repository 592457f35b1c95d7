"""failed_query_log_sensor on an application's JSON error log (issue 12 item 8): the key mapping
(HEAL_QUERY_LOG_KEYS) is used, a failure requests a scan, unrecognised lines are said in the tick."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from heal_pipeline.config import Settings
from heal_pipeline.defs.automation import TAG_FAILED, TAG_FIRST_SQLSTATE, evaluate_failed_query_log


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="heal-applog-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _append(path: Path, *objs) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(o) + "\n" for o in objs))


def test_the_sensor_reads_an_app_json_log_through_the_key_mapping(workdir):
    log = workdir / "app-errors.jsonl"
    _append(log, {"lvl": "INFO", "text": "started"})
    env = {"HEAL_DATABASE_URL": "postgresql://app@db.internal/shop", "HEAL_QUERY_LOG": str(log),
           "HEAL_QUERY_LOG_KEYS": "sqlstate=pg.code,message=text,statement=sql,severity=lvl"}
    with dg.instance_for_test() as instance:
        def tick(cursor, **more):
            return evaluate_failed_query_log(cursor, instance, settings=Settings.from_env({**env, **more}))

        first = tick(None)
        assert not first.run_requests and "watching" in first.skip_reason.skip_message
        _append(log, {"lvl": "ERROR", "text": "payment provider timed out"})
        second = tick(first.cursor)
        assert not second.run_requests
        assert "1 unrecognised line(s) (HEAL_QUERY_LOG_KEYS)" in second.skip_reason.skip_message
        _append(log, {"lvl": "ERROR", "pg": {"code": "22P02"}, "sql": "SELECT * FROM users WHERE id = $1",
                      "text": 'invalid input syntax for type integer: "abc"'})
        third = tick(second.cursor)
        (req,) = third.run_requests
        assert req.tags[TAG_FAILED] == "1" and req.tags[TAG_FIRST_SQLSTATE] == "22P02"
