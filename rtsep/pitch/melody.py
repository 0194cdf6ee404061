"""A song's reference melody: f0 on a regular time grid, growing as it is computed.

``Melody`` is what the score and the GUI read; ``rtsep.pitch.reference.MelodyTracker`` writes it.
"""

from __future__ import annotations

import math

import numpy as np


class Melody:
    """f0 per frame, frame ``i`` at ``(start_index + i) * hop_s`` seconds; 0 Hz = unvoiced.

    ``start_index`` is 0 for a whole melody; a tracker's batch of new frames starts later.

    ``times_s (n,)`` and ``f0_hz (n,)`` are float64 views of the frames computed so far.
    One thread may ``extend`` while others read: a reader always sees a consistent prefix
    (frames are written before the count that publishes them).
    """

    def __init__(self, hop_s: float, f0_hz: np.ndarray | None = None, capacity: int = 0, start_index: int = 0):
        if not (isinstance(hop_s, (int, float)) and math.isfinite(hop_s) and hop_s > 0):
            raise ValueError(f"hop_s must be a positive number, got {hop_s!r}")
        self.hop_s = float(hop_s)
        self.start_index = int(start_index)
        self._f0 = np.zeros(max(int(capacity), 16), np.float64)
        self._n = 0
        if f0_hz is not None:
            self.extend(f0_hz)

    def __len__(self) -> int:
        return self._n

    @property
    def f0_hz(self) -> np.ndarray:
        """``(n,)`` Hz, 0 = unvoiced (a view: do not write)."""
        return self._f0[:self._n]

    @property
    def times_s(self) -> np.ndarray:
        """``(n,)`` frame times in seconds."""
        return (self.start_index + np.arange(self._n)) * self.hop_s

    @property
    def end_s(self) -> float:
        """Time up to which the melody is known (half a hop past the last frame)."""
        return (self.start_index + self._n - 0.5) * self.hop_s if self._n else self.start_index * self.hop_s

    def index(self, time_s: float) -> int:
        """Index into ``f0_hz`` of the frame nearest ``time_s`` (may be out of range)."""
        return int(math.floor(time_s / self.hop_s + 0.5)) - self.start_index

    def at(self, time_s: float) -> float:
        """f0 in Hz of the frame nearest ``time_s``; 0.0 outside the computed frames. O(1), no arrays."""
        i = self.index(time_s)
        if 0 <= i < self._n:
            return float(self._f0[i])
        return 0.0

    def extend(self, f0_hz: np.ndarray) -> None:
        """Append frames (Hz, 0 or NaN = unvoiced). Amortised O(1): the buffer doubles when full."""
        f0 = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
        n, k = self._n, len(f0)
        buf = self._f0
        if n + k > len(buf):
            buf = np.zeros(max(2 * len(buf), n + k), np.float64)
            buf[:n] = self._f0[:n]
        seg = buf[n:n + k]
        seg[:] = f0
        seg[~np.isfinite(seg) | (seg < 0)] = 0.0
        self._f0 = buf  # publish the (possibly new) buffer, then the count
        self._n = n + k

    def voiced_share(self) -> float:
        """Share of frames that are voiced (0 if empty)."""
        return float(np.count_nonzero(self.f0_hz) / self._n) if self._n else 0.0

    def __repr__(self) -> str:
        return f"Melody({self._n} frames, hop {self.hop_s * 1000:.1f} ms, {100 * self.voiced_share():.0f} % voiced)"
