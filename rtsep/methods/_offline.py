"""Whole-file masking on top of the streaming STFT, so offline methods share its exact framing.

Every offline method here (RPCA, ideal masks) runs the same :class:`StreamingStft` that the
live plugins and the network use: pass 1 analyses the file and keeps what the method needs
(e.g. the mono magnitude); pass 2 analyses it again, multiplies each frame by its vocal mask,
overlap-adds, and reads the vocal (wet) and accompaniment (dry - wet) stems. The input is
padded with ``latency_samples`` zeros and the output shifted back, so both stems are aligned
sample-for-sample with the input and ``vocals + accompaniment == input`` (to float32
rounding) whatever the mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..dsp.stft import StreamingStft

CHUNK = 8192


@dataclass(frozen=True)
class Setup:
    """An STFT setup: ``n_fft``, ``hop``, ``synthesis_len`` (``latency = synthesis_len - 1``)."""

    n_fft: int
    hop: int
    synthesis_len: int

    @classmethod
    def coerce(cls, setup) -> "Setup":
        """Accept a Setup, an ``(n_fft, hop, synthesis_len)`` tuple, or anything with those
        attributes (e.g. :class:`rtsep.model.onnx_model.ModelCard`)."""
        if isinstance(setup, Setup):
            return setup
        if isinstance(setup, (tuple, list)):
            n_fft, hop, syn = setup
            return cls(int(n_fft), int(hop), int(syn if syn is not None else n_fft))
        return cls(int(setup.n_fft), int(setup.hop), int(setup.synthesis_len))


def default_setup(sample_rate: float, window_s: float = 0.04, overlap: int = 4) -> Setup:
    """Symmetric sqrt-Hann setup, ``n_fft`` = the power of two at or above ``window_s``
    (REPET's 40 ms), hop ``n_fft / overlap``: 1024/256 at 16 kHz (the frames Huang et al.
    2012 used for RPCA), 2048/512 at 44.1 and 48 kHz."""
    n_fft = 1 << int(np.ceil(np.log2(max(sample_rate * window_s, 2.0))))
    return Setup(n_fft, n_fft // overlap, n_fft)


def make_stft(setup: Setup, channels: int) -> StreamingStft:
    return StreamingStft.from_setup(setup.n_fft, setup.hop, setup.synthesis_len, channels, max_block=CHUNK)


def _padded(audio: np.ndarray, latency: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    x = np.zeros((len(audio) + latency, audio.shape[1]), dtype=np.float32)
    x[:len(audio)] = audio
    return x


def analyze_all(audio: np.ndarray, setup: Setup, reduce: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run the STFT over the whole (latency-padded) file; ``reduce(spec[:n])`` of each chunk,
    concatenated along time. ``spec`` chunks are ``(n, channels, bins)`` complex128."""
    x = _padded(audio, setup.synthesis_len - 1)
    stft = make_stft(setup, x.shape[1])
    parts = []
    for i in range(0, len(x), CHUNK):
        n = stft.analyze(x[i:i + CHUNK])
        if n:
            parts.append(np.asarray(reduce(stft.spec[:n])))
    if not parts:
        return np.zeros((0,))
    return np.concatenate(parts, axis=0)


def mono_magnitude(spec: np.ndarray) -> np.ndarray:
    """``|mean over channels|`` of ``(n, channels, bins)`` spectra -> ``(n, bins)`` float32."""
    return np.abs(spec.mean(axis=1)).astype(np.float32)


def apply_vocal_mask(audio: np.ndarray, setup: Setup, vocal_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask the file's STFT with ``vocal_mask`` (``(frames, bins)`` applied to every channel,
    or ``(frames, channels, bins)``); returns ``(vocals, accompaniment)`` aligned with
    ``audio``, each ``(frames, channels)`` float32, accompaniment = input - vocals."""
    latency = setup.synthesis_len - 1
    x = _padded(audio, latency)
    stft = make_stft(setup, x.shape[1])
    voc = np.zeros_like(x)
    acc = np.zeros_like(x)
    tmp = np.zeros((CHUNK, x.shape[1]), dtype=np.float32)
    t0 = 0
    per_channel = vocal_mask.ndim == 3
    for i in range(0, len(x), CHUNK):
        blk = x[i:i + CHUNK]
        m = len(blk)
        n = stft.analyze(blk)
        if n:
            spec = stft.spec[:n]
            mk = vocal_mask[t0:t0 + n]
            spec *= mk if per_channel else mk[:, None, :]
            stft.synthesize(spec, n)
            t0 += n
        stft.read(tmp[:m], m, stems_v=voc[i:i + m], stems_a=acc[i:i + m])
    return np.ascontiguousarray(voc[latency:]), np.ascontiguousarray(acc[latency:])
