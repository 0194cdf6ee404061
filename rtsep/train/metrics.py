"""Separation metrics: a fast BSS Eval v3 (``bss_eval_sources``) and a plain SDR.

:class:`BssEval` reproduces ``mir_eval.separation.bss_eval_sources(refs, ests,
compute_permutation=False)`` (512-tap time-invariant distortion filters) but factors the
references' Gram matrix once, so scoring many estimates of the same references (mixture,
oracle, several models) costs a few FFTs and triangular solves each.
``tests/test_metrics.py`` checks it against mir_eval and against a direct least-squares SDR.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, toeplitz


def _db(num, den):
    if den == 0:
        return np.inf
    return 10 * np.log10(num / den)


class BssEval:
    def __init__(self, refs: np.ndarray, flen: int = 512):
        refs = np.asarray(refs, dtype=np.float64)
        self.nsrc, self.nsampl = refs.shape
        self.flen = flen
        self.n = self.nsampl + flen - 1
        self.n_fft = int(2 ** np.ceil(np.log2(self.n)))
        self.refs_pad = np.hstack([refs, np.zeros((self.nsrc, flen - 1))])
        self.sf = np.fft.rfft(self.refs_pad, n=self.n_fft, axis=1)
        nsrc, f = self.nsrc, flen
        G = np.zeros((nsrc * f, nsrc * f))
        for i in range(nsrc):
            for j in range(i, nsrc):
                ssf = np.fft.irfft(self.sf[i] * np.conj(self.sf[j]), n=self.n_fft)
                ss = toeplitz(np.hstack((ssf[0], ssf[-1:-f:-1])), r=ssf[:f])
                G[i * f:(i + 1) * f, j * f:(j + 1) * f] = ss
                G[j * f:(j + 1) * f, i * f:(i + 1) * f] = ss.T
        self._full = self._factor(G)
        self._single = [self._factor(G[i * f:(i + 1) * f, i * f:(i + 1) * f]) for i in range(nsrc)]

    @staticmethod
    def _factor(G):
        try:
            return ("cho", cho_factor(G, lower=False, check_finite=False))
        except np.linalg.LinAlgError:
            return ("lstsq", G)

    @staticmethod
    def _solve(fac, D):
        kind, F = fac
        if kind == "cho":
            return cho_solve(F, D, check_finite=False)
        return np.linalg.lstsq(F, D, rcond=None)[0]

    def _proj(self, idx, fac, sef):
        f = self.flen
        D = np.concatenate([self._xcorr(i, sef) for i in idx])
        C = self._solve(fac, D).reshape(len(idx), f)
        spec = sum(np.fft.rfft(C[k], n=self.n_fft) * self.sf[i] for k, i in enumerate(idx))
        return np.fft.irfft(spec, n=self.n_fft)[:self.n]

    def _xcorr(self, i, sef):
        f = self.flen
        r = np.fft.irfft(self.sf[i] * np.conj(sef), n=self.n_fft)
        return np.hstack((r[0], r[-1:-f:-1]))

    def __call__(self, ests: np.ndarray):
        """``ests`` ``(nsrc, nsampl)`` -> ``(sdr, sir, sar)`` arrays of length nsrc (dB)."""
        ests = np.asarray(ests, dtype=np.float64)
        sdr, sir, sar = (np.zeros(self.nsrc) for _ in range(3))
        allidx = list(range(self.nsrc))
        for j in range(self.nsrc):
            est = np.hstack([ests[j], np.zeros(self.flen - 1)])
            sef = np.fft.rfft(est, n=self.n_fft)
            s_filt = self._proj([j], self._single[j], sef)
            p_all = self._proj(allidx, self._full, sef)
            e_interf = p_all - s_filt
            e_artif = est - p_all
            sdr[j] = _db(np.sum(s_filt ** 2), np.sum((e_interf + e_artif) ** 2))
            sir[j] = _db(np.sum(s_filt ** 2), np.sum(e_interf ** 2))
            sar[j] = _db(np.sum((s_filt + e_interf) ** 2), np.sum(e_artif ** 2))
        return sdr, sir, sar


def sdr_filtered(est: np.ndarray, ref: np.ndarray, flen: int = 512) -> float:
    """Direct SDR with an allowed ``flen``-tap filter of one reference, by least squares.

    Independent of :class:`BssEval` (explicit Toeplitz matrix + ``lstsq``); for short signals.
    Equals BSS Eval's SDR when there is a single reference source.
    """
    n = len(ref) + flen - 1
    A = np.zeros((n, flen))
    for k in range(flen):
        A[k:k + len(ref), k] = ref
    y = np.concatenate([est, np.zeros(flen - 1)])
    c = np.linalg.lstsq(A, y, rcond=None)[0]
    p = A @ c
    return float(10 * np.log10(np.sum(p ** 2) / np.sum((y - p) ** 2)))


def snr(est: np.ndarray, ref: np.ndarray) -> float:
    """Plain SDR without allowed distortion: ``10 log10(|ref|^2 / |ref - est|^2)``."""
    ref = np.asarray(ref, np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - np.asarray(est, np.float64)) ** 2)))
