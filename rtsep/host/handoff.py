"""The worker hand-off: a plugin runs on a worker thread, one block behind the audio callback.

The callback pushes its input block into a lock-free SPSC slot ring, wakes the worker by
writing one byte to a non-blocking pipe, and takes the *previous* block's output from a
second ring. If that block is not ready, the callback plays the latency-matched dry input
instead, crossfaded over ``fade`` samples (a look-ahead of ``fade`` samples makes the
fade-out possible), and counts a deadline miss: never silence, never mistimed audio.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from ..dsp.delay import DelayLine
from ..dsp.jit import callback_kernel
from ..plugins.base import Plugin
from .realtime import RT_PRIORITY_WORKER, make_realtime
from .ring import SlotRing
from .stats import StreamStats

SLOTS = 16


@callback_kernel
def _fallback_mix(wet, ok, dry, n, fade, carry_w, carry_d, st, out):
    """Blend the worker's ``wet`` block with the aligned ``dry`` block, ``fade`` samples late.

    The output is the sequence ``carry (fade) + this block (n)``'s first ``n`` samples;
    ``st = [gain, carry_ok, used_dry]``. Where wet is missing the gain is 0; it ramps
    down *before* a missing segment (the look-ahead) and up after it, ``1/fade`` per
    sample, so a fallback is a crossfade between two time-aligned signals.
    """
    g = st[0]
    ok_a = st[1] > 0.5
    step = 1.0 / fade
    used_dry = 0.0
    ch = out.shape[1]
    for i in range(n):
        if i < fade:
            avail = ok_a
            gmax = (fade - 1 - i) * step if (ok_a and not ok) else 1.0
        else:
            avail = ok
            gmax = 1.0
        if not avail:
            g = 0.0
        else:
            g = min(g + step, gmax)
        if g < 1.0:
            used_dry = 1.0
        if i < fade:
            for c in range(ch):
                d = carry_d[i, c]
                out[i, c] = d + g * (carry_w[i, c] - d)
        else:
            for c in range(ch):
                d = dry[i - fade, c]
                out[i, c] = d + g * (wet[i - fade, c] - d)
    for i in range(fade):
        for c in range(ch):
            carry_w[i, c] = wet[n - fade + i, c]
            carry_d[i, c] = dry[n - fade + i, c]
    st[0] = g
    st[1] = 1.0 if ok else 0.0
    st[2] = used_dry


class WorkerHandoff:
    """Runs ``proc`` on a worker thread for the audio callback (see module doc).

    Args:
        proc: the plugin (its ``latency_samples`` sets the dry path's delay).
        blocksize, channels: the stream's fixed block shape.
        stats: the stream's counters (deadline misses, fallbacks, worker times).
        fade: fallback crossfade and look-ahead in samples (<= blocksize).
        realtime: make the worker SCHED_FIFO ``RT_PRIORITY_WORKER`` if allowed.

    Attributes:
        error: an exception the worker parked (the callback then plays dry).
        rt_status: what scheduling the worker got.
    """

    def __init__(self, proc: Plugin, blocksize: int, channels: int, stats: StreamStats, fade: int = 32,
                 realtime: bool = True):
        self.proc = proc
        self.blocksize, self.channels = int(blocksize), int(channels)
        self.stats = stats
        self.fade = max(1, min(int(fade), self.blocksize))
        self.realtime = realtime
        B, C = self.blocksize, self.channels
        self._in_ring = SlotRing(SLOTS, B, C)
        self._out_ring = SlotRing(SLOTS, B, C)
        self._dry = DelayLine(int(proc.latency_samples) + B, C, B)
        self._carry_w = np.zeros((self.fade, C), dtype=np.float32)
        self._carry_d = np.zeros((self.fade, C), dtype=np.float32)
        self._mixst = np.zeros(3, dtype=np.float64)
        self._y = np.zeros((B, C), dtype=np.float32)
        self._wet = np.zeros((B, C), dtype=np.float32)  # the worker's output block
        self._zeros = np.zeros((B, C), dtype=np.float32)
        self._thread: threading.Thread | None = None
        self._rfd = self._wfd = -1
        self._stopping = False
        self._seq = 0
        self.error: BaseException | None = None
        self.rt_status = "-"

    @property
    def latency_samples(self) -> int:
        """Frames the hand-off adds: one block plus the fallback look-ahead."""
        return self.blocksize + self.fade

    def warm_up(self) -> None:
        """Compile the kernel before real time starts."""
        _fallback_mix(self._zeros, True, self._zeros, self.blocksize, self.fade,
                      self._carry_w.copy(), self._carry_d.copy(), np.zeros(3), self._y)

    def start(self, thread: bool = True) -> None:
        """Fresh rings and pipe; ``thread=False`` leaves the worker out (every block then
        falls back to dry: tests of the callback path)."""
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._wfd, False)
        self._in_ring = SlotRing(SLOTS, self.blocksize, self.channels)
        self._out_ring = SlotRing(SLOTS, self.blocksize, self.channels)
        self._mixst[:] = 0.0
        self._carry_w[:] = 0.0
        self._carry_d[:] = 0.0
        self._dry.reset()
        self._seq = 0
        self._stopping = False
        self.error = None
        if thread:
            self._thread = threading.Thread(target=self._loop, name="rtsep-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            try:
                os.write(self._wfd, b"\x00")
            except OSError:
                pass
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._rfd, self._wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = -1

    def _loop(self) -> None:
        if self.realtime:
            self.rt_status = make_realtime(RT_PRIORITY_WORKER)
        rfd = self._rfd
        inq, outq, proc, stats = self._in_ring, self._out_ring, self.proc, self.stats
        wake = [bytearray(4096)]  # wake-up bytes land here: os.read would allocate them
        while True:
            try:
                os.readv(rfd, wake)
            except OSError:
                return
            if self._stopping:
                return
            while True:
                seq = inq.peek_seq()
                if seq < 0:
                    break
                t0 = time.perf_counter()
                try:
                    y = proc.process(inq.peek(), out=self._wet)
                except BaseException as exc:  # park it; the callback falls back to dry
                    self.error = exc
                    return
                stats.record_worker(time.perf_counter() - t0)
                inq.pop()
                outq.push(y, seq)

    def process(self, x: np.ndarray, n: int) -> np.ndarray:
        """Audio callback: input block ``x`` (n frames) → the output block (a view)."""
        st = self.stats
        if n != self.blocksize:  # cannot happen with a fixed blocksize; stay safe
            st.deadline_misses += 1
            return self._zeros[:n]
        seq = self._seq
        self._seq = seq + 1
        if not self._in_ring.push(x, seq):
            st.handoff_overruns += 1
        try:
            os.write(self._wfd, b"\x01")
        except OSError:  # pipe full: the worker is far behind and already awake
            pass
        want = seq - 1
        outq = self._out_ring
        s = outq.peek_seq()
        while 0 <= s < want:  # late blocks already replaced by dry: discard
            outq.pop()
            s = outq.peek_seq()
        ok = s == want and want >= 0
        wet = outq.peek() if ok else self._zeros
        dry = self._dry.process(x)
        y = self._y
        mixst = self._mixst
        _fallback_mix(wet, ok, dry, n, self.fade, self._carry_w, self._carry_d, mixst, y)
        if ok:
            outq.pop()
        elif want >= 0:
            st.deadline_misses += 1
        if mixst[2] > 0.0 and seq > 1:
            st.fallback_blocks += 1
        return y
