"""Latency-compensated dry/wet bypass: switching never clicks and never shifts timing."""

from __future__ import annotations

import numpy as np

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
        self._mix = float(wet)
        self._fade_step = 1.0 / max(1.0, fade_ms * 1e-3 * sample_rate)
        self._dry = DelayLine(plugin.latency_samples, channels, max_block)
        self._out = np.zeros((max_block, channels), dtype=np.float32)
        self._ramp = np.zeros((max_block, 1), dtype=np.float32)
        self._tmp = np.zeros((max_block, channels), dtype=np.float32)
        self._index = np.arange(1, max_block + 1, dtype=np.float32)

    @property
    def latency_samples(self) -> int:
        return self.plugin.latency_samples

    @property
    def bypass(self) -> bool:
        return self.wet == 0.0

    @bypass.setter
    def bypass(self, value: bool) -> None:
        self.wet = 0.0 if value else 1.0

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        wet = self.plugin.process(block)
        dry = self._dry.process(block)
        out = self._out[:n]
        target = self.wet
        if self._mix == target:
            if target == 1.0:
                out[:] = wet
            elif target == 0.0:
                out[:] = dry
            else:
                np.subtract(wet, dry, out=out)
                out *= np.float32(target)
                out += dry
            return out
        ramp = self._ramp[:n, 0]
        step = self._fade_step if target > self._mix else -self._fade_step
        # Linear ramp from the current mix toward the target, clamped at the target.
        np.multiply(self._index[:n], np.float32(step), out=ramp)
        ramp += np.float32(self._mix)
        if step > 0:
            np.minimum(ramp, np.float32(target), out=ramp)
        else:
            np.maximum(ramp, np.float32(target), out=ramp)
        self._mix = float(ramp[n - 1])
        tmp = self._tmp[:n]
        np.subtract(wet, dry, out=tmp)
        np.multiply(tmp, self._ramp[:n], out=out)
        out += dry
        return out

    def reset(self) -> None:
        self.plugin.reset()
        self._dry.reset()
        self._mix = self.wet
