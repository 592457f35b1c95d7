"""Which process pool the code scanner may use here — or none.

``fork`` is cheap (the parser modules are already imported) but unsafe in a process that runs other
threads: a lock held by another thread at fork time stays held in the child forever. A Dagster step
is such a process (its event and heartbeat threads), and there the only safe pools are
``forkserver``/``spawn``, whose workers import the scanner again. Measured on this 2-core box
(bench_codescan's generator, a thread running, best of two): 300 modules 0.11 s sequential vs 0.43 s
in a forkserver pool, 1,000 modules 0.27 vs 0.68 s, 3,000 modules 0.86 vs 3.70 s — the pool never
pays, so a threaded process scans sequentially unless the caller asked for workers explicitly.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.context import BaseContext


def pool_context(*, explicit_workers: bool) -> BaseContext | None:
    """The start method to use, or None for "process the files in this process"."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if not explicit_workers:
        return None
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


__all__ = ["pool_context"]
