"""A gain stage with a de-zippered (per-block ramped) gain change."""

from __future__ import annotations

import numpy as np

from .base import Plugin


class Gain(Plugin):
    """Multiplies the block by ``10 ** (gain_db / 20)``, ramping changes over one block."""

    def __init__(self, gain_db: float = 0.0, channels: int = 2, max_block: int = 8192):
        self.gain_db = float(gain_db)
        self._current = 10.0 ** (self.gain_db / 20.0)
        self.max_block = max_block
        self._out = np.zeros((max_block, channels), dtype=np.float32)
        self._ramp = np.zeros((max_block, 1), dtype=np.float32)

    def _process(self, block: np.ndarray) -> np.ndarray:
        n, ch = block.shape
        if ch != self._out.shape[1]:
            self._out = np.zeros((self.max_block, ch), dtype=np.float32)
        target = 10.0 ** (self.gain_db / 20.0)
        out = self._out[:n]
        if target == self._current:
            np.multiply(block, np.float32(target), out=out)
        else:
            ramp = self._ramp[:n, 0]
            ramp[:] = np.linspace(self._current, target, n + 1, dtype=np.float32)[1:]
            np.multiply(block, self._ramp[:n], out=out)
            self._current = target
        return out

    def reset(self) -> None:
        self._current = 10.0 ** (self.gain_db / 20.0)
