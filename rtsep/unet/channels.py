"""Channels of the U-Net separators: the network takes stereo pairs, so mono is duplicated to
stereo and averaged back, more channels go as pairs (an odd last one as a duplicated pair), and
NaN/Inf samples become zeros (counted in ``nonfinite_samples``)."""

from __future__ import annotations

import numpy as np

from ..errors import RtsepError


class PairedChannels:
    """Mixin: ``_init_channels(channels)`` then ``_check(block)`` / ``_fold_back(stem)``."""

    channels: int
    _label = "U-Net separator"

    def _init_channels(self, channels: int) -> None:
        self.channels = int(channels)
        # Network channels: stereo pairs of input channels (mono / odd last: duplicated).
        self._wide = [c for pair in range(0, self.channels, 2) for c in (pair, min(pair + 1, self.channels - 1))]
        fold = np.zeros((len(self._wide), self.channels), np.float32)
        for w, c in enumerate(self._wide):
            fold[w, c] = 1.0
        self._fold = fold / fold.sum(axis=0)  # duplicated channels are averaged back
        self._identity = self._wide == list(range(self.channels))
        self.nonfinite_samples = 0

    def _fold_back(self, stem: np.ndarray) -> np.ndarray:
        """``(wide, n)`` network channels → owned ``(n, channels)`` (duplicates averaged)."""
        if self._identity:
            return np.ascontiguousarray(stem.T)
        return np.ascontiguousarray(stem.T @ self._fold)

    def _check(self, block: np.ndarray) -> np.ndarray:
        """A block as ``frames x channels`` float32 with non-finite samples zeroed."""
        block = np.asarray(block, np.float32)
        if block.ndim == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise RtsepError(f"{self._label} expects blocks of frames x {self.channels} channels, "
                             f"got shape {block.shape}")
        finite = np.isfinite(block)
        if not finite.all():
            self.nonfinite_samples += int(block.size - np.count_nonzero(finite))
            block = np.where(finite, block, np.float32(0.0))
        return block
