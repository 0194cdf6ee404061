"""Key and tempo for the singer: a song's stems rendered ahead of the playhead with Rubber Band.

The renderer sits between the separated stems (song time line) and the stem ring (the
output's time line): :class:`ChunkRenderer` turns song frames into output frames at the
current key (semitones) and tempo (ratio; 0.8 = slower, 1.25x as long), one chunk at a time,
with ``pedalboard.time_stretch`` (Rubber Band, high-quality offline mode, formants kept).

Why chunks of the offline stretcher: pedalboard's streaming ``PitchShift`` returns silence
when called with ``reset=False`` (pedalboard 0.9.26, spotify/pedalboard#415) and pedalboard
has no streaming time stretch. Each chunk is stretched with ``CONTEXT_S`` of song either side
(Rubber Band's window needs them) and ``XFADE`` output frames more than it delivers: the next
chunk is placed at the lag (within ``MAX_LAG`` frames) where it best matches that tail (as
SOLA does), then crossfaded into it with a raised cosine. Two renderings of the same audio are
then in phase over the crossfade, so it neither clicks nor dips. At key 0 and tempo 1 a chunk
is the stems themselves (no stretcher, bit-exact).

A change of key or tempo is the same seam: the producer re-renders from a point a little
ahead of the playhead (see :mod:`rtsep.host.evening`), crossfading from the old rendering.
"""

from __future__ import annotations

import bisect
import math
import threading
import time

import numpy as np

from ..errors import RtsepError

KEY_MIN, KEY_MAX = -6.0, 6.0          # semitones
TEMPO_MIN, TEMPO_MAX = 0.5, 1.5       # ratio of the song's speed
CONTEXT_S = 0.25                      # song either side of a chunk that the stretcher sees
XFADE = 1024                          # output frames of each seam's crossfade (23 ms at 44.1 kHz)
MAX_LAG = 256                         # the seam search range, +- output frames
FIRST_CHUNK_S = 0.5                   # song seconds of the first chunk after a (re)start: there soon;
CHUNK_S = 2.0                         # each next chunk twice as long, up to this (a call costs ~0.2 s + length)
# Rubber Band's finer engine (R3): the faster one (R2) modulated a steady 440 Hz tone stretched to
# tempo 0.8 by up to -10 dB and put it at 435.5 Hz; R3 kept it within 0.1 dB at 440.0 Hz. R3 renders a
# stereo stem at ~4x real time in 2-s chunks on this project's 2-core VM, so the vocals (heard only in
# the vocals and mix modes) go through it as one mid channel. Formants are not preserved: on a pure
# tone that option lowered the level by 1.5 dB at +2 semitones and 7 dB at -6 (it is meant for voices).
HIGH_QUALITY = True
PRESERVE_FORMANTS = False
# R3's short window: the same tones (440.0 Hz, level within 0.1 dB at tempo 0.8, 1.5; +2, -6 semitones)
# at about twice the speed (8 s of a stereo tone: 13-22x real time against 7-10x), and a call's fixed
# cost halved (0.18 s against 0.37 s for 0.75 s of 3 channels), which is what a change waits for.
USE_LONG_FFT_WINDOW = False


def check_key(key) -> float:
    k = float(key)
    if not (math.isfinite(k) and KEY_MIN <= k <= KEY_MAX):
        raise RtsepError(f"--key must be {KEY_MIN:+.0f}..{KEY_MAX:+.0f} semitones, got {key!r}")
    return k


def check_tempo(tempo) -> float:
    r = float(tempo)
    if not (math.isfinite(r) and TEMPO_MIN <= r <= TEMPO_MAX):
        raise RtsepError(f"--tempo must be {TEMPO_MIN}..{TEMPO_MAX} (1 = as recorded), got {tempo!r}")
    return r


