"""librosa's pYIN on one stretch of samples, each voiced frame refined by YIN: the step that the
live tracker (``reference.MelodyTracker``) and the file command's whole-song melody (``song``)
share, each with its own settings."""

from __future__ import annotations

import warnings

import numpy as np

PYIN_BETA = (2.0, 18.0)  # librosa's prior over YIN thresholds (mean 0.1), for clean voices


def pyin_refined(seg: np.ndarray, sample_rate: int, frame_length: int, hop: int, fmin_hz: float, fmax_hz: float,
                 resolution: float, beta: tuple[float, float] = PYIN_BETA) -> np.ndarray:
    """f0 in Hz (0 = unvoiced) of frame ``i`` = ``seg[i * hop : i * hop + frame_length]`` (``center=False``).

    pYIN's f0 is its HMM's grid bin (up to half a bin off); YIN's parabolic-interpolated estimate of
    the same frame replaces it when the two agree within one bin (``resolution`` semitones).
    """
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f0, voiced, _ = librosa.pyin(seg, fmin=fmin_hz, fmax=fmax_hz, sr=sample_rate, frame_length=frame_length,
                                     hop_length=hop, center=False, resolution=resolution,
                                     beta_parameters=beta)
        fine = librosa.yin(seg, fmin=fmin_hz, fmax=fmax_hz, sr=sample_rate, frame_length=frame_length,
                           hop_length=hop, center=False)
    out = np.where(voiced, f0, 0.0)
    out[~np.isfinite(out)] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        agree = np.abs(np.log2(fine[:len(out)] / out)) < resolution / 12
    out[agree] = fine[:len(out)][agree]
    return out
