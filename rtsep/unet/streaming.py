"""``StreamingUNet``: the pretrained Spleeter U-Net as a stream with a fixed, exact delay (no threads).

The scheme (issue 23): STFT frames as the offline separator's (4096 points, hop 1024 at 44.1 kHz,
``n_fft`` zeros before the signal). Every ``S`` new frames (a *step*), the network (free time axis,
:mod:`rtsep.unet.dynamic`) sees a window of ``W`` frames: the ``W - P`` newest real frames and
``P`` frames standing in for the unknown future (``future = "mirror"``: the newest frames
reflected; ``"edge"``: P = 0, the window ends at the newest frame). Its masks of the ``S`` frames
that lie ``L`` frames before the newest (``mask = "ratio"``: Spleeter's, from both U-Nets;
``"vocal"``: the vocal U-Net's own sigmoid, the accompaniment U-Net not run) are applied to those
frames' STFT, which are inverted and overlap-added. After a step at frame K the signal is complete up to
``(K - L - 3) * hop``; output advances ``S`` hops per step, so the delay is
``(4 + L + S - 1) * hop - 1`` samples at 44.1 kHz (``latency_samples``).

Vocals are silent above the network's 1024 bins (11 kHz), as the reference's, unless the point
says ``extend_vocals`` (there: the mean vocal mask of the top 128 bins, per frame and channel:
sibilants leave the accompaniment); the accompaniment is the mixture less the vocals, full band
with ``full_band`` (the reference drops the mixture above 11 kHz from the accompaniment: cymbals
go missing), and then the two stems sum to the delayed input.

Other rates are resampled to 44.1 kHz with soxr as :class:`~rtsep.unet.separator.UNetSeparator`
does; the resamplers keep the content aligned, and the output is a fixed ``latency_samples`` behind
the input at the input rate (the resamplers' own buffering is added to it). Mono is duplicated to
stereo and averaged back, odd channels as a duplicated pair, NaN/Inf samples become zeros
(``nonfinite_samples``).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import RtsepError
from .channels import PairedChannels
from .dynamic import TIME_MULTIPLE, dynamic_session
from .ladder import LadderPoint
from .model import ratio_masks
from .separator import unet_model_path
from .stft import HOP, N_BINS, N_FFT, OVERLAP, analyse, overlap_add, synthesise

MODEL_RATE = 44100
BINS = 1024          # F: the network's bins (read from the model card in UNetModel; fixed in this file)
EXTEND_BINS = 128    # extend_vocals: the top bins whose mean vocal mask applies above F
EXPONENT, EPSILON = 2.0, 1e-10


class _Core:
    """The scheme at 44.1 kHz on ``wide`` (even) channels: ``push(samples x wide)`` returns the
    separated stems ``(2, wide, n)`` completed so far, starting at the first input sample (no
    delay padding; the caller adds it)."""

    def __init__(self, point: LadderPoint, wide: int, session, full_band: bool):
        w, p = point.window_frames, point.future_frames
        lk, s = point.lookahead_frames, point.step_frames
        self.real = w - p
        if w % TIME_MULTIPLE or w <= 0:
            raise RtsepError(f"window_frames must be a positive multiple of {TIME_MULTIPLE}, got {w}")
        if s < 1 or lk < 0 or p < 0 or self.real < lk + s + 2:
            raise RtsepError(f"ladder point {point.name}: need S >= 1, L >= 0 and W - P >= L + S + 2")
        self.window, self.future_frames, self.lookahead, self.step = w, p, lk, s
        self.future = point.future
        self.wide = wide
        self.session = session
        self.full_band = full_band
        self.extend = point.extend_vocals
        self.vocal_mask = point.mask == "vocal"
        if point.mask not in ("ratio", "vocal"):
            raise RtsepError(f"ladder point {point.name}: mask must be 'ratio' or 'vocal', got {point.mask!r}")
        self.reset()

    def reset(self) -> None:
        w, s, lk = self.window, self.step, self.lookahead
        self.buf = np.zeros((N_FFT, self.wide), np.float32)  # the last 4 hops: zeros first (n_fft prefix)
        self.fill = 0                                         # samples of the newest hop in buf
        self.frames = 0                                       # K: frames so far (frame 0: the zero prefix)
        self.mag = np.zeros((self.real, BINS, self.wide), np.float32)    # real window frames, newest last
        self.x = np.zeros((w, BINS, 2), np.float32)                      # one pair's network input
        self.spec = np.zeros((self.wide, lk + s, N_BINS), np.complex64)  # STFT of the newest L + S frames
        self.tail = np.zeros((2, self.wide, OVERLAP - 1, HOP), np.float32)
        # The first step (K = S) completes chunks 1 - L .. S - L; chunk c holds the signal's samples
        # (c - 4) * hop.., so chunks below 4 (the zero prefix) are dropped.
        self.skip_chunks = OVERLAP - 1 + lk

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        out = []
        pos = 0
        while pos < len(samples):
            take = min(HOP - self.fill, len(samples) - pos)
            start = (OVERLAP - 1) * HOP + self.fill
            self.buf[start:start + take] = samples[pos:pos + take]
            self.fill += take
            pos += take
            if self.fill == HOP:
                self._frame()
                if self.frames % self.step == 0:
                    done = self._step()
                    if done.shape[-1]:
                        out.append(done)
        return out

    def _frame(self) -> None:
        """The newest 4096 samples make frame K; stored in the rings' slots for this step."""
        self.frames += 1
        k = (self.frames - 1) % self.step
        spec = analyse(self.buf, 1)[:, 0]                           # (wide, N_BINS)
        self.spec[:, self.lookahead + k] = spec
        self.mag[self.real - self.step + k] = np.abs(spec[:, :BINS]).T
        self.buf[:(OVERLAP - 1) * HOP] = self.buf[HOP:]
        self.fill = 0

    def _window(self, pair: int) -> np.ndarray:
        """One stereo pair's network input ``(1, W, F, 2)``: the real frames and the stand-in future."""
        x, r, p = self.x, self.real, self.future_frames
        x[:r] = self.mag[:, :, pair:pair + 2]
        if p:
            if self.future == "mirror":   # frames K+1.. as K-1, K-2, ... (reflected about the newest)
                x[r:] = x[r - 2:r - 2 - p:-1] if r - 2 - p >= 0 else x[r - 2::-1][:p]
            elif self.future == "repeat":
                x[r:] = x[r - 1]
            else:
                x[r:] = 0.0
        return x[None]

    def _step(self) -> np.ndarray:
        lk, s, r = self.lookahead, self.step, self.real
        masks = np.empty((self.wide, s, BINS), np.float32)
        sl = slice(r - lk - s, r - lk)
        for pair in range(0, self.wide, 2):
            x = self._window(pair)
            if self.vocal_mask:  # the network's output is its sigmoid mask times the input
                v = self.session.run(["vocals"], {"magnitude": x})[0][0, sl]
                m = np.divide(v, x[0, sl], out=np.zeros_like(v), where=x[0, sl] > 0)
                masks[pair:pair + 2] = np.clip(m, 0.0, 1.0).transpose(2, 0, 1)
                continue
            v, a = self.session.run(["vocals", "accompaniment"], {"magnitude": x})
            masks[pair:pair + 2] = ratio_masks(v[0, sl], a[0, sl], EXPONENT, EPSILON, first_only=True).transpose(2, 0, 1)
        mix = self.spec[:, :s]                                         # (wide, S, N_BINS)
        both = np.zeros((2, self.wide, s, N_BINS), np.complex64)
        np.multiply(masks, mix[:, :, :BINS], out=both[0, :, :, :BINS])
        if self.extend:  # sibilants above 11 kHz follow the voice's top band, not the accompaniment
            high = masks[:, :, BINS - EXTEND_BINS:].mean(axis=-1, keepdims=True)   # (wide, S, 1)
            np.multiply(high, mix[:, :, BINS:], out=both[0, :, :, BINS:])
        if self.full_band:
            np.subtract(mix, both[0], out=both[1])
        else:
            np.subtract(mix[:, :, :BINS], both[0, :, :, :BINS], out=both[1, :, :, :BINS])
        chunks = overlap_add(synthesise(both))                         # (2, wide, S + 3, HOP)
        chunks[..., :OVERLAP - 1, :] += self.tail
        self.tail = chunks[..., s:, :].copy()
        done = chunks[..., :s, :]
        drop = min(self.skip_chunks, s)
        self.skip_chunks -= drop
        # shift the rings by one step: the next S frames fill the last slots
        self.mag[:r - s] = self.mag[s:].copy()
        self.spec[:, :lk] = self.spec[:, s:].copy()
        return done[..., drop:, :].reshape(2, self.wide, (s - drop) * HOP)


