"""Spleeter's separation at 44.1 kHz, one 512-frame segment at a time (bounded memory).

Per segment, as ``spleeter/model/__init__.py`` does for the whole song at once: STFT frames,
|X| of the lowest F = 1024 bins → the two U-Nets → ratio masks with exponent 2 (or the
multichannel Wiener filter) → masks extended with zeros above bin F → ``mask * X`` → inverse STFT.
The reference cuts its STFT into segments of T frames (``pad_and_partition``, the last one padded
with zero frames) and runs the network on each independently, so separating the song segment by
segment as it arrives gives the same output as separating it whole.
"""

from __future__ import annotations

import math

import numpy as np

from .model import UNetModel, ratio_masks
from .stft import HOP, N_BINS, N_FFT, OVERLAP, OverlapAdd, analyse, synthesise


class SegmentPipeline:
    """Separates a 44.1 kHz stream of ``channels`` (even: stereo pairs) into two stems.

    ``push(samples)`` (``(n, channels)``) and then ``finish()`` return lists of ``(2, channels, n)``
    float32 arrays (stems: vocals, accompaniment), together exactly as long as the input and
    aligned to it.
    """

    def __init__(self, model: UNetModel, channels: int, wiener: bool = False, workers: int = 1,
                 full_band: bool = False):
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
        self.ola = OverlapAdd((2, channels))
        self._stems = np.zeros((2, channels, self.frames, N_BINS), np.complex64)  # (stems, ch, T, bins)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        out = []
        pos = 0
        while pos < len(samples):
            take = min(self.span - self.fill, len(samples) - pos)
            self.buf[self.fill:self.fill + take] = samples[pos:pos + take]
            self.fill += take
            pos += take
            if self.fill == self.span:
                out.append(self._segment(self.frames))
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
                out.append(self._segment(n))
                self._shift()
                left -= n
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

    def _segment(self, n: int) -> np.ndarray:
        """Run one segment whose first ``n`` frames are real; returns the finished samples."""
        card = self.model.card
        spec = analyse(self.buf, self.frames, self.workers)          # (ch, T, N_BINS) complex64
        mag = np.abs(spec[:, :, :card.bins]).transpose(1, 2, 0)       # (T, F, ch)
        est = [self.model.run(np.ascontiguousarray(mag[:, :, c:c + 2])) for c in range(0, self.channels, 2)]
        # (ch, n, F) each
        vocals = np.concatenate([e[0] for e in est], axis=-1)[:n].transpose(2, 0, 1)
        accomp = np.concatenate([e[1] for e in est], axis=-1)[:n].transpose(2, 0, 1)
        if self.wiener:
            from .wiener import wiener_stems

            stems = wiener_stems(vocals, accomp, spec[:, :n])         # (2, ch, n, N_BINS)
        else:
            masks = ratio_masks(vocals, accomp, card.exponent, card.epsilon)   # (2, ch, n, F)
            # mask_extension "zeros": bins above F stay silent in both stems (kept zero in the buffer).
            stems = self._stems[:, :, :n]
            np.multiply(masks, spec[None, :, :n, :card.bins], out=stems[..., :card.bins])
        if self.full_band:  # beyond the reference: the bins above F go to the accompaniment, not away
            stems[0, :, :, card.bins:] = 0.0
            stems[1, :, :, card.bins:] = spec[:, :n, card.bins:]
        done = self.ola.add(synthesise(stems, self.workers))            # (2, ch, n * HOP)
        drop = min(self.skip, done.shape[-1])
        self.skip -= drop
        done = done[..., drop:]
        self.emitted += done.shape[-1]
        return done
