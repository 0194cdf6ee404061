"""Multichannel Wiener filter over the U-Net's estimates (sigsep's ``norbert``), per segment.

Spleeter's ``MWF`` setting: ``norbert.wiener(v, x)`` with ``v`` the two U-Net magnitude estimates
(zero above the network's F bins) and ``x`` the mixture STFT, one EM iteration after a soft mask.
The reference filters the whole song at once (its spatial covariances are averaged over every
frame of the song); here each 512-frame segment (11.9 s) is filtered on its own, which keeps the
memory bounded and the stream going.
"""

from __future__ import annotations

import numpy as np

from .stft import N_BINS


def wiener_stems(vocals: np.ndarray, accompaniment: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """``vocals``, ``accompaniment``: ``(frames, F, channels)`` magnitude estimates; ``spec``:
    ``(frames, N_BINS, channels)`` complex mixture STFT. Returns the two stems' STFTs,
    ``(frames, N_BINS, 2, channels)`` complex64; each stereo pair is filtered on its own."""
    import norbert

    frames, bins, channels = vocals.shape
    out = np.empty((frames, N_BINS, 2, channels), np.complex64)
    for c in range(0, channels, 2):
        v = np.zeros((frames, N_BINS, 2, 2), np.float32)  # (frames, bins, channels, sources)
        v[:, :bins, :, 0] = vocals[:, :, c:c + 2]
        v[:, :bins, :, 1] = accompaniment[:, :, c:c + 2]
        y = norbert.wiener(v, np.array(spec[:, :, c:c + 2], np.complex64))  # x is scaled in place
        out[:, :, :, c:c + 2] = y.transpose(0, 1, 3, 2)
    return out
