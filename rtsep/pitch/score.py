"""The karaoke score: how much of the reference melody the singer hit, octave-folded.

Score = share of the reference's voiced frames so far where the singer's f0 is within
``tolerance_cents`` of the reference, octave errors forgiven (a man singing a woman's song an
octave down is right); reference frames where the singer is silent are misses, reference
frames that are unvoiced are not counted.
"""

from __future__ import annotations

import math

import numpy as np

from .melody import Melody


def cents_error_folded(f_singer_hz, f_ref_hz):
    """Octave-folded pitch error ``singer - reference`` in cents, in ``[-600, 600)``.

    Scalars give a float, arrays an array (broadcast); NaN where either f0 is <= 0 (unvoiced).
    """
    fs = np.asarray(f_singer_hz, dtype=np.float64)
    fr = np.asarray(f_ref_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cents = 1200.0 * np.log2(fs / fr)
        folded = np.mod(cents + 600.0, 1200.0) - 600.0
    folded = np.where((fs > 0) & (fr > 0), folded, np.nan)
    return float(folded) if folded.ndim == 0 else folded


def _fold(cents: float) -> float:
    return (cents + 600.0) % 1200.0 - 600.0


class Scorer:
    """Running score of a singer against ``melody`` (which may still be growing).

    Call ``update(song_time_s, singer_f0_hz)`` as pitch estimates arrive (e.g. every
    ``StreamingPitch`` hop, with the song time at which the singer sang that window): it scores
    each reference frame between the previous update's time and ``song_time_s`` against
    ``singer_f0_hz`` (0 = silent). A jump of more than ``max_gap_s`` (a seek, a pause) scores only
    the last ``max_gap_s``; a jump backwards restarts from there without scoring. Pure Python
    arithmetic over a few frames per call: no arrays allocated.
    """

    def __init__(self, melody: Melody, tolerance_cents: float = 50.0, max_gap_s: float = 0.5):
        if not (math.isfinite(tolerance_cents) and 0 < tolerance_cents <= 600):
            raise ValueError(f"tolerance_cents must be in (0, 600], got {tolerance_cents!r}")
        self.melody = melody
        self.tolerance_cents = float(tolerance_cents)
        self._max_gap = max(1, int(round(max_gap_s / melody.hop_s)))
        self.reset()

    def reset(self) -> None:
        self._next = -1            # next reference frame to score; -1 = no update yet
        self.voiced_frames = 0     # reference voiced frames scored
        self.hit_frames = 0        # ... where the singer was within tolerance
        self.sung_frames = 0       # ... where the singer was voiced at all
        self._abs_cents_sum = 0.0  # over sung frames
        self.last_cents = math.nan  # folded error at the latest voiced reference frame (NaN: none)

    @property
    def score(self) -> float:
        """0-100: percent of the reference's voiced frames so far sung within tolerance."""
        return 100.0 * self.hit_frames / self.voiced_frames if self.voiced_frames else 0.0

    def update(self, song_time_s: float, singer_f0_hz: float) -> None:
        m = self.melody
        end = m.index(song_time_s) + 1           # frames up to the one nearest song_time_s
        start = self._next
        if start < 0 or end < start:             # first update, or a jump backwards
            start = end - 1 if start < 0 else end
        elif end - start > self._max_gap:        # a jump forwards: score only the recent part
            start = end - self._max_gap
        self._next = end
        stop = min(end, len(m))                   # frames not computed yet are not scored
        if start < 0:
            start = 0
        if stop <= start:
            return
        f0 = m._f0                                # the live buffer (a consistent prefix up to len(m))
        sung = singer_f0_hz > 0 and math.isfinite(singer_f0_hz)
        singer_cents = 1200.0 * math.log2(singer_f0_hz) if sung else 0.0
        tol = self.tolerance_cents
        for i in range(start, stop):
            ref = f0[i]
            if ref <= 0.0:
                continue
            self.voiced_frames += 1
            if not sung:
                self.last_cents = math.nan
                continue
            err = _fold(singer_cents - 1200.0 * math.log2(ref))
            self.last_cents = err
            self.sung_frames += 1
            self._abs_cents_sum += abs(err)
            if abs(err) <= tol:
                self.hit_frames += 1

    def summary(self) -> dict:
        """Plain numbers for ``--json`` and the exit report."""
        return {
            "score": round(self.score, 2),
            "voiced_frames": self.voiced_frames,
            "hit_frames": self.hit_frames,
            "sung_frames": self.sung_frames,
            "scored_s": round(self.voiced_frames * self.melody.hop_s, 3),
            "tolerance_cents": self.tolerance_cents,
            "mean_abs_cents": (round(self._abs_cents_sum / self.sung_frames, 2) if self.sung_frames else None),
        }
