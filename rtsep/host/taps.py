"""Taps: what the audio callback publishes for a GUI, lock-free and allocation-free.

The live host (:class:`rtsep.host.stream.LiveHost`) owns one :class:`Taps`; the audio
callback is the only writer, and one reader (a GUI timer, a test, a recorder) may poll it
at any rate without ever blocking the audio thread. Every ring is a single-producer /
single-consumer ring (:mod:`rtsep.host.ring`) that *overwrites its oldest data* when the
reader falls behind, so a frozen GUI costs nothing but lost history.

API for a reader (all non-blocking; the returned arrays are the reader's own copies)::

    host = LiveHost(...); host.start()
    taps = host.taps
    taps.input.latest(2048)      # (2048, channels) float32: last input frames (scope)
    taps.output.latest(2048)     # same for the output
    taps.input.read_new()        # everything new since the last read_new() (consuming)
    taps.vad.latest()            # (frame_time, array([vad])) or None - vocal activity 0..1
    taps.vad.read_new()          # (frame_times (n,), values (n, 1)) since the last call
    taps.levels.latest()         # (frame_time, array([in_rms, in_peak, out_rms, out_peak]))
    taps.levels.read_new()       # per-block history of the same (+ mic_rms, mic_peak)
    taps.mic.latest(2048)        # (2048, 1): the microphone after its gain (karaoke --mic)
    taps.vocals.latest(2048)     # (2048, channels): the vocal stem at the playhead (song
                                 # separated ahead); same frame times as taps.input
    host.stats                   # StreamStats: callbacks, dropouts, deadline_misses, ...
    host.stats.last_load         # last callback's time / block period
    host.stats.summary()         # percentiles etc. (allocates: call from the GUI thread)

``frame_time`` is the stream frame index at the *start* of the block the value belongs
to (input time); divide by ``taps.sample_rate`` for seconds. Levels are linear (not dB),
the maximum over channels. Each reader method is meant for one reader thread: two
consumers of the same ring would steal each other's ``read_new`` data (``latest`` is safe
for any number of readers).
"""

from __future__ import annotations

import numpy as np

from ..dsp.jit import callback_kernel
from .ring import FrameRing, ValueRing

LEVEL_FIELDS = ("in_rms", "in_peak", "out_rms", "out_peak", "mic_rms", "mic_peak")


@callback_kernel
def block_levels(block, n, out, offset):
    """RMS and peak (max over channels) of ``block[:n]`` into ``out[offset:offset+2]``."""
    rms = 0.0
    peak = 0.0
    for c in range(block.shape[1]):
        acc = 0.0
        for j in range(n):
            v = block[j, c]
            acc += v * v
            a = abs(v)
            if a > peak:
                peak = a
        r = (acc / max(n, 1)) ** 0.5
        if r > rms:
            rms = r
    out[offset] = rms
    out[offset + 1] = peak


class Taps:
    """Input/output audio, vocal activity and levels of a live stream (see module doc)."""

    def __init__(self, sample_rate: float, channels: int, seconds: float = 4.0, blocks: int = 8192):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        frames = int(seconds * sample_rate)
        self.input = FrameRing(frames, channels)
        self.output = FrameRing(frames, channels)
        self.mic = FrameRing(frames, 1)
        self.vocals = FrameRing(frames, channels)
        self.vad = ValueRing(blocks, 1)
        self.levels = ValueRing(blocks, len(LEVEL_FIELDS))
        self._row = np.zeros(len(LEVEL_FIELDS), dtype=np.float64)

    # --- audio thread -------------------------------------------------------------------
    def publish(self, frame_time: int, inp: np.ndarray, out: np.ndarray, vad: float,
                mic: np.ndarray | None = None, vocals: np.ndarray | None = None) -> None:
        """Called by the audio callback once per block (no allocation, no waiting).
        ``mic`` (frames x 1) and ``vocals`` (frames x channels) only where the stream has them."""
        self.input.write(inp, lossy=True)
        self.output.write(out, lossy=True)
        row = self._row
        block_levels(inp, inp.shape[0], row, 0)
        block_levels(out, out.shape[0], row, 2)
        if mic is not None:
            self.mic.write(mic, lossy=True)
            block_levels(mic, mic.shape[0], row, 4)
        if vocals is not None:
            self.vocals.write(vocals, lossy=True)
        self.levels.push_row(frame_time, row)
        self.vad.push(frame_time, vad)
