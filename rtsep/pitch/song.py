"""The sung melody of a whole song, from its separated vocals: what ``rtsep melody`` writes.

A file has no playhead to keep ahead of, so this is not the live tracker
(:class:`~rtsep.pitch.reference.MelodyTracker`, 16 kHz, 0.25-semitone grid, a gate from the levels
heard so far) but librosa's pYIN over the whole song at the file's own rate:

- frames of about 46 ms (``2 ** round(log2(0.0464 * rate))``: 2048 samples at 44.1 and 48 kHz,
  1024 at 16 kHz; 22.05 kHz is analysed at 44.1 kHz, where 10 ms is whole samples), 65-1000 Hz,
  librosa's 0.1-semitone pitch grid, each voiced frame refined by YIN's interpolated f0 within one
  bin (``pyin.pyin_refined``);
- pYIN's prior over YIN thresholds shifted from Beta(2, 18) (mean 0.1, for clean voices) to
  Beta(2, 9.43) (mean 0.175): the accompaniment left in separated vocals makes YIN's dips shallower,
  and with the clean-voice prior pYIN calls sung frames unvoiced;
- frames more than 18 dB below the song's loud frames (95th percentile of all its frame levels) are
  unvoiced: the bleed that pYIN then calls voiced where nobody sings.

On the 44.1 kHz test song (U-Net vocals, scored with ``mir_eval.melody`` against plain pYIN on the
true vocal stem) this reached raw pitch accuracy 0.862 and overall accuracy 0.867, against 0.825 /
0.826 for the live tracker's settings and 0.849 / 0.705 for plain pYIN (``benchmarks/melody.py``
scores them side by side). The prior and the gate were chosen on that song (a grid of priors with
means 0.1-0.3 and gates of 15-30 dB); on MIR-1K's labels they are no better than the live tracker
(every 5th test clip, 165, U-Net vocals, RPA / OA: 0.852 / 0.850 against the tracker's 0.860 /
0.852 and plain pYIN's 0.880 / 0.761; librosa's prior with the same gate: 0.854 / 0.853).

Bounded memory: pYIN's matrices grow with the frames of a call (one call at 44.1 kHz: +354 MiB for
30 s, +535 MiB for 60 s, so about 2 GB for a 5-minute song), so it runs on pieces of ``PIECE_S``
with ``CONTEXT_S`` of audio on either side that is analysed and dropped (the HMM sees past and
future across each cut; the frames equal one call's): +320 MiB for 40 s, +408 MiB for a 5-minute
song (its mono copies grow with it), 61 s for that song on one core (``benchmarks/melody.py``).
"""

from __future__ import annotations

import math

import numpy as np

from .melody import Melody
from .pyin import pyin_refined
from .signal import PitchError, as_mono, check_rate

FRAME_S = 0.0464             # 2048 samples at 44.1 kHz
FMIN_HZ = 65.0               # C2
FMAX_HZ = 1000.0
RESOLUTION_SEMITONES = 0.1   # librosa's default grid
BETA = (2.0, 2.0 / 0.175 - 2.0)  # threshold prior with mean 0.175 (librosa: (2, 18), mean 0.1)
GATE_DB = 18.0               # unvoiced below the loud frames by this much (bleed in separated vocals)
GATE_PERCENTILE = 95.0       # "the loud frames": this percentile of the song's frame levels
MIN_RATE_HZ, MAX_RATE_HZ = 16000, 48000  # files outside are resampled to the nearer bound
PIECE_S = 15.0               # pYIN per piece of this many seconds of frames ...
CONTEXT_S = 1.0              # ... analysed with this much more on either side


def analysis_rate(sample_rate: int, hop_s: float = 0.01) -> int:
    """The rate the melody is computed at: the file's own, clamped to 16-48 kHz, and doubled when
    that makes ``hop_s`` a whole number of samples (22.05 kHz: 44.1 kHz, for an exact 10 ms grid)."""
    rate = min(max(check_rate(sample_rate), MIN_RATE_HZ), MAX_RATE_HZ)
    whole = lambda r: abs(hop_s * r - round(hop_s * r)) < 1e-6  # noqa: E731
    return 2 * rate if not whole(rate) and whole(2 * rate) and 2 * rate <= MAX_RATE_HZ else rate


def frame_length(sample_rate: int) -> int:
    """pYIN's frame at ``sample_rate``: the power of two nearest ``FRAME_S`` seconds."""
    return 1 << round(math.log2(FRAME_S * sample_rate))


def frame_levels_db(seg: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Mean-square level in dB of frame ``i`` = ``seg[i * hop : i * hop + frame]`` (every whole frame),
    from running sums: no frames x samples matrix."""
    sums = np.concatenate([[0.0], np.cumsum(np.square(seg, dtype=np.float64))])
    starts = np.arange(1 + (len(seg) - frame) // hop) * hop
    power = np.maximum(sums[starts + frame] - sums[starts], 0.0) / frame
    return 10.0 * np.log10(power + 1e-12)


def song_melody(vocals: np.ndarray, sample_rate: int, hop_s: float = 0.01, piece_s: float = PIECE_S) -> Melody:
    """The melody of a whole vocal signal (``frames`` or ``frames x channels``, channels averaged).

    Frame ``i`` is centred on input time ``i * hop_s`` (``hop_s`` rounded to whole samples at the
    analysis rate; the returned melody's ``hop_s`` is the exact one); ``1 + samples // hop`` frames.
    """
    audio = np.asarray(vocals)
    if audio.ndim not in (1, 2) or audio.shape[0] == 0:
        raise PitchError(f"vocals must be a non-empty frames or frames x channels array, got shape {audio.shape}")
    rate = analysis_rate(sample_rate, hop_s)
    frame = frame_length(rate)
    hop = int(round(hop_s * rate)) if math.isfinite(hop_s) else 0
    if hop < 1:
        raise PitchError(f"hop must be at least one sample ({1000 / rate:.4f} ms), got {hop_s!r} s")
    mono = as_mono(audio)
    if rate != sample_rate:
        import soxr

        mono = soxr.resample(mono, sample_rate, rate).astype(np.float32, copy=False)
    n_frames = 1 + len(mono) // hop
    # Half a frame of zeros each side: frame i centred on sample i * hop (librosa's center=True).
    padded = np.concatenate([np.zeros(frame // 2, np.float32), mono, np.zeros(frame // 2 + hop, np.float32)])
    f0, level_db = np.zeros(n_frames), np.zeros(n_frames)
    piece = max(1, int(round(piece_s * rate / hop)))
    context = int(round(CONTEXT_S * rate / hop))
    for first in range(0, n_frames, piece):
        stop = min(n_frames, first + piece)
        level_db[first:stop] = frame_levels_db(padded[first * hop:(stop - 1) * hop + frame], frame, hop)
        start, end = max(0, first - context), min(n_frames, stop + context)
        seg = padded[start * hop:(end - 1) * hop + frame]
        if not np.any(seg):  # silence: pYIN would warn and return NaN anyway
            continue
        out = pyin_refined(seg, rate, frame, hop, FMIN_HZ, FMAX_HZ, RESOLUTION_SEMITONES, BETA)
        if len(out) != end - start:  # never expected: exact framing
            raise PitchError(f"pYIN returned {len(out)} frames for {end - start}")
        f0[first:stop] = out[first - start:stop - start]
    loud_db = float(np.percentile(level_db, GATE_PERCENTILE))
    f0[level_db < loud_db - GATE_DB] = 0.0
    return Melody(hop / rate, f0)
