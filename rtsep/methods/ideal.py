"""Ideal (oracle) masks from the true stems: the upper bounds of any mask-based separator.

Computed with the same :class:`~rtsep.dsp.stft.StreamingStft` framing as the network (pass the
network's setup, e.g. its ``ModelCard``, as ``setup``) so the bound is for the same
time-frequency tiling, window and latency:

* binary: vocal mask = ``|V| > |A|``;
* ratio: vocal mask = ``|V|^p / (|V|^p + |A|^p)`` with ``p = 2`` by default (the
  Wiener-like ratio mask; ``p = 1`` gives the magnitude ratio).

``|V|``, ``|A|`` are the magnitudes of the stems' STFTs. By default (``per_channel=False``)
they are taken of the channel means and one mask is applied to every channel, like the
network (which masks with one mono-derived mask); ``per_channel=True`` gives each channel
its own mask (a higher bound for stereo). The accompaniment is the mixture minus the vocals.
"""

from __future__ import annotations

import numpy as np

from ._offline import Setup, analyze_all, apply_vocal_mask, default_setup, mono_magnitude


def _as2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[:, None] if x.ndim == 1 else x


def ideal_mask(kind: str, mixture: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray,
               sample_rate: float, setup=None, per_channel: bool = False,
               power: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """``(vocals_est, accompaniment_est)`` of the ideal ``kind`` ("binary" or "ratio") mask,
    each ``(frames, channels)`` float32 aligned with ``mixture``."""
    if kind not in ("binary", "ratio"):
        raise ValueError(f"ideal mask kind must be 'binary' or 'ratio', got {kind!r}")
    mixture, vocals, accompaniment = _as2d(mixture), _as2d(vocals), _as2d(accompaniment)
    if not (mixture.shape == vocals.shape == accompaniment.shape):
        raise ValueError(f"shapes differ: {mixture.shape}, {vocals.shape}, {accompaniment.shape}")
    setup = Setup.coerce(setup) if setup is not None else default_setup(sample_rate)
    reduce = (lambda s: np.abs(s).astype(np.float32)) if per_channel else mono_magnitude
    V = analyze_all(vocals, setup, reduce)
    A = analyze_all(accompaniment, setup, reduce)
    if kind == "binary":
        mask = (V > A).astype(np.float32)
    else:
        vp, ap = V.astype(np.float64) ** power, A.astype(np.float64) ** power
        den = vp + ap
        mask = np.divide(vp, den, out=np.zeros_like(den), where=den > 0).astype(np.float32)
    return apply_vocal_mask(mixture, setup, mask)
