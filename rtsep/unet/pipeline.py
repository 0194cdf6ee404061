"""Spleeter's separation at 44.1 kHz, segment by segment (512 frames each: bounded memory).

Per segment, as ``spleeter/model/__init__.py`` does for the whole song at once: STFT frames,
|X| of the lowest F = 1024 bins → the two U-Nets → ratio masks with exponent 2 (or the
multichannel Wiener filter) → masks extended with zeros above bin F → ``mask * X`` → inverse STFT.
The reference cuts its STFT into segments of T frames (``pad_and_partition``, the last one padded
with zero frames) and runs the network on each independently, so separating the song segment by
segment as it arrives gives the same output as separating it whole.

Segments are independent up to the overlap-add, so with ``concurrent > 1`` whole segments (STFT,
network, masks, inverse frames) run on that many threads at once (ONNX Runtime and the FFTs
release the GIL; the session then gets one thread, which measured 0.18 s per segment against
0.21 s for one two-thread run at a time); only the overlap-add, in order, stays on the caller's
thread. Without the Wiener filter the accompaniment is the band-limited mixture less the vocals
(the two ratio masks sum to one), which saves one of the four inverse FFTs.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .model import UNetModel, ratio_masks
from .stft import HOP, N_BINS, N_FFT, OVERLAP, analyse, overlap_add, synthesise


class SegmentPipeline:
    """Separates a 44.1 kHz stream of ``channels`` (even: stereo pairs) into two stems.

    ``push(samples)`` (``(n, channels)``) and then ``finish()`` return lists of ``(2, channels, n)``
    float32 arrays (stems: vocals, accompaniment), together exactly as long as the input and
    aligned to it.
    """

    def __init__(self, model: UNetModel, channels: int, wiener: bool = False, workers: int = 1,
                 full_band: bool = False, concurrent: int = 1):
        if channels % 2:
            raise ValueError("the U-Net pipeline takes stereo pairs: an even number of channels")
        self.model = model
        self.channels = channels
        self.wiener = wiener
        self.full_band = full_band
        self.workers = workers
        self.frames = model.card.segment_frames
        self.span = (self.frames + OVERLAP - 1) * HOP  # samples that hold T frames
        self.buf = np.zeros((self.span, channels), np.float32)
        self.fill = N_FFT          # the reference prepends one frame of zeros
        self.received = 0          # input samples so far
        self.emitted = 0           # output samples so far
        self.skip = N_FFT          # overlap-add output of the zero prefix, dropped
        self.tail = np.zeros((2, channels, OVERLAP - 1, HOP), np.float32)  # overlap-add carried over
        self._scratch = threading.local()  # per thread: buffers reused segment after segment
        self.concurrent = max(1, int(concurrent))
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()  # segments submitted, oldest first

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        out = []
        pos = 0
        while pos < len(samples):
            take = min(self.span - self.fill, len(samples) - pos)
            self.buf[self.fill:self.fill + take] = samples[pos:pos + take]
            self.fill += take
            pos += take
            if self.fill == self.span:
                out += self._submit(self.frames)
                self._shift()
        self.received += len(samples)
        return [o for o in out if o.shape[-1]]

    def finish(self) -> list[np.ndarray]:
        """The rest: ``pad_end`` frames, the last segment padded with zero frames."""
        out = []
        if self.received:
            self.buf[self.fill:] = 0.0
            left = math.ceil(self.fill / HOP)  # frames still to run (tf.signal.stft pad_end)
            while left > 0:
                n = min(left, self.frames)
                out += self._submit(n)
                self._shift()
                left -= n
        while self._pending:
            out.append(self._collect())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        # Trim what lies past the input's end (pad_end frames and their overlap-add tail).
        excess = self.emitted - self.received
        self.emitted -= excess
        while excess > 0 and out:
            cut = min(excess, out[-1].shape[-1])
            out[-1] = out[-1][..., :out[-1].shape[-1] - cut]
            excess -= cut
            if not out[-1].shape[-1]:
                out.pop()
        return [o for o in out if o.shape[-1]]

    def _shift(self) -> None:
        keep = (OVERLAP - 1) * HOP
        self.buf[:keep] = self.buf[self.frames * HOP:self.frames * HOP + keep]
        self.buf[keep:] = 0.0
        self.fill = keep

    def _submit(self, n: int) -> list[np.ndarray]:
        """Start the segment in the buffer (first ``n`` frames real); returns the samples of
        whatever segments finished meanwhile, in order."""
        if self.concurrent == 1:
            return [self._overlap_add(self._frames(self.buf, n))]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrent, thread_name_prefix="rtsep-unet")
        self._pending.append(self._pool.submit(self._frames, self.buf.copy(), n))
        out = []
        while len(self._pending) > self.concurrent:  # one queued beside the running ones, no more
            out.append(self._collect())
        return out

    def _collect(self) -> np.ndarray:
        """Finish the oldest submitted segment; returns the samples it completes."""
        return self._overlap_add(self._pending.popleft().result())

    def _overlap_add(self, chunks: np.ndarray) -> np.ndarray:
        """Add a segment's chunks ``(2, ch, n + OVERLAP - 1, HOP)`` to the carried tail, in
        segment order; returns the ``n * HOP`` samples it completes (less the zero prefix)."""
        n = chunks.shape[-2] - (OVERLAP - 1)
        chunks[..., :OVERLAP - 1, :] += self.tail
        self.tail = chunks[..., n:, :]
        done = chunks[..., :n, :].reshape(2, self.channels, n * HOP)
        drop = min(self.skip, done.shape[-1])
        self.skip -= drop
        done = done[..., drop:]
        self.emitted += done.shape[-1]
        return done

    def _buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's reused buffers: windowed frames ``(ch, T, N_FFT)``, stem spectra
        ``(2, ch, T, N_BINS)`` and their inverse frames ``(2, ch, T, N_FFT)`` (fresh arrays of
        that size cost a page fault per 4 KB each segment)."""
        bufs = getattr(self._scratch, "bufs", None)
        if bufs is None:
            ch, t = self.channels, self.frames
            bufs = self._scratch.bufs = (np.empty((ch, t, N_FFT), np.float32),
                                         np.zeros((2, ch, t, N_BINS), np.complex64),
                                         np.empty((2, ch, t, N_FFT), np.float32))
        return bufs

    def _frames(self, span: np.ndarray, n: int) -> np.ndarray:
        """One segment: ``span`` ``(samples, ch)`` holding T frames, the first ``n`` real →
        the two stems' overlap-added chunks, ``(2, ch, n + OVERLAP - 1, HOP)`` float32."""
        card = self.model.card
        workers = self.workers if self.concurrent == 1 else 1
        windowed, both, inverse = self._buffers()
        spec = analyse(span, self.frames, workers, scratch=windowed)  # (ch, T, N_BINS) complex64
        mag = np.abs(spec[:, :, :card.bins]).transpose(1, 2, 0)       # (T, F, ch)
        est = [self.model.run(np.ascontiguousarray(mag[:, :, c:c + 2])) for c in range(0, self.channels, 2)]
        # (ch, n, F) each
        vocals = np.concatenate([e[0] for e in est], axis=-1)[:n].transpose(2, 0, 1)
        accomp = np.concatenate([e[1] for e in est], axis=-1)[:n].transpose(2, 0, 1)
        if self.wiener:
            from .wiener import wiener_stems

            stems = wiener_stems(vocals, accomp, spec[:, :n])         # (2, ch, n, N_BINS)
            if self.full_band:
                stems[0, :, :, card.bins:] = 0.0
                stems[1, :, :, card.bins:] = spec[:, :n, card.bins:]
            return overlap_add(synthesise(stems, workers))
        mask = ratio_masks(vocals, accomp, card.exponent, card.epsilon, first_only=True)  # (ch, n, F)
        # Spectra: the vocals (mask_extension "zeros": silent above F) and the mixture the
        # accompaniment comes from, band-limited to F as the reference's or whole (full_band).
        # Bins above F stay zero in the reused buffer unless full_band writes them.
        np.multiply(mask, spec[:, :n, :card.bins], out=both[0, :, :n, :card.bins])
        if self.full_band:
            both[1, :, :n] = spec[:, :n]
        else:
            both[1, :, :n, :card.bins] = spec[:, :n, :card.bins]
        if n == self.frames:
            frames = synthesise(both, out=inverse)                   # (2, ch, n, N_FFT)
        else:  # the last, shorter segment
            frames = synthesise(both[:, :, :n], workers)
        frames[1] -= frames[0]                                        # accompaniment = mixture - vocals
        return overlap_add(frames)