class StreamingUNet(PairedChannels):
    """The U-Net as a fixed-delay stream of ``frames x channels`` float32 blocks (any sizes).

    Args:
        point: the ladder point (window, look-ahead, step, future padding).
        sample_rate: rate of the input and the stems, Hz.
        channels: input (and stem) channels.
        model: U-Net ONNX file (default ``models/unet-2stems.onnx``).
        threads: ONNX Runtime threads for the network.
        full_band: accompaniment keeps the mixture above 11 kHz (default: the point's setting).
        session: an ONNX Runtime session of the dynamic-T U-Net to share (else one is built).
    """

    def __init__(self, point: LadderPoint, sample_rate: int, channels: int, model: str | os.PathLike | None = None,
                 threads: int = 1, *, full_band: bool | None = None, session=None):
        if int(sample_rate) < 1000:
            raise RtsepError(f"sample rate must be at least 1000 Hz, got {sample_rate}")
        if int(channels) < 1:
            raise RtsepError(f"channels must be at least 1, got {channels}")
        self.point = point
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._label = "streaming U-Net"
        self.full_band = point.full_band if full_band is None else bool(full_band)
        self.session = session if session is not None else \
            dynamic_session(unet_model_path(model), threads, vocals_only=point.mask == "vocal")
        self._init_channels(channels)
        self._core = _Core(point, len(self._wide), self.session, self.full_band)
        self.resampled = self.sample_rate != MODEL_RATE
        self.latency_samples, _ = stream_delays(point, self.sample_rate, self.channels)
        self.reset()

    @property
    def step_samples(self) -> int:
        """Input samples per network call (rounded at rates other than 44.1 kHz)."""
        return stream_delays(self.point, self.sample_rate, self.channels, step_only=True)[1]

    def reset(self) -> None:
        """Forget all input: the next push starts a new stream (silence for ``latency_samples``)."""
        self._core.reset()
        if self.resampled:
            import soxr

            wide = len(self._wide)
            self._to_model = soxr.ResampleStream(self.sample_rate, MODEL_RATE, wide, dtype="float32", quality="HQ")
            self._to_input = soxr.ResampleStream(MODEL_RATE, self.sample_rate, 2 * wide, dtype="float32", quality="HQ")
        self._pending: list[np.ndarray] = []  # separated (2, wide, n) at the input rate, not yet output
        self._pending_start = 0             # separated index of the first pending sample
        self._sep_total = 0                 # separated samples so far
        self._next_needed = 0               # separated index the next output sample needs
        self._emitted = 0                   # output samples so far
        self.nonfinite_samples = 0
        self.late_samples = 0               # output samples that were not separated in time (zeros)

    def push(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``block`` ``frames x channels`` (or 1-D for mono) → ``(vocals, accompaniment)``, owned
        float32 arrays of the same shape: output sample n is input sample n - ``latency_samples``
        (zeros before the first)."""
        block = self._check(block)
        wide = block[:, self._wide]
        if self.resampled:
            wide = self._to_model.resample_chunk(wide)
        parts = self._core.push(wide)
        if self.resampled and parts:
            flat = np.concatenate([p.reshape(2 * len(self._wide), -1) for p in parts], axis=1).T
            back = self._to_input.resample_chunk(np.ascontiguousarray(flat))
            parts = [back.T.reshape(2, len(self._wide), len(back))]
        for p in parts:
            self._arrive(p)
        return self._emit(len(block))

    def _arrive(self, part: np.ndarray) -> None:
        """Separated samples ``(2, wide, m)`` (the next ones at the input rate); those whose output
        time has passed (late) are dropped."""
        cut = min(part.shape[-1], max(0, self._next_needed - self._sep_total))
        if not self._pending:
            self._pending_start = self._sep_total + cut
        self._sep_total += part.shape[-1]
        if part.shape[-1] > cut:
            self._pending.append(part[..., cut:])

    def _emit(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``n`` output samples: separated sample ``i - latency`` for output ``i``."""
        out = np.zeros((2, len(self._wide), n), np.float32)
        lo = self._emitted - self.latency_samples        # separated index of the first output
        hi = lo + n
        if self._pending:
            have = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, axis=-1)
            start, end = self._pending_start, self._sep_total
            a, b = max(lo, start), min(hi, end)
            if b > a:
                out[..., a - lo:b - lo] = have[..., a - start:b - start]
            rest = have[..., max(0, hi - start):]
            self._pending = [rest] if rest.shape[-1] else []
            self._pending_start = max(start, hi)
        self.late_samples += max(0, hi - max(self._sep_total, lo, 0))
        self._next_needed = hi
        self._emitted += n
        return self._fold_back(out[0]), self._fold_back(out[1])

    def separate(self, audio: np.ndarray, block_frames: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """File mode: the same stream over the whole ``(frames, channels)`` (or 1-D) array, then
        ``latency_samples`` of silence; the stems aligned to the input, of its shape."""
        audio = np.asarray(audio, np.float32)
        shape = audio.shape
        audio = audio[:, None] if audio.ndim == 1 else audio
        self.reset()
        total = len(audio) + self.latency_samples
        padded = np.concatenate([audio, np.zeros((self.latency_samples, audio.shape[1]), np.float32)])
        parts = [self.push(padded[i:i + block_frames]) for i in range(0, total, block_frames)]
        vocals = np.concatenate([p[0] for p in parts])[self.latency_samples:] if parts else np.zeros((0, self.channels), np.float32)
        accomp = np.concatenate([p[1] for p in parts])[self.latency_samples:] if parts else np.zeros((0, self.channels), np.float32)
        return vocals.reshape(shape), accomp.reshape(shape)


def stream_delays(point: LadderPoint, sample_rate: int, channels: int, step_only: bool = False) -> tuple[int, int]:
    """``(latency_samples, step_samples)`` of a :class:`StreamingUNet` at this point, rate and
    channel count, without building one (no network session): the live worker's host needs them
    when the stream itself lives in the worker's process. ``step_only`` skips the latency (0)."""
    step = round(point.step_frames * HOP * sample_rate / MODEL_RATE)
    if step_only:
        return 0, step
    if sample_rate == MODEL_RATE:
        return point.delay_samples_44k, step
    wide = 2 * ((int(channels) + 1) // 2)  # the network's channels: stereo pairs
    at_input = point.delay_samples_44k * sample_rate / MODEL_RATE
    return math.ceil(at_input) + _resampler_lag(sample_rate, wide), step


def _resampler_lag(rate: int, wide: int) -> int:
    """Input samples by which the two soxr streams (to 44.1 kHz and back) can trail the input,
    found by running them on silence in a few block sizes, plus a margin."""
    import soxr

    worst = 0
    for block in (1, 37, 128, 1000, 4096):
        to_model = soxr.ResampleStream(rate, MODEL_RATE, wide, dtype="float32", quality="HQ")
        back = soxr.ResampleStream(MODEL_RATE, rate, 2 * wide, dtype="float32", quality="HQ")
        fed = got = 0
        for _ in range(max(4, 6000 // block)):
            mid = to_model.resample_chunk(np.zeros((block, wide), np.float32))
            got += len(back.resample_chunk(np.zeros((len(mid), 2 * wide), np.float32)))
            fed += block
            worst = max(worst, fed - got)
    return int(worst * 1.25) + 64
