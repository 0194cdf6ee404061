"""Latency-compensated dry/wet bypass: switching never clicks and never shifts timing."""

from __future__ import annotations

import numpy as np

from ..dsp.crossfade import Crossfade
from ..dsp.delay import DelayLine
from .base import Plugin


class DryWet(Plugin):
    """Wraps ``plugin``; blends its output with the input delayed by the same latency.

    ``wet`` (0..1) is the target blend; changes are ramped linearly over ``fade_ms`` so a
    bypass toggle is a crossfade between two signals that are already time-aligned.
    ``bypass = True`` is ``wet = 0``. The wrapped plugin keeps running while bypassed so
    its state (e.g. a recurrent network's) is warm when it comes back.
    """

    def __init__(self, plugin: Plugin, channels: int, sample_rate: float, wet: float = 1.0,
                 fade_ms: float = 10.0, max_block: int = 8192):
        self.plugin = plugin
        self.sample_rate = sample_rate
        self.max_block = max_block
        self.wet = float(wet)
        self._dry = DelayLine(plugin.latency_samples, channels, max_block)
        self._fade = Crossfade(channels, fade_ms * 1e-3 * sample_rate, weight=self.wet, max_block=max_block)

    @property
    def latency_samples(self) -> int:
        return self.plugin.latency_samples

    @property
    def bypass(self) -> bool:
        return self.wet == 0.0

    @bypass.setter
    def bypass(self, value: bool) -> None:
        self.wet = 0.0 if value else 1.0

    def _process(self, block: np.ndarray) -> np.ndarray:
        wet = self.plugin._process(block)
        dry = self._dry.process(block)
        return self._fade.process(dry, wet, self.wet)

    def reset(self) -> None:
        self.plugin.reset()
        self._dry.reset()
        self._fade.weight = self.wet