class KeyTempo:
    """The singer's key and tempo, set from any thread (the GUI, the CLI); the renderer polls
    :attr:`seq` and re-renders ahead of the playhead when it changed."""

    def __init__(self, key: float = 0.0, tempo: float = 1.0):
        self.key = check_key(key)
        self.tempo = check_tempo(tempo)
        self.seq = 0
        self.changed_at = 0.0  # time.monotonic() of the latest change

    def set(self, key: float | None = None, tempo: float | None = None) -> None:
        k = self.key if key is None else check_key(key)
        r = self.tempo if tempo is None else check_tempo(tempo)
        if (k, r) != (self.key, self.tempo):
            self.key, self.tempo = k, r
            self.changed_at = time.monotonic()
            self.seq += 1  # publish

    @property
    def identity(self) -> bool:
        return self.key == 0.0 and self.tempo == 1.0


def stretch(x: np.ndarray, sample_rate: int, tempo: float, key: float) -> np.ndarray:
    """``frames x channels`` float32 → about ``frames / tempo`` frames, pitch moved ``key`` semitones."""
    import pedalboard

    if len(x) <= x.shape[1]:  # pedalboard would take frames for channels (a song of a few frames: a
        return np.zeros((0, x.shape[1]), np.float32)  # damaged file); Rubber Band gives nothing this short
    y = pedalboard.time_stretch(np.ascontiguousarray(x.T, dtype=np.float32), float(sample_rate),
                                stretch_factor=float(tempo), pitch_shift_in_semitones=float(key),
                                high_quality=HIGH_QUALITY, preserve_formants=PRESERVE_FORMANTS,
                                use_long_fft_window=USE_LONG_FFT_WINDOW)
    return np.ascontiguousarray(y.T)


def best_lag(tail: np.ndarray, y: np.ndarray, at: int, max_lag: int) -> int:
    """The lag ``l`` in ``[-max_lag, max_lag]`` (kept inside ``y``) at which ``y[at + l:]`` best
    matches ``tail`` (normalised cross-correlation of the channel sums); 0 for silence."""
    x = len(tail)
    lo = max(-max_lag, -at)
    hi = min(max_lag, len(y) - at - x)
    if hi <= lo:
        return max(lo, min(0, hi))
    t = tail.sum(axis=1, dtype=np.float64)
    seg = y[at + lo:at + hi + x].sum(axis=1, dtype=np.float64)
    et = float(np.dot(t, t))
    if et <= 1e-12:
        return 0
    c = np.correlate(seg, t, mode="valid")                  # (hi - lo + 1,)
    e = np.convolve(seg * seg, np.ones(x), mode="valid")    # energy of each window
    score = c / np.sqrt(np.maximum(e, 1e-12) * et)
    return lo + int(np.argmax(score))


