"""Centre-channel cancellation: the oldest karaoke trick, a zero-latency stereo plugin.

A lead vocal is usually mixed to the centre (equal in L and R), so it cancels in the side
signal. Outputs, on both channels:

* accompaniment ("karaoke") = side = ``(L - R) / 2``: the voice is gone, and so is everything
  else panned to the centre (bass, kick, snare, often the lead instrument); what remains is
  mono (same on both channels, so it never cancels again when summed to mono);
* vocals = mid = ``(L + R) / 2``: the voice plus everything centre-ish in the
  accompaniment. No cancellation can isolate the voice better than this; it is offered so
  that both modes exist. Note ``vocals + accompaniment`` equals the input on the left
  channel only (``mid + side = L``);
* mix: ``10^(vocals_db/20) * mid + 10^(accompaniment_db/20) * side``.

Mode and gain changes take effect at the next block, without a ramp unless ``fade_ms``.

Mono input (one channel) has no side signal: the plugin cannot separate it, warns once
(at construction) and returns the input as the accompaniment (vocals are silence). More than
two channels: only the first two are used as L and R, and the result goes to all channels.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit

from ..plugins.base import Plugin, deliver
from ..plugins.stems import StemControlled, StemControls

MONO_WARNING = "centre-channel cancellation needs a stereo input; mono input cannot be separated and passes through as the accompaniment"


@njit(nogil=True, cache=True)
def _mid_side(block, n, voc, acc):
    """``voc[:n]`` = mid, ``acc[:n]`` = side of channels 0 and 1, on every channel (no temporaries)."""
    for i in range(n):
        l = block[i, 0]
        r = block[i, 1]
        m = (l + r) * np.float32(0.5)
        s = (l - r) * np.float32(0.5)
        for c in range(voc.shape[1]):
            voc[i, c] = m
            acc[i, c] = s


class CenterCancel(StemControlled, Plugin):
    """Zero-latency mid/side karaoke; ``mode`` "karaoke" (side), "vocals" (mid) or "mix"."""

    latency_samples = 0

    def __init__(self, sample_rate: float, channels: int, mode: str = "karaoke", max_block: int = 8192,
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0, fade_ms: float = 0.0):
        self.sample_rate = sample_rate
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.controls = StemControls(mode, vocals_db, accompaniment_db,
                                     ramp_samples=int(fade_ms * 1e-3 * sample_rate))
        self._ramp = self.controls.ramp()
        self._out = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._voc = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._acc = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self.mono = self.channels < 2
        if self.mono:
            warnings.warn(MONO_WARNING, RuntimeWarning, stacklevel=2)

    def _stems(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(vocals, accompaniment)`` of ``block``: views of owned buffers."""
        m = block.shape[0]
        voc, acc = self._voc[:m], self._acc[:m]
        if self.mono:
            voc[:] = 0.0
            acc[:] = block
            return voc, acc
        _mid_side(block, m, voc, acc)
        return voc, acc

    def _process(self, block: np.ndarray) -> np.ndarray:
        voc, acc = self._stems(block)
        return self._ramp.mix(voc, acc, self._out[:block.shape[0]])

    def process_stems(self, block: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Both ``(vocals, accompaniment)`` for ``block``: new arrays, or the two ``out`` filled."""
        got = self._stems(block)
        if out is None:
            return got[0].copy(), got[1].copy()
        return deliver(got[0], out[0]), deliver(got[1], out[1])

    def reset(self) -> None:
        self._ramp.reset()


def separate_center(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    p = CenterCancel(sample_rate, audio.shape[1], max_block=max(1, len(audio)))
    return p.process_stems(audio)
