"""Streaming overlap-add STFT over ring buffers, jitted with Numba.

Blocks of any size (1 to ``max_block`` frames, changing from call to call) go in; every
time ``hop`` new samples have arrived a spectrum frame comes out. Spectra that are written
back are overlap-added into an output ring, which is read ``latency_samples`` behind the
input, so that identity processing returns the input delayed by exactly that many samples.

Time is counted in absolute samples since the last ``reset()``; ring slots are
``time & (ring_len - 1)``. Nothing is allocated per block: FFTs use rocket-fft's
low-level ``r2c``/``c2r`` into preallocated arrays, and all kernels are ``nogil``.

Array conventions:
    block:  ``(frames, channels)`` float32, time-major like sounddevice's buffers.
    spec:   ``(n_frames, channels, n_bins)`` complex128, ``n_bins = n_fft // 2 + 1``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from rocket_fft import c2r, r2c

from .windows import WindowPair, design_windows

_NJIT = dict(nogil=True, cache=True, fastmath=False, boundscheck=False)


@njit(**_NJIT)
def _analyze(block, n_in, in_ring, counters, hop, window, frame_buf, axes, spec_out, frame_end):
    """Push ``block[:n_in]`` into ``in_ring``; emit one spectrum per completed hop.

    ``counters`` = [samples pushed, samples since last frame, non-finite samples seen].
    Returns the number of frames written to ``spec_out`` (their end times to ``frame_end``).
    """
    channels = in_ring.shape[0]
    mask = in_ring.shape[1] - 1
    n_fft = window.shape[0]
    pos = counters[0]
    since = counters[1]
    n_frames = 0
    for j in range(n_in):
        for c in range(channels):
            v = np.float64(block[j, c])
            if not np.isfinite(v):
                # NaN/Inf would poison the recurrent state and every later frame.
                v = 0.0
                counters[2] += 1
            in_ring[c, pos & mask] = v
        pos += 1
        since += 1
        if since == hop:
            since = 0
            start = pos - n_fft
            for c in range(channels):
                for n in range(n_fft):
                    frame_buf[n] = in_ring[c, (start + n) & mask] * window[n]
                r2c(frame_buf, spec_out[n_frames, c], axes, True, 1.0, 1)
            frame_end[n_frames] = pos - 1
            n_frames += 1
    counters[0] = pos
    counters[1] = since
    return n_frames


@njit(**_NJIT)
def _synthesize(spec, n_frames, frame_end, out_ring, window, tail_len, frame_buf, axes):
    """Inverse-transform ``spec[:n_frames]`` and overlap-add the windowed tails."""
    channels = out_ring.shape[0]
    mask = out_ring.shape[1] - 1
    n_fft = window.shape[0]
    inv_n = 1.0 / n_fft
    first = n_fft - tail_len
    for t in range(n_frames):
        start = frame_end[t] - n_fft + 1
        for c in range(channels):
            c2r(spec[t, c], frame_buf, axes, False, inv_n, 1)
            for n in range(first, n_fft):
                out_ring[c, (start + n) & mask] += frame_buf[n] * window[n]


@njit(**_NJIT)
def _read(out, n_out, out_ring, in_ring, pos, latency, gains, stems_v, stems_a, want_stems):
    """Write ``n_out`` output frames ending at input time ``pos``.

    ``out = g_wet * wet + g_dry * dry`` where wet is the overlap-added signal and dry the
    input, both ``latency`` samples late. ``gains`` = [g_wet, g_dry, target_wet,
    target_dry, max_step]: the gains move toward their targets by at most ``max_step`` per
    sample, so a change of mode is a short crossfade, never a click. With ``want_stems``
    the wet signal and ``dry - wet`` are also written to ``stems_v`` and ``stems_a``.
    Read slots are cleared for the next pass around the ring.
    """
    channels = out_ring.shape[0]
    mask = out_ring.shape[1] - 1
    g_wet = gains[0]
    g_dry = gains[1]
    step = gains[4]
    for j in range(n_out):
        g_wet += min(max(gains[2] - g_wet, -step), step)
        g_dry += min(max(gains[3] - g_dry, -step), step)
        t = pos - n_out + j - latency
        slot = t & mask
        for c in range(channels):
            w = out_ring[c, slot]
            out_ring[c, slot] = 0.0
            d = in_ring[c, slot] if t >= 0 else 0.0
            out[j, c] = g_wet * w + g_dry * d
            if want_stems:
                stems_v[j, c] = w
                stems_a[j, c] = d - w
    gains[0] = g_wet
    gains[1] = g_dry


def _next_pow2(n: int) -> int:
    return 1 << (int(n) - 1).bit_length()


class StreamingStft:
    """Streaming analysis + overlap-add synthesis for ``channels`` channels.

    Usage per block: ``n = analyze(block)``; modify ``spec[:n]`` (or write another
    ``(n, channels, n_bins)`` array); ``synthesize(spec, n)``; ``read(out, len(block))``.

    Args:
        windows: the analysis/synthesis pair (see :func:`design_windows`).
        channels: number of audio channels.
        max_block: largest block, in frames, that one call may carry.
        lookahead_frames: frames by which synthesis may lag analysis (a model with
            look-ahead writes frame ``t - lookahead_frames`` at step ``t``); adds
            ``lookahead_frames * hop`` samples of latency.
    """

    def __init__(self, windows: WindowPair, channels: int, max_block: int = 8192, lookahead_frames: int = 0):
        self.windows = windows
        self.n_fft = windows.n_fft
        self.hop = windows.hop
        self.n_bins = self.n_fft // 2 + 1
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.lookahead_frames = int(lookahead_frames)
        self.latency_samples = windows.latency_samples + self.lookahead_frames * self.hop
        # Both rings keep every sample still needed while a whole block is in flight.
        ring_len = _next_pow2(self.max_block + self.n_fft + self.lookahead_frames * self.hop + 1)
        self.max_frames = self.max_block // self.hop + 1
        self._in_ring = np.zeros((self.channels, ring_len))
        self._out_ring = np.zeros((self.channels, ring_len))
        self._counters = np.zeros(3, dtype=np.int64)
        self._frame_buf = np.zeros(self.n_fft)
        self._axes = np.array([0], dtype=np.int64)
        self._analysis = np.ascontiguousarray(windows.analysis)
        self._synthesis = np.ascontiguousarray(windows.synthesis)
        self.spec = np.zeros((self.max_frames, self.channels, self.n_bins), dtype=np.complex128)
        self._frame_end = np.zeros(self.max_frames, dtype=np.int64)
        self._dummy = np.zeros((1, self.channels), dtype=np.float32)
        self._gains = np.array([1.0, 0.0, 1.0, 0.0, 0.0])  # wet, dry, targets, step

    @classmethod
    def from_setup(cls, n_fft: int, hop: int, synthesis_len: int | None, channels: int, max_block: int = 8192,
                   lookahead_frames: int = 0):
        return cls(design_windows(n_fft, hop, synthesis_len), channels, max_block, lookahead_frames)

    @property
    def samples_pushed(self) -> int:
        return int(self._counters[0])

    @property
    def nonfinite_samples(self) -> int:
        """Count of NaN/Inf input samples replaced by zero since ``reset()``."""
        return int(self._counters[2])

    def reset(self) -> None:
        self._in_ring[:] = 0.0
        self._out_ring[:] = 0.0
        self._counters[:] = 0
        self._gains[0:2] = self._gains[2:4]

    def analyze(self, block: np.ndarray) -> int:
        """Push a ``(frames, channels)`` block; returns how many frames ``spec`` now holds."""
        n = block.shape[0]
        if n > self.max_block:
            raise ValueError(f"block of {n} frames exceeds max_block={self.max_block}")
        return _analyze(block, n, self._in_ring, self._counters, self.hop, self._analysis,
                        self._frame_buf, self._axes, self.spec, self._frame_end)

    @property
    def frame_end(self) -> np.ndarray:
        """``(max_frames,)`` int64: last input sample index of each frame of the last analyze."""
        return self._frame_end

    def synthesize(self, spec: np.ndarray, n_frames: int, frame_end: np.ndarray | None = None) -> None:
        """Overlap-add the first ``n_frames`` spectra of ``spec``, placed at ``frame_end``
        (default: the frames of the last analyze; delayed frames pass their own)."""
        _synthesize(spec, n_frames, self._frame_end if frame_end is None else frame_end, self._out_ring,
                    self._synthesis,
                    self.windows.synthesis_len, self._frame_buf, self._axes)

    def set_gains(self, wet_gain: float, dry_gain: float, ramp_samples: int = 0) -> None:
        """Target output ``wet_gain * wet + dry_gain * dry``, reached linearly in
        ``ramp_samples`` samples (0: at once)."""
        g = self._gains
        if ramp_samples <= 0:
            g[0], g[1] = wet_gain, dry_gain
            g[4] = 0.0
        else:
            g[4] = max(abs(wet_gain - g[0]), abs(dry_gain - g[1]), 1e-9) / ramp_samples
        g[2], g[3] = wet_gain, dry_gain

    def set_stem_gains(self, vocals_gain: float, accompaniment_gain: float, ramp_samples: int = 0) -> None:
        """Output ``vocals_gain * wet + accompaniment_gain * (dry - wet)``: the wet signal is
        the vocal estimate and the rest of the delayed input the accompaniment."""
        self.set_gains(vocals_gain - accompaniment_gain, accompaniment_gain, ramp_samples)

    def read(self, out: np.ndarray, n_out: int, stems_v: np.ndarray | None = None,
             stems_a: np.ndarray | None = None) -> None:
        """Write the ``n_out`` output frames for the block just analysed into ``out`` at the
        gains of :meth:`set_gains` (default: wet only), and, if given, the wet and
        dry-minus-wet stems."""
        want = stems_v is not None
        sv = stems_v if want else self._dummy
        sa = stems_a if want else self._dummy
        _read(out, n_out, self._out_ring, self._in_ring, self._counters[0], self.latency_samples,
              self._gains, sv, sa, want)
