"""The mixer: stems of a song (and the dry song) to the output, with ramped gains.

``out = g_v * vocals + g_a * accompaniment + g_d * dry``: the gains of the mode and the
``vocals_db`` / ``accompaniment_db`` controls (:mod:`rtsep.plugins.stems`, shared by every
separator, with ``bypass``: the dry song). A change moves the gains linearly to their new
values over ``ramp`` samples (<= one block), starting with the next block the callback mixes:
instant, never a click (:class:`~rtsep.plugins.stems.StemRamp`: no lock, a torn read only
restarts the ramp).
"""

from __future__ import annotations

import numpy as np

from ..dsp.jit import callback_kernel
from ..plugins.stems import HOST_MODES as MODES
from ..plugins.stems import VOCAL_SHARE_SCALE, StemControls


@callback_kernel
def vocal_activity(v, a, n):
    """Per-block vocal activity 0..1 from the stems: ``VOCAL_SHARE_SCALE`` x the vocals' share of
    the energy, capped at 1."""
    ev = 0.0
    ea = 0.0
    for i in range(n):
        for c in range(v.shape[1]):
            ev += v[i, c] * v[i, c]
            ea += a[i, c] * a[i, c]
    if ev + ea <= 1e-12:
        return 0.0
    return min(1.0, VOCAL_SHARE_SCALE * ev / (ev + ea))


class StemMixer:
    """Mixes ``(frames, channels)`` vocal, accompaniment and dry blocks (see module doc).

    Attributes:
        controls: the :class:`~rtsep.plugins.stems.StemControls` (``HOST_MODES``) it follows.
        applied_at: the stream frame at which the callback adopted the latest target (the
            change is complete ``ramp`` frames later).
    """

    def __init__(self, channels: int, blocksize: int, ramp: int = 64, mode: str = "karaoke",
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0):
        self.ramp = max(1, min(int(ramp), int(blocksize)))
        self.controls = StemControls(mode, vocals_db, accompaniment_db, modes=MODES, ramp_samples=self.ramp)
        self._ramp = self.controls.ramp()
        self._out = np.zeros((blocksize, channels), dtype=np.float32)
        self.applied_at = 0

    def set(self, mode: str, vocals_db: float, accompaniment_db: float) -> None:
        """Control thread: new target gains."""
        self.controls.set(mode, vocals_db, accompaniment_db)

    def warm_up(self) -> None:
        z = self._out
        vocal_activity(z, z, len(z))
        self._ramp.warm_up()

    def process(self, v: np.ndarray, a: np.ndarray, d: np.ndarray, n: int, frame: int) -> np.ndarray:
        """Callback: mix ``n`` frames starting at stream ``frame``; returns a view."""
        if self._ramp.adopt():  # a new target: ramp from where the gains are now
            self.applied_at = frame
        return self._ramp.mix(v, a, self._out[:n], d)