def raised_cosine(n: int) -> np.ndarray:
    """``(n, 1)`` fade-in weights 0 → 1 (half-sample offsets: never exactly 0 or 1)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)[:, None]


class ChunkRenderer:
    """Renders a song ``frames x channels`` chunk by chunk at a key and tempo (see module doc).

    Args:
        sample_rate: the song's rate.
        group: ``None``: every channel is stretched. ``C``: the song is three groups of ``C``
            channels, accompaniment | vocals | dry; the accompaniment is stretched as it is, the
            vocals as their mid channel (copied back to the ``C``), and the dry is rendered as
            their sum (the stems add up to the song): ``C + 1`` channels through Rubber Band.

    State between calls: the tail of the last chunk (``XFADE`` frames past what it delivered),
    which the next chunk is crossfaded into; :meth:`reset` drops it (a song's first chunk).
    """

    def __init__(self, sample_rate: int, group: int | None = None, *, xfade: int = XFADE,
                 max_lag: int = MAX_LAG, context_s: float = CONTEXT_S):
        self.sample_rate = int(sample_rate)
        self.group = group
        self.xfade = int(xfade)
        self.max_lag = int(max_lag)
        self.context = int(round(context_s * sample_rate))
        self._fade = raised_cosine(self.xfade)
        self.tail: np.ndarray | None = None
        self._tail_identity = False
        self.last_lag = 0

    def reset(self, tail: np.ndarray | None = None) -> None:
        """Start afresh; ``tail``: output frames already playing there, to crossfade from."""
        self.tail = None if tail is None else np.array(tail[:self.xfade], dtype=np.float32)
        self._tail_identity = False

    def _stretch(self, x: np.ndarray, tempo: float, key: float) -> np.ndarray:
        c = self.group
        if c is None:
            return stretch(x, self.sample_rate, tempo, key)
        src = np.empty((len(x), c + 1), np.float32)
        src[:, :c] = x[:, :c]
        np.mean(x[:, c:2 * c], axis=1, out=src[:, c])
        y = stretch(src, self.sample_rate, tempo, key)
        out = np.empty((len(y), 3 * c), np.float32)
        out[:, :c] = y[:, :c]
        out[:, c:2 * c] = y[:, c:c + 1]
        np.add(out[:, :c], out[:, c:2 * c], out=out[:, 2 * c:])
        return out

    def render(self, song: np.ndarray, start: int, stop: int, tempo: float, key: float,
               available: int | None = None) -> np.ndarray:
        """Output frames for song frames ``[start, stop)`` (a new array, ``m x channels``,
        ``m`` about ``(stop - start) / tempo``); ``available``: song frames that exist (the song's
        length when complete: the end needs no look-ahead)."""
        n_song = len(song) if available is None else int(available)
        identity = key == 0.0 and tempo == 1.0
        final = stop >= len(song)
        x = self.xfade
        if identity:
            a, b = max(0, start - self.max_lag), min(n_song, stop + x + self.max_lag)
            y = song[a:b]
            h, h_end = start - a, stop - a
        else:
            a = max(0, start - self.context)
            b = min(n_song, stop + int(math.ceil((x + self.max_lag) * tempo)) + self.context)
            y = self._stretch(song[a:b], tempo, key)
            h = int(round((start - a) / tempo))
            h_end = min(len(y), int(round((stop - a) / tempo)))
        tail = self.tail
        seamless = identity and self._tail_identity  # the tail is this chunk's own first frames
        lag = best_lag(tail, y, h, self.max_lag) if tail is not None and not seamless else 0
        self.last_lag = lag
        s0 = h + lag
        if not final:
            s1 = min(len(y), h_end + lag)
        else:
            s1 = h_end if identity else len(y)
        body = np.array(y[s0:s1], dtype=np.float32)
        if tail is not None and len(body) and not seamless:
            k = min(len(tail), len(body))
            w = self._fade[:k] if k == x else raised_cosine(k)
            body[:k] = tail[:k] * (1.0 - w) + body[:k] * w
        self.tail = None
        self._tail_identity = identity
        if not final and s1 + x <= len(y):
            self.tail = np.array(y[s1:s1 + x], dtype=np.float32)
        return body


MAP_ENTRIES = 512  # time-map entries kept (chunks of up to 2 s: the last quarter hour or more)


class TimeMap:
    """Which song frame each output frame plays: piecewise linear, one entry per rendered chunk
    ``(out_start, song, song_start, tempo, key)``. Written by the render thread, read by any
    (a lock: never the audio thread's)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._out: list[int] = []
        self._rows: list[tuple[int, int, float, float]] = []

    def add(self, out_start: int, song: int, song_start: int, tempo: float, key: float) -> None:
        with self._lock:
            k = bisect.bisect_left(self._out, out_start)
            del self._out[k:], self._rows[k:]
            self._out.append(int(out_start))
            self._rows.append((int(song), int(song_start), float(tempo), float(key)))
            if len(self._out) > MAP_ENTRIES:
                del self._out[:-MAP_ENTRIES], self._rows[:-MAP_ENTRIES]

    def truncate(self, out_frame: int) -> None:
        """Forget the entries from ``out_frame`` on (re-rendered)."""
        with self._lock:
            k = bisect.bisect_left(self._out, out_frame)
            del self._out[k:], self._rows[k:]

    def lookup(self, out_frame: int) -> tuple[int, float, float, float] | None:
        """``(song, song_frame, tempo, key)`` at ``out_frame``, or ``None`` before any entry."""
        with self._lock:
            if not self._out:
                return None
            k = max(0, bisect.bisect_right(self._out, out_frame) - 1)
            song, s0, tempo, key = self._rows[k]
            return song, s0 + max(0, out_frame - self._out[k]) * tempo, tempo, key
