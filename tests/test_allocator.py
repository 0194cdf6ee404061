"""glibc's allocator while streaming: the mmap threshold fixed (rtsep.host.realtime.fix_mmap_threshold) and
free heap pages given back after a song (release_free_memory)."""

import platform
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                                 reason="glibc's allocator only")]

# A song-sized block freed, then a smaller one touched and freed: is its memory given back?
PROBE = """
import sys
import numpy as np
from rtsep.host.realtime import fix_mmap_threshold

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmRSS:"))

if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
a = np.ones(20 << 20, np.uint8)  # mapped; freeing it raises glibc's dynamic threshold to 20 MB
del a
before = rss_mb()
b = np.ones(16 << 20, np.uint8)
b[0] = 2
del b
print(rss_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=100)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def test_a_fixed_threshold_gives_song_sized_blocks_back():
    # By default the 16 MB block comes from the heap and stays resident after it is freed
    # (that is what grew the soak's memory); with the threshold fixed it is unmapped.
    assert _kept_mb("fixed") < 4.0
    assert _kept_mb("default") > 12.0


def test_streaming_fixes_the_threshold(monkeypatch):
    from rtsep.host import realtime

    calls = []
    monkeypatch.setattr(realtime, "fix_mmap_threshold", lambda *a: calls.append(a) or True)
    interp = realtime.StreamingInterpreter()
    interp.enter()
    try:
        assert calls
    finally:
        interp.leave()


# Small blocks (below the threshold: from the heap) freed, all but the last, which pins the heap's
# top so that free() alone cannot shrink it: is the memory given back?
TRIM_PROBE = """
import sys
import numpy as np
from rtsep.host.realtime import release_free_memory

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmRSS:"))

blocks = [np.ones(48 << 10, np.uint8) for _ in range(1000)]  # 48 MB in 48 kB blocks
keep = blocks[-1]
del blocks
before = rss_mb()
if sys.argv[1] == "trim":
    assert release_free_memory()
print(before - rss_mb())
"""


def _given_back_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE, mode], capture_output=True, text=True, timeout=100)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def test_release_free_memory_gives_freed_heap_pages_back():
    assert _given_back_mb("trim") > 30.0
    assert _given_back_mb("keep") < 5.0  # without it the freed 48 MB stay resident
