"""How many bytes a piece of streaming code allocates: the one measurement the no-allocation
tests share (imported like tests/jack_server.py, not a conftest)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def peak_allocated_bytes(step: Callable[[], object], repeats: int, tries: int = 3) -> int:
    """Peak bytes Python allocated (above what was live before) while ``step()`` ran ``repeats``
    times, the least of ``tries`` such measurements; warm the code up before calling this.

    tracemalloc counts every thread of the process: a daemon thread an earlier test left behind
    (a queue's feeder, a reader polling with a timeout) may allocate during one measurement
    (fresh-clone CI run 4: 2180 bytes once in 300 blocks). Code that allocates on its own path
    does so in every measurement, so the least of three still shows it.
    """
    peaks = []
    for _ in range(max(1, tries)):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(repeats):
                step()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        finally:
            tracemalloc.stop()
        if peaks[-1] == 0:
            break
    return min(peaks)
