"""The scanner's pool choice: fork when it is safe, none in a threaded process (a Dagster step)."""

import subprocess
import sys
import threading

from heal_pipeline.codescan import scan
from heal_pipeline.codescan.pool import pool_context


def test_fork_when_alone_and_no_pool_beside_other_threads():
    # a fresh interpreter has one thread (the test process may have others by now)
    out = subprocess.run([sys.executable, "-c", "from heal_pipeline.codescan.pool import pool_context; "
                          "print(pool_context(explicit_workers=False).get_start_method())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fork"
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert pool_context(explicit_workers=False) is None  # forkserver never pays (module doc)
        assert pool_context(explicit_workers=True).get_start_method() in ("forkserver", "spawn")
    finally:
        stop.set()
        t.join()


def test_threaded_scan_is_sequential_and_equal(tmp_path):
    for i in range(30):
        (tmp_path / f"m{i}.py").write_text(
            f"def q(cur):\n    cur.execute('SELECT id FROM t{i} WHERE id = %s', (1,))\n")
    alone = scan([tmp_path], parallel_threshold=1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        import multiprocessing

        before = set(multiprocessing.active_children())
        beside = scan([tmp_path], parallel_threshold=1)
        assert set(multiprocessing.active_children()) == before
    finally:
        stop.set()
        t.join()
    key = lambda s: (s.file, s.line, s.sql)  # noqa: E731
    assert sorted(map(key, alone.statements)) == sorted(map(key, beside.statements))
    assert len(alone.statements) == 30
