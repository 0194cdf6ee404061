"""RPCA singing-voice separation (Huang, Chen, Smaragdis & Hasegawa-Johnson, ICASSP 2012). Files only.

The mono magnitude spectrogram ``M`` (bins x frames) is split as ``M = L + S`` by principal
component pursuit, solved with the inexact augmented Lagrange multiplier method (IALM, Lin,
Chen & Ma 2010, the code Huang et al. used): ``L`` is low-rank (the repetitive
accompaniment), ``S`` sparse (the voice), ``lambda = 1 / sqrt(max(m, n))``. The vocal mask is
binary, ``|S| > gain * |L|`` (gain 1 in the paper), or soft, ``|S| / (|S| + |L|)``; it is
applied to every channel's spectrum, and the accompaniment is the input minus the vocals.

RPCA needs the whole spectrogram (non-causal), and one SVD per iteration grows with the
number of frames, so long files are cut into segments of at most ``segment_s`` seconds that
are decomposed separately (the STFT and the masking stay global: no seams).
"""

from __future__ import annotations

import numpy as np

from ._offline import Setup, analyze_all, apply_vocal_mask, default_setup, mono_magnitude


def _svd(x: np.ndarray):
    try:
        return np.linalg.svd(x, full_matrices=False)
    except np.linalg.LinAlgError:  # gesdd rarely fails to converge; gesvd is slower but robust
        import scipy.linalg

        return scipy.linalg.svd(x, full_matrices=False, lapack_driver="gesvd")


def ialm_rpca(D: np.ndarray, lam: float | None = None, tol: float = 1e-7, max_iter: int = 500,
              rho: float = 1.5) -> tuple[np.ndarray, np.ndarray, int]:
    """Robust PCA by inexact ALM: ``D = L + S`` with ``L`` low-rank, ``S`` sparse.

    Follows Lin et al.'s ``inexact_alm_rpca``: ``Y0 = D / max(||D||_2, ||D||_inf / lam)``,
    ``mu0 = 1.25 / ||D||_2``, ``mu <- min(rho * mu, 1e7 * mu0)``; stops when
    ``||D - L - S||_F / ||D||_F < tol``. Returns ``(L, S, iterations)``.
    """
    D = np.asarray(D, dtype=np.float64)
    m, n = D.shape
    if lam is None:
        lam = 1.0 / np.sqrt(max(m, n))
    d_norm = np.linalg.norm(D)
    if d_norm == 0.0:
        return np.zeros_like(D), np.zeros_like(D), 0
    norm_two = _svd(D)[1][0]
    norm_inf = np.abs(D).max() / lam
    Y = D / max(norm_two, norm_inf)
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    L = np.zeros_like(D)
    S = np.zeros_like(D)
    it = 0
    for it in range(1, max_iter + 1):
        T = D - L + Y / mu
        S = np.maximum(T - lam / mu, 0.0) + np.minimum(T + lam / mu, 0.0)
        U, sig, Vt = _svd(D - S + Y / mu)
        r = int(np.count_nonzero(sig > 1.0 / mu))
        L = (U[:, :r] * (sig[:r] - 1.0 / mu)) @ Vt[:r]
        Z = D - L - S
        Y += mu * Z
        mu = min(mu * rho, mu_bar)
        if np.linalg.norm(Z) / d_norm < tol:
            break
    return L, S, it


def mask_from_parts(L: np.ndarray, S: np.ndarray, gain: float = 1.0, soft: bool = False) -> np.ndarray:
    """Vocal mask from the low-rank and sparse parts (any matching shapes), float32."""
    aS, aL = np.abs(S), np.abs(L)
    if soft:
        den = aS + aL
        return np.divide(aS, den, out=np.zeros_like(den), where=den > 0).astype(np.float32)
    return (aS > gain * aL).astype(np.float32)


def rpca_vocal_mask(mag: np.ndarray, gain: float = 1.0, soft: bool = False, lam: float | None = None,
                    tol: float = 1e-7, max_iter: int = 500) -> np.ndarray:
    """Vocal mask ``(frames, bins)`` from a magnitude spectrogram ``(frames, bins)``."""
    L, S, _ = ialm_rpca(mag.T, lam=lam, tol=tol, max_iter=max_iter)
    return mask_from_parts(L.T, S.T, gain, soft)


def decompose(audio: np.ndarray, sample_rate: float, setup=None, segment_s: float = 30.0, tol: float = 1e-7,
              max_iter: int = 500) -> tuple[Setup, np.ndarray, np.ndarray]:
    """``(setup, L, S)``: the low-rank and sparse parts ``(frames, bins)`` of the file's mono
    magnitude spectrogram, segment by segment (see the module docstring)."""
    setup = Setup.coerce(setup) if setup is not None else default_setup(sample_rate)
    mag = analyze_all(audio, setup, mono_magnitude).astype(np.float64)
    L = np.zeros_like(mag)
    S = np.zeros_like(mag)
    if len(mag):
        seg = max(16, int(segment_s * sample_rate / setup.hop))
        n_seg = -(-len(mag) // seg)
        bounds = np.linspace(0, len(mag), n_seg + 1).round().astype(int)  # equal-sized segments
        for a, b in zip(bounds[:-1], bounds[1:]):
            l, s, _ = ialm_rpca(mag[a:b].T, tol=tol, max_iter=max_iter)
            L[a:b], S[a:b] = l.T, s.T
    return setup, L, S


def separate_rpca(audio: np.ndarray, sample_rate: float, setup=None, gain: float = 1.0, soft: bool = False,
                  segment_s: float = 30.0, tol: float = 1e-7, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``(vocals, accompaniment)`` of a whole ``(frames, channels)`` file, aligned with it.

    ``setup`` defaults to a symmetric sqrt-Hann frame of the power of two at or above 40 ms
    with hop 1/4 (1024/256 at 16 kHz, as in Huang et al. 2012; 2048/512 at 44.1/48 kHz).
    Binary mask ``|S| > gain * |L|`` (``gain=1`` as published) or, with ``soft``,
    ``|S| / (|S| + |L|)``."""
    setup, L, S = decompose(audio, sample_rate, setup, segment_s, tol, max_iter)
    return apply_vocal_mask(audio, setup, mask_from_parts(L, S, gain, soft))
