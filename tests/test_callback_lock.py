"""The audio callback's kernels and plugin runs keep the interpreter lock (rtsep.dsp.jit): a
thread spinning in Python must not advance while one runs, and does while a ``nogil`` kernel
of the same work runs (the check's control)."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from numba import njit

from rtsep.dsp import stemmix
from rtsep.dsp.delay import DelayLine
from rtsep.host import mixer, taps
from rtsep.plugins import lv2_lilv

GVERB = "http://plugin.org.uk/swh-plugins/gverb"


def spins_during(call, repeats: int = 10) -> int:
    """How far a thread spinning in Python advanced while ``call()`` ran ``repeats`` times.

    The switch interval is 0.25 s meanwhile (from before the spinner starts, so its own wait
    for the lock uses it too): the caller gives the lock up within the calls only if a call
    releases it, not because the spinner asked for it."""
    call()  # compiled (a first call may compile: Python, which lets the spinner in) and warm
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.25)
    t = threading.Thread(target=spin, daemon=True)
    try:
        t.start()
        while count[0] == 0:
            time.sleep(0.001)
        moved = 0
        for _ in range(repeats):
            c0 = count[0]
            call()
            moved += count[0] - c0
        return moved
    finally:
        stop.set()
        sys.setswitchinterval(old)
        t.join(5)


_released_levels = njit(nogil=True)(taps.block_levels.py_func)  # the control: same code, releasing


def test_callback_kernels_keep_the_interpreter_lock():
    n = 1 << 20  # ~ms of work per call: a release would show
    x = np.random.default_rng(0).standard_normal((n, 2)).astype(np.float32)
    row = np.zeros(8, dtype=np.float32)
    assert spins_during(lambda: taps.block_levels(x, n, row, 0)) == 0
    assert spins_during(lambda: mixer.vocal_activity(x, x, n)) == 0
    out = np.empty_like(x)
    g0, g1 = np.zeros(3), np.ones(3)
    st = np.zeros(1)
    assert spins_during(lambda: stemmix.mix_stems(x, x, x, n, g0, g1, st, 1e-6, out)) == 0
    line = DelayLine(100, 2, max_block=n)
    assert spins_during(lambda: line.process(x)) == 0
    # the control: the same work in a kernel that releases the lock lets the spinner run
    assert spins_during(lambda: _released_levels(x, n, row, 0), repeats=2) > 0


@pytest.mark.skipif(not lv2_lilv.available() or lv2_lilv.world().plugin(GVERB) is None,
                    reason="liblilv-0-0 and swh-lv2 are not installed (apt install liblilv-0-0 swh-lv2)")
def test_lv2_run_keeps_the_interpreter_lock():
    from rtsep.plugins.lv2 import Lv2Plugin

    p = Lv2Plugin(GVERB, 48000, 2, max_block=8192, roomsize=20)
    x = np.random.default_rng(1).standard_normal((8192, 2)).astype(np.float32)
    out = np.empty_like(x)
    inst = p._instances[0]
    assert spins_during(lambda: inst.run(8192)) == 0
    p.process(x, out=out)
    assert np.isfinite(out).all() and np.abs(out).max() > 0
