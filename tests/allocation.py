"""How many bytes a piece of streaming code allocates: the one measurement the no-allocation
tests share (imported like tests/jack_server.py, not a conftest)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def peak_allocated_bytes(step: Callable[[], object], repeats: int) -> int:
    """Peak bytes Python allocated (above what was live before) while ``step()`` ran ``repeats``
    times; warm the code up before calling this."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(repeats):
            step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
