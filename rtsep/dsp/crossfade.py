"""A linear crossfade between two time-aligned signals, allocation-free."""

from __future__ import annotations

import numpy as np


class Crossfade:
    """``out = a + w * (b - a)`` where the weight ``w`` moves linearly toward ``target``
    by at most ``1 / fade_samples`` per sample, so a change of target is a fade, never a step.

    Args:
        channels: columns of the ``(frames, channels)`` blocks.
        fade_samples: samples a full 0 -> 1 fade takes.
        weight: initial weight of ``b``.
    """

    def __init__(self, channels: int, fade_samples: float, weight: float = 1.0, max_block: int = 8192):
        self.weight = float(weight)
        self._step = 1.0 / max(1.0, float(fade_samples))
        self._out = np.zeros((max_block, channels), np.float32)
        self._tmp = np.zeros((max_block, channels), np.float32)
        self._ramp = np.zeros((max_block, 1), np.float32)
        self._index = np.arange(1, max_block + 1, dtype=np.float32)

    def process(self, a: np.ndarray, b: np.ndarray, target: float) -> np.ndarray:
        """Blend the ``(n, channels)`` blocks ``a`` and ``b``; returns a view of an owned buffer."""
        n = a.shape[0]
        out = self._out[:n]
        if self.weight == target:
            if target == 1.0:
                np.copyto(out, b)
            elif target == 0.0:
                np.copyto(out, a)
            else:
                np.subtract(b, a, out=out)
                out *= np.float32(target)
                out += a
            return out
        ramp = self._ramp[:n, 0]
        step = self._step if target > self.weight else -self._step
        np.multiply(self._index[:n], np.float32(step), out=ramp)
        ramp += np.float32(self.weight)
        # Clamp at the target; snap to it exactly so the steady-state path above takes over.
        if step > 0:
            np.minimum(ramp, np.float32(target), out=ramp)
        else:
            np.maximum(ramp, np.float32(target), out=ramp)
        self.weight = float(target) if ramp[n - 1] == np.float32(target) else float(ramp[n - 1])
        tmp = self._tmp[:n]
        np.subtract(b, a, out=tmp)
        np.multiply(tmp, self._ramp[:n], out=out)
        out += a
        return out
