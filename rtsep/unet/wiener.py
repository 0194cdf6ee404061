"""Multichannel Wiener filter over the U-Net's estimates (sigsep's ``norbert``), per segment.

Spleeter's ``MWF`` setting: ``norbert.wiener(v, x)`` with ``v`` the two U-Net magnitude estimates
(zero above the network's F bins) and ``x`` the mixture STFT, one EM iteration after a soft mask.
The reference filters the whole song at once (its spatial covariances are averaged over every
frame of the song); here each 512-frame segment (11.9 s) is filtered on its own, which keeps the
memory bounded and the stream going.
"""

from __future__ import annotations

import warnings

import numpy as np

from .stft import N_BINS


def wiener_stems(vocals: np.ndarray, accompaniment: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """``vocals``, ``accompaniment``: ``(channels, frames, F)`` magnitude estimates; ``spec``:
    ``(channels, frames, N_BINS)`` complex mixture STFT. Returns the two stems' STFTs,
    ``(2, channels, frames, N_BINS)`` complex64; each stereo pair is filtered on its own."""
    with warnings.catch_warnings():  # norbert 0.2.1 imports a deprecated scipy.ndimage namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        import norbert

    channels, frames, bins = vocals.shape
    out = np.empty((2, channels, frames, N_BINS), np.complex64)
    for c in range(0, channels, 2):
        v = np.zeros((frames, N_BINS, 2, 2), np.float32)  # norbert: (frames, bins, channels, sources)
        v[:, :bins, :, 0] = vocals[c:c + 2].transpose(1, 2, 0)
        v[:, :bins, :, 1] = accompaniment[c:c + 2].transpose(1, 2, 0)
        x = np.array(spec[c:c + 2].transpose(1, 2, 0), np.complex64)  # a copy: norbert scales it in place
        out[:, c:c + 2] = norbert.wiener(v, x).transpose(3, 2, 0, 1)
    return out
