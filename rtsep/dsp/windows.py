"""Analysis/synthesis window pairs for the streaming STFT.

A pair (``analysis``, ``synthesis``), both of length ``n_fft``, reconstructs perfectly
with hop ``hop`` when ``sum_k analysis[n + k*hop] * synthesis[n + k*hop] == 1`` for
every ``n``. The algorithmic latency of the overlap-add is set by how many of the
synthesis window's *last* samples are non-zero (``synthesis_len``), not by ``n_fft``:

    latency_samples = synthesis_len - 1

so an asymmetric pair (long analysis window for frequency resolution, short synthesis
window for delay; Mauler & Martin, 2007) cuts the delay far below the window length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def periodic_hann(length: int) -> np.ndarray:
    """Periodic Hann window (sums to a constant at hop ``length/2``)."""
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


@dataclass(frozen=True)
class WindowPair:
    """An analysis/synthesis window pair and the STFT setup it belongs to.

    Attributes:
        analysis: ``(n_fft,)`` float64 analysis window.
        synthesis: ``(n_fft,)`` float64 synthesis window, zero except its last
            ``synthesis_len`` samples.
        n_fft: frame length in samples.
        hop: hop size in samples.
        synthesis_len: number of non-zero synthesis samples at the end of the frame.
    """

    analysis: np.ndarray
    synthesis: np.ndarray
    n_fft: int
    hop: int
    synthesis_len: int

    @property
    def latency_samples(self) -> int:
        return self.synthesis_len - 1


def design_windows(n_fft: int, hop: int, synthesis_len: int | None = None) -> WindowPair:
    """Design a perfectly reconstructing window pair.

    Args:
        n_fft: analysis frame length in samples.
        hop: hop in samples; ``synthesis_len`` must be a multiple of it.
        synthesis_len: length of the non-zero tail of the synthesis window.
            ``None`` or ``n_fft`` gives the symmetric square-root-Hann pair (latency
            ``n_fft - 1``); a shorter value gives the asymmetric low-delay pair.
    """
    if synthesis_len is None:
        synthesis_len = n_fft
    if not (0 < hop <= synthesis_len <= n_fft):
        raise ValueError(f"need 0 < hop <= synthesis_len <= n_fft, got {hop}, {synthesis_len}, {n_fft}")
    if synthesis_len % hop:
        raise ValueError(f"synthesis_len {synthesis_len} must be a multiple of hop {hop}")
    m = synthesis_len
    if m == n_fft:
        analysis = np.sqrt(periodic_hann(n_fft))
        synthesis = analysis.copy()
    else:
        # Long rising half of a sqrt-Hann, then the short falling half of a sqrt-Hann of
        # length m: the frame ends like a short window so the product below is smooth.
        rise_len = n_fft - m // 2
        rise = np.sqrt(periodic_hann(2 * rise_len))[:rise_len]
        fall = np.sqrt(periodic_hann(m))[m // 2:]
        analysis = np.concatenate([rise, fall])
        synthesis = np.zeros(n_fft)
        tail = analysis[n_fft - m:]
        # analysis * synthesis == Hann(m) on the tail, which overlap-adds to a constant.
        synthesis[n_fft - m:] = periodic_hann(m) / np.maximum(tail, 1e-12)
    # Normalise so that the overlap-added product is exactly one.
    prod = analysis * synthesis
    cola = np.zeros(hop)
    for k in range(0, n_fft, hop):
        seg = prod[k:k + hop]
        cola[:len(seg)] += seg
    synthesis = synthesis / cola.mean()
    return WindowPair(analysis, synthesis, n_fft, hop, m)


_FAST_FACTORS = (2, 3, 5, 7, 11)


def _smooth(n: int) -> bool:
    for p in _FAST_FACTORS:
        while n % p == 0:
            n //= p
    return n == 1


def fast_fft_size(target: float) -> int:
    """The even FFT length nearest ``target`` whose prime factors are all <= 11.

    Frames scaled from a model's rate to the stream's rarely have such a length (1024 at
    16 kHz is 2,822 = 2 * 17 * 83 at 44.1 kHz), and a large prime factor makes every transform
    slow: 2,822 points take 3.4x the time of 2,816 = 2^8 * 11 (``pocketfft`` float32). The
    nearest such length is within 0.3 % of any target above 1,000 (the model's bins then sit
    that much off their frequencies: 4 cents for 2,816). Ties go to the longer length."""
    base = int(round(target))
    base += base % 2
    for d in range(0, base, 2):
        for n in (base + d, base - d):
            if n >= 2 and _smooth(n):
                return n
    return max(2, base)
