"""Spleeter's STFT, segment by segment, in numpy/scipy (the same frames as TensorFlow's).

The reference (``spleeter/model/__init__.py``) prepends ``n_fft`` zeros to the waveform, takes
``tf.signal.stft(n_fft=4096, hop=1024, periodic Hann, pad_end=True)``, and inverts with
``tf.signal.inverse_stft`` (irfft, the same Hann window, overlap-add) times 2/3, then drops the
first ``n_fft`` samples. Working in chunks of one hop makes the bookkeeping simple: on the padded
stream ``p`` (``n_fft`` zeros, then the signal), frame ``k`` covers chunks ``k .. k+3`` and writes its
overlap-add output to the same chunks, so chunk ``c`` is complete once frame ``c`` is added, and it
holds the signal's samples ``(c - 4) * hop .. (c - 3) * hop``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

N_FFT = 4096
HOP = 1024
OVERLAP = N_FFT // HOP  # 4 chunks per frame
N_BINS = N_FFT // 2 + 1
WINDOW_COMPENSATION = 2.0 / 3.0  # 1 / sum of the squared Hann window at 75 % overlap


def hann_periodic(n: int) -> np.ndarray:
    """``tf.signal.hann_window(n, periodic=True)`` as float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


WINDOW = hann_periodic(N_FFT)


def analyse(samples: np.ndarray, n_frames: int, workers: int = 1) -> np.ndarray:
    """STFT frames of a ``(samples, channels)`` stretch holding at least
    ``(n_frames - 1) * HOP + N_FFT`` samples: ``(channels, n_frames, N_BINS)`` complex64."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT, axis=0)[::HOP][:n_frames]
    # frames: (n_frames, channels, N_FFT) view; windowed copy channel-first so the FFT axis is last
    return scipy.fft.rfft(frames.transpose(1, 0, 2) * WINDOW, axis=-1, workers=workers)


def synthesise(spec: np.ndarray, workers: int = 1) -> np.ndarray:
    """Windowed inverse frames of ``(..., frames, N_BINS)`` complex spectra, scaled by the window
    compensation: ``(..., frames, N_FFT)`` float32, ready to overlap-add."""
    frames = scipy.fft.irfft(spec, n=N_FFT, axis=-1, workers=workers)
    frames *= WINDOW * np.float32(WINDOW_COMPENSATION)
    return frames


class OverlapAdd:
    """Overlap-adds frames of ``N_FFT`` samples at hop ``HOP``, returning the finished chunks.

    Args:
        shape: the leading shape of the frames, e.g. ``(stems, channels)``.
    """

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)
        self.tail = np.zeros(self.shape + (OVERLAP - 1, HOP), np.float32)

    def add(self, frames: np.ndarray) -> np.ndarray:
        """``frames``: ``shape + (n, N_FFT)``; returns the ``n * HOP`` samples those frames finish,
        ``shape + (n * HOP,)``."""
        n = frames.shape[-2]
        quarters = frames.reshape(self.shape + (n, OVERLAP, HOP))
        acc = np.zeros(self.shape + (n + OVERLAP - 1, HOP), np.float32)
        acc[..., :OVERLAP - 1, :] = self.tail
        for q in range(OVERLAP):
            acc[..., q:q + n, :] += quarters[..., q, :]
        self.tail = acc[..., n:, :].copy()
        return acc[..., :n, :].reshape(self.shape + (n * HOP,))
