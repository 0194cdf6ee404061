"""A short song made by this project's own code, for ``rtsep demo`` and the tests.

No third-party audio: the accompaniment is synthesised chords, bass and drums; the voice is
a glottal-pulse source with vibrato through vowel formant filters, singing a melody in
phrases with rests, panned to the centre. The stems are returned separately, so the demo
can show what the separator should find.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

# (F1, F2, F3) in Hz of a few vowels, for the formant filters.
_VOWELS = {"a": (800, 1150, 2900), "e": (400, 1600, 2700), "i": (300, 2300, 3000),
           "o": (450, 800, 2830), "u": (325, 700, 2530)}


def _resonator(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([1 - r], a, x)


def _note_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def make_demo_clip(sample_rate: int = 44100, seconds: float = 12.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Returns ``{"mixture", "vocals", "accompaniment"}`` float32 ``(frames, 2)`` and
    ``"vocal_active"`` bool ``(frames,)``; ``mixture = vocals + accompaniment``."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = int(seconds * sr)
    t = np.arange(n) / sr
    beat = 0.5  # 120 bpm
    acc = np.zeros((n, 2))
    # Chords: a I-vi-IV-V loop of detuned saw-ish tones, panned wide.
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    for i in range(int(seconds / (4 * beat)) + 1):
        s, e = int(i * 4 * beat * sr), min(n, int((i + 1) * 4 * beat * sr))
        if s >= n:
            break
        tt = t[s:e] - t[s]
        env = np.minimum(1, tt / 0.02) * np.exp(-tt * 0.8)
        for k, note in enumerate(chords[i % 4]):
            f = _note_hz(note - 12)
            tone = sum(np.sin(2 * np.pi * h * f * tt * (1 + 0.002 * (k - 1))) / h for h in range(1, 8))
            pan = (0.2, 0.5, 0.8)[k]
            acc[s:e, 0] += 0.05 * env * tone * (1 - pan)
            acc[s:e, 1] += 0.05 * env * tone * pan
        # Bass on the root, centre.
        fb = _note_hz(chords[i % 4][0] - 24)
        acc[s:e] += (0.12 * env * np.sin(2 * np.pi * fb * tt))[:, None]
    # Drums: kick on beats, noise hi-hat on off-beats (a repeating loop).
    for b in range(int(seconds / beat * 2)):
        s = int(b * beat / 2 * sr)
        if s >= n:
            break
        L = min(n - s, int(0.25 * sr))
        tt = np.arange(L) / sr
        if b % 2 == 0:
            kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
            acc[s:s + L] += 0.3 * kick[:, None]
        hat = rng.standard_normal(L) * np.exp(-tt * 60)
        hat = np.diff(hat, prepend=0.0)
        acc[s:s + L, 0] += 0.03 * hat * 0.7
        acc[s:s + L, 1] += 0.03 * hat * 0.3
    # Voice: phrases of 4 notes with rests between, vibrato, vowel formants.
    melody = [67, 69, 71, 72, 71, 69, 67, 64, 65, 67, 69, 67, 64, 62, 60, 62]
    vowels = "aeioua"
    f0 = np.zeros(n)
    amp = np.zeros(n)
    vowel_idx = np.zeros(n, dtype=int)
    active = np.zeros(n, dtype=bool)
    phrase_len, rest = 4 * beat * 2, 2 * beat
    k = 0
    start = 1.0
    while start + phrase_len <= seconds:
        for j in range(4):
            s = int((start + j * 2 * beat) * sr)
            e = int((start + (j + 1) * 2 * beat - 0.05) * sr)
            f0[s:e] = _note_hz(melody[k % len(melody)])
            tt = np.arange(e - s) / sr
            amp[s:e] = np.minimum(1, tt / 0.05) * np.minimum(1, (tt[::-1]) / 0.08)
            vowel_idx[s:e] = k % len(vowels)
            active[s:e] = True
            k += 1
        start += phrase_len + rest
    vib = 1 + 0.012 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(1, amp * 2)
    phase = np.cumsum(2 * np.pi * f0 * vib / sr)
    # Band-limited pulse train via a sum of harmonics with a -12 dB/oct glottal tilt.
    src = np.zeros(n)
    for h in range(1, 40):
        ok = h * f0 * vib < 0.45 * sr
        src += ok * np.sin(h * phase) / h ** 1.2
    src += 0.02 * rng.standard_normal(n) * (amp > 0)  # breath
    voice = np.zeros(n)
    for vi, v in enumerate(vowels):
        sel = vowel_idx == vi
        if not sel.any():
            continue
        part = src * sel
        y = sum(_resonator(part, fk, 60 + 20 * j, sr) * (1.0, 0.6, 0.3)[j] for j, fk in enumerate(_VOWELS[v]))
        voice += y
    voice *= amp
    voice *= 0.25 / (np.abs(voice).max() + 1e-9)
    vocals = np.stack([voice, voice], axis=1)
    acc *= 0.35 / (np.abs(acc).max() + 1e-9)
    mix = vocals + acc
    return {"mixture": mix.astype(np.float32), "vocals": vocals.astype(np.float32),
            "accompaniment": acc.astype(np.float32), "vocal_active": active & (amp > 0.05)}
