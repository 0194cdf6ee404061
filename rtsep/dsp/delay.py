"""A multichannel integer-sample delay line over a ring buffer (Numba, no allocation)."""

from __future__ import annotations

import numpy as np

from .jit import callback_kernel
from .memory import resident_zeros


@callback_kernel
def _delay(block, n, out, ring, pos_arr, delay):
    mask = ring.shape[0] - 1
    pos = pos_arr[0]
    for j in range(n):
        for c in range(block.shape[1]):
            ring[(pos + j) & mask, c] = block[j, c]
            out[j, c] = ring[(pos + j - delay) & mask, c]
    pos_arr[0] = pos + n


class DelayLine:
    """Delays ``(frames, channels)`` float32 blocks by ``delay_samples``."""

    def __init__(self, delay_samples: int, channels: int, max_block: int = 8192):
        self.delay_samples = int(delay_samples)
        size = 1 << int(self.delay_samples + max_block + 1).bit_length()
        self._ring = resident_zeros((size, channels))  # audio thread: no page faults
        self._pos = np.zeros(1, dtype=np.int64)
        self._out = resident_zeros((max_block, channels))

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        out = self._out[:n]
        _delay(block, n, out, self._ring, self._pos, self.delay_samples)
        return out

    def reset(self) -> None:
        self._ring[:] = 0.0
        self._pos[0] = 0
