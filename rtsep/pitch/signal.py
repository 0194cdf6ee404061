"""Input checks shared by the pitch trackers: one mono float32 signal from ``frames`` or
``frames x channels`` audio, or a one-line :class:`PitchError`."""

from __future__ import annotations

import numpy as np

from ..errors import RtsepError

MIN_RATE_HZ = 1000


class PitchError(RtsepError):
    """The audio handed to a pitch tracker is unusable (wrong shape or rate)."""


def check_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate < MIN_RATE_HZ:
        raise PitchError(f"sample rate must be an integer >= {MIN_RATE_HZ} Hz, got {sample_rate!r}")
    return int(sample_rate)


def as_mono(audio: np.ndarray) -> np.ndarray:
    """``frames`` or ``frames x channels`` -> a new float32 ``(frames,)`` (channel mean), NaN/Inf zeroed."""
    audio = np.asarray(audio)
    if audio.ndim == 2:
        if audio.shape[1] == 0:
            raise PitchError("audio has no channels")
        audio = audio.mean(axis=1, dtype=np.float64)
    elif audio.ndim != 1:
        raise PitchError(f"audio must be frames or frames x channels, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.number):
        raise PitchError(f"audio must be numeric, got {audio.dtype}")
    mono = np.array(audio, dtype=np.float32)  # always a copy: callers may keep it
    np.nan_to_num(mono, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return mono
