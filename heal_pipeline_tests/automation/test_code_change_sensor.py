"""code_change_sensor on real file edits: a touch is not a change, content is."""

from __future__ import annotations

import json
import os
import time

import dagster as dg

from heal_pipeline.defs.automation import (TAG_CHANGED, TAG_CHANGED_SAMPLE, TAG_TRIGGER, CodeWatcher,
                                           code_change_sensor, evaluate_code_change)

from .helpers import settings


def _tree(root):
    (root / "app" / "billing").mkdir(parents=True)
    (root / "app" / "__pycache__").mkdir()
    (root / "migrations").mkdir()
    (root / "app" / "billing" / "refunds.py").write_text('SQL = "SELECT * FROM billing.refunds"\n')
    (root / "app" / "users.py").write_text('SQL = "SELECT id FROM users"\n')
    (root / "app" / "README.md").write_text("not watched\n")
    (root / "app" / "__pycache__" / "users.cpython-311.pyc").write_bytes(b"\0")
    (root / "migrations" / "0001.sql").write_text("CREATE TABLE users (id int);\n")


def _age(path, seconds=60):
    """Backdate a file (as if written a minute ago): (mtime, size) entries are trusted then."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def _settings(root, home):
    return settings(HEAL_DATABASE_URL="postgresql://app@db/shop", HEAL_SOURCE_DIRS=str(root / "app"),
                    HEAL_MIGRATIONS_DIRS=str(root / "migrations"), HEAL_HOME=str(home))


def test_touch_is_not_a_change_content_is(instance, workdir):
    root, home = workdir / "src", workdir / "home"
    _tree(root)
    for p in root.rglob("*"):
        _age(p)
    s, w = _settings(root, home), CodeWatcher()
    first = evaluate_code_change(None, instance, settings=s, watcher=w)
    assert not first.run_requests and "watching 3 file(s)" in first.skip_reason.skip_message
    assert w.hashed == 3

    # nothing changed: nothing is read again
    second = evaluate_code_change(first.cursor, instance, settings=s, watcher=w)
    assert not second.run_requests and w.hashed == 0
    assert json.loads(second.cursor) == json.loads(first.cursor)

    # touch: new mtime, same bytes -> re-hashed (the pre-check says "maybe"), same digest -> no run
    refunds = root / "app" / "billing" / "refunds.py"
    os.utime(refunds, None)
    third = evaluate_code_change(second.cursor, instance, settings=s, watcher=w)
    assert not third.run_requests and w.hashed == 1

    # content change -> one run, naming the file
    refunds.write_text('SQL = "SELECT id, amount FROM billing.refunds"\n')
    fourth = evaluate_code_change(third.cursor, instance, settings=s, watcher=w)
    (req,) = fourth.run_requests
    assert req.partition_key == "shop" and req.tags[TAG_TRIGGER] == "code_change"
    assert req.tags[TAG_CHANGED] == "1" and req.tags[TAG_CHANGED_SAMPLE] == "billing/refunds.py"
    assert [r.partition_keys for r in fourth.dynamic_partitions_requests] == [["shop"]]

    # files that are not watched (README, __pycache__) do not count; a new migration does
    (root / "app" / "README.md").write_text("edited\n")
    (root / "app" / "__pycache__" / "x.py").write_text("x = 1\n")
    assert not evaluate_code_change(fourth.cursor, instance, settings=s, watcher=w).run_requests
    (root / "migrations" / "0002.sql").write_text("CREATE TABLE billing.refunds (id int);\n")
    fifth = evaluate_code_change(fourth.cursor, instance, settings=s, watcher=w)
    assert fifth.run_requests[0].tags[TAG_CHANGED] == "1"
    assert fifth.run_requests[0].run_key != req.run_key

    # a deleted file is a change too; reverting content to an earlier state still triggers a run
    (root / "migrations" / "0002.sql").unlink()
    sixth = evaluate_code_change(fifth.cursor, instance, settings=s, watcher=w)
    assert sixth.run_requests and sixth.run_requests[0].run_key not in {req.run_key, fifth.run_requests[0].run_key}


def test_same_size_rewrite_within_the_same_second_is_caught(instance, workdir):
    root, home = workdir / "src", workdir / "home"
    _tree(root)
    s, w = _settings(root, home), CodeWatcher()
    users = root / "app" / "users.py"
    c = evaluate_code_change(None, instance, settings=s, watcher=w).cursor
    st = users.stat()
    users.write_text('SQL = "SELECT ix FROM users"\n')  # same size
    os.utime(users, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    res = evaluate_code_change(c, instance, settings=s, watcher=w)
    assert res.run_requests, "a fresh file is re-hashed until its mtime is old enough to trust"


def test_restart_keeps_the_cursor_and_the_hash_cache(instance, workdir):
    root, home = workdir / "src", workdir / "home"
    _tree(root)
    for p in root.rglob("*"):
        _age(p)
    s = _settings(root, home)
    c = evaluate_code_change(None, instance, settings=s, watcher=CodeWatcher()).cursor
    assert (home / "cache" / "code_watch.json").exists()
    restarted = CodeWatcher()  # a new code server process
    res = evaluate_code_change(c, instance, settings=s, watcher=restarted)
    assert not res.run_requests and restarted.hashed == 0  # nothing re-read: (mtime, size) from disk
    (root / "app" / "users.py").write_text("SQL = 'SELECT id, email FROM users'\n")
    res = evaluate_code_change(res.cursor, instance, settings=s, watcher=CodeWatcher())
    assert res.run_requests[0].tags[TAG_CHANGED_SAMPLE] == "users.py"


def test_through_the_definitions(instance, workdir, monkeypatch):
    from heal_pipeline.definitions import defs

    root = workdir / "src"
    _tree(root)
    monkeypatch.setenv("HEAL_DATABASE_URL", "postgresql://app@db/shop")
    monkeypatch.setenv("HEAL_SOURCE_DIRS", str(root / "app"))
    monkeypatch.setenv("HEAL_HOME", str(workdir / "home"))
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        first = code_change_sensor.evaluate_tick(
            dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs))
        (root / "app" / "users.py").write_text("SQL = 'SELECT 1'\n")
        data = code_change_sensor.evaluate_tick(
            dg.build_sensor_context(instance_ref=instance.get_ref(), cursor=first.cursor, definitions=defs))
    assert [r.tags["dagster/partition"] for r in data.run_requests] == ["shop"]


def test_targets_without_source_roots(instance):
    res = evaluate_code_change(None, instance, settings=settings(HEAL_DATABASE_URL="postgresql://a@b/c"))
    assert "no target has source roots" in res.skip_reason.skip_message
