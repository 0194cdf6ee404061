"""Streaming overlap-add STFT over ring buffers, jitted with Numba.

Blocks of any size (1 to ``max_block`` frames, changing from call to call) go in; every
time ``hop`` new samples have arrived a spectrum frame comes out. Spectra that are written
back are overlap-added into an output ring, which is read ``latency_samples`` behind the
input, so that identity processing returns the input delayed by exactly that many samples.

Time is counted in absolute samples since the last ``reset()``; ring slots are
``time & (ring_len - 1)``. Nothing is allocated per block: FFTs use rocket-fft's
low-level ``r2c``/``c2r`` into preallocated arrays, and all kernels are ``nogil``.

The transforms and spectra are double precision, or with ``fft32`` single precision (the rings
stay double): pocketfft is 2-3x faster in float32, and complex64 spectra halve the memory
traffic of masking; the output moves by about 1e-7 of full scale. File mode uses it; the live
host keeps double precision. (Frame lengths matter more: the separator picks ones with small
prime factors, :func:`rtsep.dsp.windows.fast_fft_size`.) Windowing and overlap-add run on
contiguous stretches of the rings wherever a frame does not wrap, so that they vectorise.

Array conventions:
    block:  ``(frames, channels)`` float32, time-major like sounddevice's buffers.
    spec:   ``(n_frames, channels, n_bins)`` complex128 (complex64 with ``fft32``),
            ``n_bins = n_fft // 2 + 1``.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
from numba import njit
from rocket_fft import c2r, r2c

from .windows import WindowPair, design_windows

_NJIT = dict(nogil=True, cache=True, fastmath=False, boundscheck=False)
_BATCH_BYTES = 192 * 1024
_POOL_MIN_FRAMES = 4  # fewer frames than this are transformed on the calling thread alone


@njit(**_NJIT)
def _push(block, n_in, in_ring, counters, hop, frame_end):
    """Push ``block[:n_in]`` into ``in_ring``; returns how many hops completed (their last
    sample times go to ``frame_end``).

    ``counters`` = [samples pushed, samples since last frame, non-finite samples seen].
    """
    channels = in_ring.shape[0]
    mask = in_ring.shape[1] - 1
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
            frame_end[n_frames] = pos - 1
            n_frames += 1
    counters[0] = pos
    counters[1] = since
    return n_frames


@njit(**_NJIT)
def _frames(in_ring, frame_end, t0, t1, window, frame_buf, axes, spec_out):
    """Windowed FFT of frames ``t0:t1`` (ending at ``frame_end``) of every channel, up to
    ``len(frame_buf)`` frames per transform call (one batched call is cheaper than as many
    single ones, and gives the same bits). The ring still holds every frame of a block:
    it is longer than a block plus a frame."""
    channels = in_ring.shape[0]
    mask = in_ring.shape[1] - 1
    n_fft = window.shape[0]
    batch = frame_buf.shape[0]
    for b0 in range(t0, t1, batch):
        b1 = min(b0 + batch, t1)
        for c in range(channels):
            for t in range(b0, b1):
                start = (frame_end[t] + 1 - n_fft) & mask
                row = frame_buf[t - b0]
                if start + n_fft <= mask + 1:  # no wrap: a contiguous run, which vectorises
                    seg = in_ring[c, start:start + n_fft]
                    for n in range(n_fft):
                        row[n] = seg[n] * window[n]
                else:
                    for n in range(n_fft):
                        row[n] = in_ring[c, (start + n) & mask] * window[n]
            r2c(frame_buf[:b1 - b0], spec_out[b0:b1, c], axes, True, 1.0, 1)


@njit(**_NJIT)
def _analyze(block, n_in, in_ring, counters, hop, window, frame_buf, axes, spec_out, frame_end):
    """Push ``block[:n_in]``, then emit one spectrum per completed hop; returns their count."""
    n_frames = _push(block, n_in, in_ring, counters, hop, frame_end)
    _frames(in_ring, frame_end, 0, n_frames, window, frame_buf, axes, spec_out)
    return n_frames


@njit(**_NJIT)
def _synthesize(spec, n_frames, frame_end, out_ring, window, tail_len, frame_buf, axes, c0, c1):
    """Inverse-transform ``spec[:n_frames, c0:c1]`` (batched like :func:`_frames`) and
    overlap-add the windowed tails."""
    mask = out_ring.shape[1] - 1
    n_fft = window.shape[0]
    inv_n = frame_buf[0, 0] * 0 + 1.0 / n_fft  # the FFT's scale in the buffer's precision
    first = n_fft - tail_len
    batch = frame_buf.shape[0]
    for b0 in range(0, n_frames, batch):
        b1 = min(b0 + batch, n_frames)
        for c in range(c0, c1):
            c2r(spec[b0:b1, c], frame_buf[:b1 - b0], axes, False, inv_n, 1)
            for t in range(b0, b1):
                start = (frame_end[t] - n_fft + 1 + first) & mask  # where the tail goes
                row = frame_buf[t - b0]
                if start + tail_len <= mask + 1:  # no wrap: vectorises
                    seg = out_ring[c, start:start + tail_len]
                    for n in range(tail_len):
                        seg[n] += row[first + n] * window[first + n]
                else:
                    for n in range(tail_len):
                        out_ring[c, (start + n) & mask] += row[first + n] * window[first + n]


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
        blocks_in_flight: blocks pushed before the oldest is read (3 for a pipeline that
            analyses block k + 1 while block k - 1 is still to be read): sizes the rings.
        fft32: single-precision transforms (see the module's notes).
    """

    def __init__(self, windows: WindowPair, channels: int, max_block: int = 8192, lookahead_frames: int = 0,
                 blocks_in_flight: int = 1, fft32: bool = False):
        self.windows = windows
        self.n_fft = windows.n_fft
        self.hop = windows.hop
        self.n_bins = self.n_fft // 2 + 1
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.lookahead_frames = int(lookahead_frames)
        self.latency_samples = windows.latency_samples + self.lookahead_frames * self.hop
        # Both rings keep every sample still needed while the blocks are in flight.
        ring_len = _next_pow2(max(1, blocks_in_flight) * self.max_block + self.n_fft
                              + self.lookahead_frames * self.hop + 1)
        self.max_frames = self.max_block // self.hop + 1
        self._in_ring = np.zeros((self.channels, ring_len))
        self._out_ring = np.zeros((self.channels, ring_len))
        self._counters = np.zeros(3, dtype=np.int64)
        # Frames transformed per FFT call: a batch of a few frames stays in the L2 cache.
        batch = max(1, min(self.max_frames, _BATCH_BYTES // (8 * self.n_fft)))
        self.fft32 = bool(fft32)
        real = np.float32 if self.fft32 else np.float64
        self._frame_buf = np.zeros((batch, self.n_fft), real)
        self._frame_buf2 = np.zeros((batch, self.n_fft), real)  # the pool thread's (see analyze/synthesize)
        self._scratch = (self._frame_buf, self._frame_buf2)
        self._axes = np.array([1], dtype=np.int64)
        self._analysis = np.ascontiguousarray(windows.analysis)
        self._synthesis = np.ascontiguousarray(windows.synthesis)
        self.spec = np.zeros((self.max_frames, self.channels, self.n_bins),
                             dtype=np.complex64 if self.fft32 else np.complex128)
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

    def analyze(self, block: np.ndarray, pool: Executor | None = None) -> int:
        """Push a ``(frames, channels)`` block; returns how many frames ``spec`` now holds.

        With ``pool`` (an executor with one thread), the second half of the frames is
        transformed on the pool's thread while this one does the first half (the kernels
        release the GIL); the result is the same.
        """
        n = block.shape[0]
        if n > self.max_block:
            raise ValueError(f"block of {n} frames exceeds max_block={self.max_block}")
        if pool is None:
            return self._analyze_kernel(block, n, self.spec, self._frame_end, 0)
        n_frames = _push(block, n, self._in_ring, self._counters, self.hop, self._frame_end)
        half = n_frames // 2
        if n_frames < _POOL_MIN_FRAMES:  # not worth a hand-off
            self._frames_kernel(0, n_frames, self.spec, 0)
            return n_frames
        job = pool.submit(self._frames_kernel, half, n_frames, self.spec, 1)
        self._frames_kernel(0, half, self.spec, 0)
        job.result()
        return n_frames

    def _analyze_kernel(self, block, n, spec, frame_end, scratch):
        return _analyze(block, n, self._in_ring, self._counters, self.hop, self._analysis,
                        self._scratch[scratch], self._axes, spec, frame_end)

    def _frames_kernel(self, t0, t1, spec, scratch):
        _frames(self._in_ring, self._frame_end, t0, t1, self._analysis, self._scratch[scratch], self._axes, spec)

    def _synthesize_kernel(self, spec, n_frames, ends, c0, c1, scratch):
        _synthesize(spec, n_frames, ends, self._out_ring, self._synthesis, self.windows.synthesis_len,
                    self._scratch[scratch], self._axes, c0, c1)

    def analyze_into(self, block: np.ndarray, spec: np.ndarray, frame_end: np.ndarray, scratch: int = 0) -> int:
        """:meth:`analyze` into the caller's ``spec``/``frame_end`` buffers (shaped like
        ``spec``/``frame_end``), on one thread; ``scratch`` 0 for the caller's thread, 1 for
        the pool's (each thread needs its own FFT buffer)."""
        n = block.shape[0]
        if n > self.max_block:
            raise ValueError(f"block of {n} frames exceeds max_block={self.max_block}")
        return self._analyze_kernel(block, n, spec, frame_end, scratch)

    @property
    def frame_end(self) -> np.ndarray:
        """``(max_frames,)`` int64: last input sample index of each frame of the last analyze."""
        return self._frame_end

    def synthesize(self, spec: np.ndarray, n_frames: int, frame_end: np.ndarray | None = None,
                   pool: Executor | None = None) -> None:
        """Overlap-add the first ``n_frames`` spectra of ``spec``, placed at ``frame_end``
        (default: the frames of the last analyze; delayed frames pass their own). With
        ``pool``, the upper half of the channels is done on the pool's thread."""
        ends = self._frame_end if frame_end is None else frame_end
        split = self.channels // 2 if pool is not None and n_frames >= _POOL_MIN_FRAMES else 0
        if split == 0:
            self._synthesize_kernel(spec, n_frames, ends, 0, self.channels, 0)
            return
        job = pool.submit(self._synthesize_kernel, spec, n_frames, ends, split, self.channels, 1)
        self._synthesize_kernel(spec, n_frames, ends, 0, split, 0)
        job.result()

    def synthesize_channels(self, spec: np.ndarray, n_frames: int, frame_end: np.ndarray, c0: int, c1: int,
                            scratch: int = 0) -> None:
        """:meth:`synthesize` of channels ``c0:c1`` only (``scratch`` as in :meth:`analyze_into`)."""
        self._synthesize_kernel(spec, n_frames, frame_end, c0, c1, scratch)

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
             stems_a: np.ndarray | None = None, pos: int | None = None) -> None:
        """Write the ``n_out`` output frames for the block just analysed (or the block that
        ended at input time ``pos``) into ``out`` at the gains of :meth:`set_gains`
        (default: wet only), and, if given, the wet and dry-minus-wet stems."""
        want = stems_v is not None
        sv = stems_v if want else self._dummy
        sa = stems_a if want else self._dummy
        _read(out, n_out, self._out_ring, self._in_ring, self._counters[0] if pos is None else pos,
              self.latency_samples, self._gains, sv, sa, want)
