"""Counters and callback timing of a live stream, written by the audio callback.

The callback only stores into preallocated NumPy arrays and bumps integer attributes;
the summary (percentiles...) is computed on demand on another thread.
"""

from __future__ import annotations

import numpy as np

# PortAudio's PaStreamCallbackFlags
INPUT_UNDERFLOW = 0x1
INPUT_OVERFLOW = 0x2
OUTPUT_UNDERFLOW = 0x4
OUTPUT_OVERFLOW = 0x8
PRIMING_OUTPUT = 0x10


class StreamStats:
    """What the live host counts. Read any attribute from any thread at any time.

    Attributes:
        callbacks: audio callbacks run.
        dropouts: callbacks whose PortAudio status had an under/overflow flag (xruns). These
            are the audio server's xruns, not a measure of rtsep: on JACK PortAudio raises
            the flags on the callback after each of the server's xrun notifications (its
            own clock late, or any client late, ours included; several in one cycle count
            once); elsewhere they are the device's under/overflows. The GUI shows them as
            "server xruns" beside rtsep's own misses (``deadline_misses`` and callbacks
            past their period, from :meth:`times`).
        input_underflows, input_overflows, output_underflows, output_overflows: per flag.
        deadline_misses: blocks whose processing was not ready in time (worker mode: the
            output fell back to the latency-matched dry signal; inline mode: the callback
            itself ran longer than the block period).
        fallback_blocks: blocks (partly) played from the dry fallback.
        handoff_overruns: input blocks the worker queue had no room for.
        source_underruns: frames of silence because the source had nothing (it ended).
        frames: frames processed.
    """

    def __init__(self, sample_rate: float, blocksize: int, history: int = 1 << 18):
        self.sample_rate = float(sample_rate)
        self.blocksize = int(blocksize)
        self.period_s = blocksize / self.sample_rate if blocksize else 0.0
        self._times = np.zeros(history, dtype=np.float64)  # callback durations, seconds
        self._wtimes = np.zeros(history, dtype=np.float64)  # worker block durations, seconds
        self._mask = history - 1 if history & (history - 1) == 0 else None
        self._history = history
        self.reset()

    def reset(self) -> None:
        self.callbacks = 0
        self.dropouts = 0
        self.input_underflows = 0
        self.input_overflows = 0
        self.output_underflows = 0
        self.output_overflows = 0
        self.deadline_misses = 0
        self.fallback_blocks = 0
        self.handoff_overruns = 0
        self.source_underruns = 0
        self.frames = 0
        self.worker_blocks = 0
        self.last_load = 0.0
        self.max_load = 0.0
        self._times[:] = 0.0
        self._wtimes[:] = 0.0

    # --- audio thread ---------------------------------------------------------------
    def flags(self, status: int) -> None:
        if status & 0xF:
            self.dropouts += 1
            if status & INPUT_UNDERFLOW:
                self.input_underflows += 1
            if status & INPUT_OVERFLOW:
                self.input_overflows += 1
            if status & OUTPUT_UNDERFLOW:
                self.output_underflows += 1
            if status & OUTPUT_OVERFLOW:
                self.output_overflows += 1

    def record(self, seconds: float, frames: int) -> None:
        i = self.callbacks
        self._times[i % self._history] = seconds
        self.callbacks = i + 1
        self.frames += frames
        period = frames / self.sample_rate
        load = seconds / period if period > 0 else 0.0
        self.last_load = load
        if load > self.max_load:
            self.max_load = load

    def record_worker(self, seconds: float) -> None:
        """Worker thread: time it took to process one block (its own counter)."""
        i = self.worker_blocks
        self._wtimes[i % self._history] = seconds
        self.worker_blocks = i + 1

    # --- any thread -------------------------------------------------------------------
    def times(self) -> np.ndarray:
        """Callback durations in seconds (the most recent ``history`` of them)."""
        n = min(self.callbacks, self._history)
        return self._times[:n].copy()

    def summary(self, skip: int = 0) -> dict:
        """A JSON-ready dict. Callback times are given as % of the block period.

        ``skip`` ignores the first callbacks (start-up) in the distribution only.
        """
        t = self.times()
        if skip and len(t) > skip * 2:
            t = t[skip:]
        period = self.period_s or (self.frames / max(1, self.callbacks) / self.sample_rate)
        pct = (100.0 * t / period) if (len(t) and period) else np.zeros(0)

        def q(p):
            return round(float(np.percentile(pct, p)), 2) if len(pct) else None

        wt = self._wtimes[:min(self.worker_blocks, self._history)]
        if skip and len(wt) > skip * 2:
            wt = wt[skip:]
        wpct = (100.0 * wt / period) if (len(wt) and period) else np.zeros(0)

        def wq(p):
            return round(float(np.percentile(wpct, p)), 2) if len(wpct) else None

        return {
            "callbacks": int(self.callbacks),
            "dropouts": int(self.dropouts),
            "deadline_misses": int(self.deadline_misses),
            "fallback_blocks": int(self.fallback_blocks),
            "input_underflows": int(self.input_underflows),
            "input_overflows": int(self.input_overflows),
            "output_underflows": int(self.output_underflows),
            "output_overflows": int(self.output_overflows),
            "handoff_overruns": int(self.handoff_overruns),
            "source_underrun_frames": int(self.source_underruns),
            "frames": int(self.frames),
            "block_period_ms": round(1000.0 * period, 3) if period else None,
            "callback_pct_p50": q(50),
            "callback_pct_p99": q(99),
            "callback_pct_p999": q(99.9),
            "callback_pct_max": round(float(pct.max()), 2) if len(pct) else None,
            # periods that callbacks past their period overran (each can cost the server a cycle)
            "overrun_periods": int(np.floor(pct[pct >= 100.0] / 100.0).sum()) if len(pct) else 0,
            "worker_blocks": int(self.worker_blocks),
            "worker_pct_p50": wq(50),
            "worker_pct_p99": wq(99),
            "worker_pct_p999": wq(99.9),
            "worker_pct_max": round(float(wpct.max()), 2) if len(wpct) else None,
        }
