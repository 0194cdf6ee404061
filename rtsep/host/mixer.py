"""The mixer: stems of a song (and the dry song) to the output, with ramped gains.

``out = g_v * vocals + g_a * accompaniment + g_d * dry`` where each mode is a gain triple:
karaoke (0, 1, 0), vocals (1, 0, 0), mix (10^(vocals_db/20), 10^(accompaniment_db/20), 0),
bypass (0, 0, 1). A change of mode or gain moves the triple linearly to its new value over
``ramp`` samples (<= one block), starting with the next block the callback mixes: instant,
never a click. The control thread writes the target and bumps a sequence number; the
callback adopts it at a block boundary (no lock: a torn read only restarts the ramp).
"""

from __future__ import annotations

import numpy as np
from numba import njit

MODES = ("karaoke", "vocals", "mix", "bypass")


@njit(nogil=True, cache=True)
def _mix(v, a, d, n, g_from, g_to, st, step, out):
    """``out[:n] = g . (v, a, d)``; ``st = [w]``, the ramp's position 0..1 from g_from to g_to."""
    w = st[0]
    ch = out.shape[1]
    for i in range(n):
        if w < 1.0:
            w = min(1.0, w + step)
        gv = g_from[0] + w * (g_to[0] - g_from[0])
        ga = g_from[1] + w * (g_to[1] - g_from[1])
        gd = g_from[2] + w * (g_to[2] - g_from[2])
        for c in range(ch):
            out[i, c] = gv * v[i, c] + ga * a[i, c] + gd * d[i, c]
    st[0] = w


@njit(nogil=True, cache=True)
def _retarget(g_from, g_to, target, st):
    """Start a new ramp from the gains reached so far toward ``target``."""
    w = st[0]
    for k in range(3):
        g_from[k] = g_from[k] + w * (g_to[k] - g_from[k])
        g_to[k] = target[k]
    st[0] = 0.0


@njit(nogil=True, cache=True)
def vocal_activity(v, a, n):
    """Per-block vocal activity 0..1 from the stems: 5 x the vocals' share of the energy,
    capped at 1 (the separator's ``VOCAL_SHARE_SCALE``: 10 % of the energy is singing)."""
    ev = 0.0
    ea = 0.0
    for i in range(n):
        for c in range(v.shape[1]):
            ev += v[i, c] * v[i, c]
            ea += a[i, c] * a[i, c]
    if ev + ea <= 1e-12:
        return 0.0
    return min(1.0, 5.0 * ev / (ev + ea))


def mode_gains(mode: str, vocals_db: float, accompaniment_db: float) -> tuple[float, float, float]:
    """``(g_vocals, g_accompaniment, g_dry)`` of a mode (linear)."""
    if mode == "karaoke":
        return 0.0, 1.0, 0.0
    if mode == "vocals":
        return 1.0, 0.0, 0.0
    if mode == "bypass":
        return 0.0, 0.0, 1.0
    if mode == "mix":
        return 10 ** (vocals_db / 20), 10 ** (accompaniment_db / 20), 0.0
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


class StemMixer:
    """Mixes ``(frames, channels)`` vocal, accompaniment and dry blocks (see module doc).

    Attributes:
        applied_at: the stream frame at which the callback adopted the latest target (the
            change is complete ``ramp`` frames later).
    """

    def __init__(self, channels: int, blocksize: int, ramp: int = 64, mode: str = "karaoke",
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0):
        self.ramp = max(1, min(int(ramp), int(blocksize)))
        self._out = np.zeros((blocksize, channels), dtype=np.float32)
        g = np.array(mode_gains(mode, vocals_db, accompaniment_db), dtype=np.float64)
        self._target = g.copy()          # written by the control thread
        self._from = g.copy()            # callback only
        self._to = g.copy()              # callback only
        self._st = np.ones(1, dtype=np.float64)
        self._seq = 0                    # bumped by the control thread after the target
        self._applied_seq = 0
        self.applied_at = 0

    def set(self, mode: str, vocals_db: float, accompaniment_db: float) -> None:
        """Control thread: new target gains."""
        self._target[:] = mode_gains(mode, vocals_db, accompaniment_db)
        self._seq += 1  # publish

    def warm_up(self) -> None:
        z = self._out
        _retarget(self._from.copy(), self._to.copy(), self._target, np.ones(1))
        vocal_activity(z, z, len(z))
        _mix(z, z, z, len(z), self._from, self._to, np.ones(1), 1.0 / self.ramp, z)

    def process(self, v: np.ndarray, a: np.ndarray, d: np.ndarray, n: int, frame: int) -> np.ndarray:
        """Callback: mix ``n`` frames starting at stream ``frame``; returns a view."""
        seq = self._seq
        if seq != self._applied_seq:  # a new target: ramp from where the gains are now
            _retarget(self._from, self._to, self._target, self._st)
            self._applied_seq = seq
            self.applied_at = frame
        out = self._out[:n]
        _mix(v, a, d, n, self._from, self._to, self._st, 1.0 / self.ramp, out)
        return out
