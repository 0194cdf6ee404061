"""Log-frequency dB spectrograms for display (GUI and plots)."""

from __future__ import annotations

import numpy as np


def log_frequency_matrix(n_bins: int, sample_rate: float, n_rows: int = 200, f_min_hz: float = 40.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """A ``(n_rows, n_bins)`` matrix mapping linear FFT bins to log-spaced rows, and the
    ``(n_rows,)`` centre frequencies in Hz (triangular weights, each row sums to 1)."""
    f_max = sample_rate / 2
    edges = np.geomspace(f_min_hz, f_max, n_rows + 2)
    bin_hz = np.linspace(0, f_max, n_bins)
    m = np.zeros((n_rows, n_bins), dtype=np.float32)
    for r in range(n_rows):
        lo, c, hi = edges[r], edges[r + 1], edges[r + 2]
        w = np.clip(np.minimum((bin_hz - lo) / (c - lo), (hi - bin_hz) / (hi - c)), 0, None)
        if w.sum() == 0:  # narrower than one bin: take the nearest bin
            w[np.argmin(np.abs(bin_hz - c))] = 1.0
        m[r] = w / w.sum()
    return m, edges[1:-1]


def spectrogram_db(audio: np.ndarray, sample_rate: float, n_fft: int = 2048, hop: int = 512,
                   n_rows: int = 200, floor_db: float = -100.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frames, n_rows)`` dB spectrogram on a log-frequency axis of a ``(frames,)`` or
    ``(frames, channels)`` signal (channel mean), with frame times (s) and row frequencies (Hz)."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n_frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    win = np.hanning(n_fft)
    power = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2 / (win.sum() ** 2 / 4)
    m, freqs = log_frequency_matrix(n_fft // 2 + 1, sample_rate, n_rows)
    db = 10 * np.log10(np.maximum(power @ m.T, 10 ** (floor_db / 10)))
    times = (np.arange(n_frames) * hop + n_fft / 2) / sample_rate
    return db.astype(np.float32), times, freqs
