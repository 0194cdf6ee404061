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


def analyse(samples: np.ndarray, n_frames: int, workers: int = 1, scratch: np.ndarray | None = None
            ) -> np.ndarray:
    """STFT frames of a ``(samples, channels)`` stretch holding at least
    ``(n_frames - 1) * HOP + N_FFT`` samples: ``(channels, n_frames, N_BINS)`` complex64.
    ``scratch``: an optional ``(channels, n_frames, N_FFT)`` float32 buffer for the windowed frames."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT, axis=0)[::HOP][:n_frames]
    # frames: (n_frames, channels, N_FFT) view; windowed copy channel-first so the FFT axis is last
    windowed = np.multiply(frames.transpose(1, 0, 2), WINDOW, out=scratch)
    return scipy.fft.rfft(windowed, axis=-1, workers=workers, overwrite_x=True)


def synthesise(spec: np.ndarray, workers: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Windowed inverse frames of ``(..., frames, N_BINS)`` complex spectra, scaled by the window
    compensation: ``(..., frames, N_FFT)`` float32, ready to overlap-add. ``out``: an optional
    buffer of that shape (then numpy's FFT, which can write into it, runs; one thread)."""
    if out is None:
        frames = scipy.fft.irfft(spec, n=N_FFT, axis=-1, workers=workers)
    else:
        frames = np.fft.irfft(spec, n=N_FFT, axis=-1, out=out)
    frames *= WINDOW * np.float32(WINDOW_COMPENSATION)
    return frames


def overlap_add(frames: np.ndarray) -> np.ndarray:
    """Overlap-adds ``(..., n, N_FFT)`` frames at hop ``HOP`` on their own: ``(..., n + OVERLAP - 1,
    HOP)`` float32 chunks (chunk ``c`` holds frames ``c - 3 .. c``); the first and last
    ``OVERLAP - 1`` chunks still lack the neighbouring segments' frames."""
    n = frames.shape[-2]
    quarters = frames.reshape(frames.shape[:-2] + (n, OVERLAP, HOP))
    acc = np.zeros(frames.shape[:-2] + (n + OVERLAP - 1, HOP), np.float32)
    for q in range(OVERLAP):
        acc[..., q:q + n, :] += quarters[..., q, :]
    return acc
