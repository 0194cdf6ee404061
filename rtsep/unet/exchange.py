"""The memory the live U-Net's audio callback and its worker share: counters, the input ring, the stem rings.

One flat buffer holds it all, so the worker can be a thread of the host's process (the buffer is
ordinary memory) or a process of its own (the buffer is a shared mapping, :func:`shared_buffer`):
the callback and the worker read and write the same layout either way.

- ``counters``: int64 words, each written by one side only (the callback's, the worker's, and
  control words that the control thread writes and the worker reads), on separate cache lines.
- ``times``: ``TIMES`` float64, the worker's push durations in seconds (load figures).
- ``inputs``: ``in_frames x channels`` float32, the input ring (callback → worker).
- ``vocals``, ``accompaniment``: ``stem_frames x channels`` float32, the stem rings (worker →
  callback), indexed by stem stream position.

Positions are free-running sample counts, rings have power-of-two lengths (a position wraps with
a mask). A side copies data first and publishes the count after, in a separate call (the copies
are Numba kernels; the count is stored from Python after they return), so the other side never
reads a slot that is half written: on x86 stores become visible in program order; elsewhere the
interpreter's work between the two stores keeps them apart in practice.
"""

from __future__ import annotations

import mmap
import os

import numpy as np
from numba import njit

from ..dsp.jit import callback_kernel
from ..dsp.memory import resident_zeros

TIMES = 1 << 16  # push durations kept

# the callback's words
IN_WRITTEN = 0     # input frames written to the ring
STEMS_READ = 1     # stem positions played (the worker may overwrite those)
# the worker's words
IN_READ = 8        # input frames taken from the ring
IN_DONE = 9        # input frames pushed through the network
STEMS_WRITTEN = 10  # stem positions written: [0, STEMS_WRITTEN) are ready
PUSHES = 11        # push calls
PUSHED_FRAMES = 12
BUSY_NS = 13       # time in push, nanoseconds
IDLE = 14          # 1: paused at the control thread's request
# control words (the control thread)
PAUSE = 16         # 1: finish the push and idle
STOP = 17          # 1: end
RESET_GEN = 18     # bumped by a reset: the worker starts its stream afresh before its next push
# the worker's thread ids (its own and the network's), for reports and tests
N_TIDS = 24
TIDS = 25
TID_SLOTS = 15
N_COUNTERS = 40


def _ring_frames(frames: int) -> int:
    return 1 << max(1, int(frames - 1).bit_length())


