"""Numba compilation for kernels the audio callback calls: cached, and keeping the interpreter lock.

A kernel compiled with ``nogil=True`` releases the interpreter lock on entry and takes it back on
return. In a worker thread that is what lets the callback and the GUI run meanwhile (the STFT,
mask and feature kernels of :mod:`rtsep.dsp` do it). Inside the audio callback it is the opposite:
some thread is nearly always waiting for the lock (the GUI's main thread), the release hands it
over, and the callback then waits to take it back, at least a switch interval
(:data:`rtsep.host.realtime.SWITCH_INTERVAL_S`) and as long as the holder stays in a C call that
keeps the lock (PySide6 keeps it through a QPainter draw: milliseconds). A block's mix, levels,
gains and delays are microseconds of work: the callback keeps the lock through them.

Measured (a SCHED_FIFO thread every 128 frames at 48 kHz running the karaoke callback's kernels
and an LV2 reverb, beside a thread drawing QPainter paths): cycle time max 1.7 ms, 13-26 cycles
over 1 ms in 15 s with the kernels releasing the lock; max 0.2 ms, none over 1 ms keeping it.
"""

from __future__ import annotations

from numba import njit


def callback_kernel(fn):
    """``@njit`` for a kernel of the audio callback: cached on disk, keeps the interpreter lock."""
    return njit(cache=True, nogil=False)(fn)
