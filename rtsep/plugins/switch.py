"""Switching between the two operating points during a stream, click-free and in time.

The low-latency and the quality separator run side by side on the same input, so each
one's recurrent state is always warm. The low one's output is delayed to the quality one's
latency: both streams are then sample-aligned, the switch's latency never changes, and a
switch is a plain crossfade between two aligned signals. It suits sources whose dry signal
nobody hears (a song file): the extra delay costs nothing there, and the listener can
compare the models live. Live input wants the low model alone (no switch).
"""

from __future__ import annotations

import numpy as np

from ..dsp.crossfade import Crossfade
from ..dsp.delay import DelayLine
from .base import Plugin
from .separator import Separator
from .stems import StemControlled

POINTS = ("low", "quality")


class OperatingPointSwitch(StemControlled, Plugin):
    """Two :class:`Separator` s (``low``, ``quality``) behind one latency-aligned crossfade.

    Mode and gain controls go to both: ``controls`` is the low one's, which passes every
    change on to the quality one's. ``point`` selects the one heard; changes are
    crossfaded over ``fade_ms``. ``latency_samples`` is the larger of the two, always.
    """

    def __init__(self, low: Separator, quality: Separator, point: str = "quality", fade_ms: float = 20.0):
        if (low.sample_rate, low.channels) != (quality.sample_rate, quality.channels):
            raise ValueError("both separators must run at the same rate and channel count")
        if point not in POINTS:
            raise ValueError(f"point must be one of {POINTS}, got {point!r}")
        self.low, self.quality = low, quality
        self.controls = low.controls
        self.controls.subscribe(lambda c: quality.controls.set(c.mode, c.vocals_db, c.accompaniment_db))
        self.sample_rate, self.channels = low.sample_rate, low.channels
        self.max_block = min(low.max_block, quality.max_block)
        self._lat = max(low.latency_samples, quality.latency_samples)
        self._align = {"low": DelayLine(self._lat - low.latency_samples, self.channels, self.max_block),
                       "quality": DelayLine(self._lat - quality.latency_samples, self.channels, self.max_block)}
        self._point = point
        # Weight of the quality output.
        self._fade = Crossfade(self.channels, fade_ms * 1e-3 * self.sample_rate,
                               weight=1.0 if point == "quality" else 0.0, max_block=self.max_block)

    # --- the operating point ------------------------------------------------------------
    @property
    def point(self) -> str:
        return self._point

    @point.setter
    def point(self, value: str) -> None:
        if value not in POINTS:
            raise ValueError(f"point must be one of {POINTS}, got {value!r}")
        self._point = value

    @property
    def active(self) -> Separator:
        return self.quality if self._point == "quality" else self.low

    @property
    def card(self):
        return self.active.card

    @property
    def vad_threshold(self) -> float:
        return self.active.vad_threshold

    @property
    def vad_latest(self) -> float:
        return self.active.vad_latest

    @property
    def latency_samples(self) -> int:
        return self._lat

    def describe(self) -> dict:
        d = self.active.describe()
        d.update(operating_point=self._point, latency_samples=self._lat,
                 latency_ms=1000.0 * self._lat / self.sample_rate,
                 models={p: s.card.name for p, s in (("low", self.low), ("quality", self.quality))})
        return d

    # --- plugin ------------------------------------------------------------------------
    def reset(self) -> None:
        for p in (self.low, self.quality, *self._align.values()):
            p.reset()
        self._fade.weight = 1.0 if self._point == "quality" else 0.0

    def _process(self, block: np.ndarray) -> np.ndarray:
        q = self._align["quality"].process(self.quality._process(block))
        lo = self._align["low"].process(self.low._process(block))
        return self._fade.process(lo, q, 1.0 if self._point == "quality" else 0.0)
