"""Centre-channel cancellation: the oldest karaoke trick, a zero-latency stereo plugin.

A lead vocal is usually mixed to the centre (equal in L and R), so it cancels in the side
signal. Outputs, on both channels:

* accompaniment ("karaoke") = side = ``(L - R) / 2``: the voice is gone, and so is everything
  else panned to the centre (bass, kick, snare, often the lead instrument); what remains is
  mono (same on both channels, so it never cancels again when summed to mono);
* vocals = mid = ``(L + R) / 2``: the voice plus everything centre-ish in the
  accompaniment. No cancellation can isolate the voice better than this; it is offered so
  that both modes exist. Note ``vocals + accompaniment`` equals the input on the left
  channel only (``mid + side = L``).

Mono input (one channel) has no side signal: the plugin cannot separate it, warns once
(at construction) and returns the input as the accompaniment (vocals are silence). More than
two channels: only the first two are used as L and R, and the result goes to all channels.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..plugins.base import Plugin
from . import MODES

MONO_WARNING = "centre-channel cancellation needs a stereo input; mono input cannot be separated and passes through as the accompaniment"


class CenterCancel(Plugin):
    """Zero-latency mid/side karaoke; ``mode`` "karaoke" (side) or "vocals" (mid)."""

    latency_samples = 0

    def __init__(self, sample_rate: float, channels: int, mode: str = "karaoke", max_block: int = 8192):
        self.sample_rate = sample_rate
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.mode = mode
        self._out = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._voc = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._acc = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self.mono = self.channels < 2
        if self.mono:
            warnings.warn(MONO_WARNING, RuntimeWarning, stacklevel=2)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._mode = value

    def process(self, block: np.ndarray) -> np.ndarray:
        m = block.shape[0]
        out = self._out[:m]
        if self.mono:
            if self._mode == "karaoke":
                out[:] = block
            else:
                out[:] = 0.0
            return out
        l, r = block[:, 0], block[:, 1]
        col = out[:, 0]
        if self._mode == "karaoke":
            np.subtract(l, r, out=col)
        else:
            np.add(l, r, out=col)
        col *= np.float32(0.5)
        out[:, 1:] = out[:, :1]
        return out

    def process_stems(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both ``(vocals, accompaniment)`` for ``block`` (views of owned buffers)."""
        m = block.shape[0]
        voc, acc = self._voc[:m], self._acc[:m]
        if self.mono:
            voc[:] = 0.0
            acc[:] = block
            return voc, acc
        l, r = block[:, 0], block[:, 1]
        np.subtract(l, r, out=acc[:, 0])
        np.add(l, r, out=voc[:, 0])
        acc[:, 0] *= np.float32(0.5)
        voc[:, 0] *= np.float32(0.5)
        acc[:, 1:] = acc[:, :1]
        voc[:, 1:] = voc[:, :1]
        return voc, acc


def separate_center(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    p = CenterCancel(sample_rate, audio.shape[1], max_block=max(1, len(audio)))
    v, a = p.process_stems(audio)
    return v.copy(), a.copy()