class Exchange:
    """The shared layout over ``buffer`` (any writable buffer of :meth:`nbytes` bytes; a fresh,
    mapped one of zeros when ``None``). ``in_frames`` and ``stem_frames`` are rounded up to powers
    of two."""

    def __init__(self, in_frames: int, stem_frames: int, channels: int, buffer=None):
        self.in_frames = _ring_frames(in_frames)
        self.stem_frames = _ring_frames(stem_frames)
        self.channels = int(channels)
        size = self.nbytes(self.in_frames, self.stem_frames, self.channels)
        if buffer is None:
            buffer = resident_zeros(size, np.uint8)  # the callback writes it: no page faults there
        raw = np.frombuffer(buffer, np.uint8, count=size)
        at = 0

        def take(count: int, dtype, shape):
            nonlocal at
            n = count * np.dtype(dtype).itemsize
            view = raw[at:at + n].view(dtype).reshape(shape)
            at += -(-n // 64) * 64  # each part on its own cache lines
            return view

        self.counters = take(N_COUNTERS, np.int64, (N_COUNTERS,))
        self.times = take(TIMES, np.float64, (TIMES,))
        self.inputs = take(self.in_frames * self.channels, np.float32, (self.in_frames, self.channels))
        self.vocals = take(self.stem_frames * self.channels, np.float32, (self.stem_frames, self.channels))
        self.accompaniment = take(self.stem_frames * self.channels, np.float32, (self.stem_frames, self.channels))
        self.buffer = buffer

    @staticmethod
    def nbytes(in_frames: int, stem_frames: int, channels: int) -> int:
        """Bytes of the layout (ring lengths rounded up to powers of two, as the constructor does)."""
        in_frames, stem_frames = _ring_frames(in_frames), _ring_frames(stem_frames)
        parts = (N_COUNTERS * 8, TIMES * 8, 4 * in_frames * channels, 4 * stem_frames * channels,
                 4 * stem_frames * channels)
        return sum(-(-n // 64) * 64 for n in parts)

    def layout(self) -> dict:
        """What another process needs to map the same layout (:meth:`attach`)."""
        return {"in_frames": self.in_frames, "stem_frames": self.stem_frames, "channels": self.channels}

    @classmethod
    def attach(cls, fd: int, layout: dict) -> "Exchange":
        """The layout over the shared memory file ``fd`` (the worker process's side)."""
        size = cls.nbytes(layout["in_frames"], layout["stem_frames"], layout["channels"])
        return cls(layout["in_frames"], layout["stem_frames"], layout["channels"], buffer=mmap.mmap(fd, size))

    def clear_stream(self) -> None:
        """Control thread, worker idle: positions and load figures back to 0."""
        c = self.counters
        for k in (IN_WRITTEN, STEMS_READ, IN_READ, IN_DONE, STEMS_WRITTEN, PUSHES, PUSHED_FRAMES, BUSY_NS):
            c[k] = 0

    def worker_tids(self) -> set[int]:
        n = int(self.counters[N_TIDS])
        return {int(t) for t in self.counters[TIDS:TIDS + min(n, TID_SLOTS)]}

    def set_worker_tids(self, tids) -> None:
        tids = sorted(tids)[:TID_SLOTS]
        self.counters[TIDS:TIDS + len(tids)] = tids
        self.counters[N_TIDS] = len(tids)

    # --- the callback's side ----------------------------------------------------------------
    def write_input(self, block: np.ndarray) -> int:
        """Append ``block`` (``frames x channels``) to the input ring; returns the frames that fit
        (the rest is lost: the worker is a whole ring behind)."""
        c = self.counters
        w = int(c[IN_WRITTEN])
        n = ring_write(self.inputs, w, int(c[IN_READ]), block)
        c[IN_WRITTEN] = w + n  # publish, after the copy
        return n

    # --- the worker's side ------------------------------------------------------------------
    def read_input(self, out: np.ndarray) -> int:
        """Take up to ``len(out)`` input frames into ``out``; returns how many."""
        c = self.counters
        r = int(c[IN_READ])
        n = ring_read(self.inputs, int(c[IN_WRITTEN]), r, out)
        c[IN_READ] = r + n  # publish: the callback may overwrite them now
        return n

    def stem_room(self, m: int) -> bool:
        """Whether ``m`` more stems fit without overwriting ones not yet played."""
        c = self.counters
        return int(c[STEMS_WRITTEN]) + m - max(int(c[STEMS_READ]), 0) <= self.stem_frames


@callback_kernel
def ring_write(ring, written, read, block):
    """``block`` into ``ring`` from position ``written`` as far as there is room (the reader is at
    ``read``); returns the frames copied."""
    cap = ring.shape[0]
    n = min(block.shape[0], cap - (written - read))
    mask = cap - 1
    for i in range(max(n, 0)):
        j = (written + i) & mask
        for c in range(ring.shape[1]):
            ring[j, c] = block[i, c]
    return max(n, 0)


@njit(nogil=True, cache=True)
def ring_read(ring, written, read, out):
    """Up to ``len(out)`` frames of ``ring`` from position ``read`` (written up to ``written``)
    into ``out``; returns how many."""
    n = min(out.shape[0], written - read)
    mask = ring.shape[0] - 1
    for i in range(max(n, 0)):
        j = (read + i) & mask
        for c in range(ring.shape[1]):
            out[i, c] = ring[j, c]
    return max(n, 0)


def shared_buffer(nbytes: int):
    """``(fd, mapping)``: zeroed memory another process can map (a Linux memfd), mapped here and
    touched now (the audio thread writes it). ``None`` where the OS has no memfd."""
    if not hasattr(os, "memfd_create"):
        return None
    fd = os.memfd_create("rtsep-unet")  # close-on-exec: only the worker gets it (pass_fds)
    try:
        os.ftruncate(fd, nbytes)
        mapping = mmap.mmap(fd, nbytes)
    except OSError:
        os.close(fd)
        return None
    np.frombuffer(mapping, np.uint8).fill(0)  # map the pages now, not in the callback
    return fd, mapping
