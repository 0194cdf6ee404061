"""The streaming U-Net's ladder: the (window, look-ahead, step) points a latency budget picks from.

Each network call sees a window of ``window_frames`` STFT frames (4096 points, hop 1024 at 44.1 kHz)
that ends ``lookahead_frames`` frames after the ``step_frames`` frames it outputs; the output
advances ``step_frames`` frames per call (:mod:`rtsep.unet.streaming`).

Delays, in samples at 44.1 kHz:

``delay_samples_44k``
    the algorithmic delay, ``(4 + L + S - 1) * 1024 - 1``: the 4096-point frame, the look-ahead, the
    chunk of S hops the output advances by (``StreamingUNet.latency_samples`` at 44.1 kHz);
``compute_samples_44k``
    the allowance the live path adds so the worker thread can run the network for a step;
``true_delay_samples_44k``
    their sum: what a latency budget (``--latency 0.3s``) is compared against.

The SDR figures are the median framewise (1 s) BSS Eval images SDR on the 44.1 kHz song
``ultimate-nz-tour`` measured by ``benchmarks/latency_ladder.py`` (the file-mode run of exactly
this point), beside the offline U-Net's on the same song (``OFFLINE_SDR_DB``).
"""

from __future__ import annotations

from dataclasses import dataclass

HOP = 1024
FRAME_CHUNKS = 4  # a 4096-point frame spans four hops
SAMPLE_RATE = 44100


@dataclass(frozen=True)
class LadderPoint:
    window_frames: int            # W: frames per network call (a multiple of 64)
    lookahead_frames: int         # L: frames of the window after the last output frame
    step_frames: int              # S: frames output per call
    compute_samples_44k: int      # the live path's allowance to compute one step
    vocals_sdr_db: float          # song, median framewise SDR (see the module docstring)
    accompaniment_sdr_db: float
    future: str = "edge"          # the window's unknown future: "edge" (the window ends at the newest
    future_frames: int = 0        # frame), "mirror" (P frames: the newest reflected), "repeat", "zero"
    full_band: bool = False       # accompaniment keeps the mixture above the network's 11 kHz
    extend_vocals: bool = False   # vocals above 11 kHz: the mean vocal mask of the top 128 bins
    mask: str = "ratio"           # "ratio": Spleeter's masks from both U-Nets; "vocal": the vocal
    #                               U-Net's own sigmoid mask (the accompaniment U-Net not run)

    @property
    def delay_samples_44k(self) -> int:
        """Algorithmic delay at 44.1 kHz (output sample n is input sample n - this)."""
        return (FRAME_CHUNKS + self.lookahead_frames + self.step_frames - 1) * HOP - 1

    @property
    def true_delay_samples_44k(self) -> int:
        return self.delay_samples_44k + self.compute_samples_44k

    @property
    def true_delay_ms(self) -> float:
        return 1000.0 * self.true_delay_samples_44k / SAMPLE_RATE

    @property
    def step_samples_44k(self) -> int:
        return self.step_frames * HOP

    @property
    def name(self) -> str:
        return f"{self.window_frames}/{self.lookahead_frames}/{self.step_frames}"


# Measured on the song (benchmarks/latency_ladder.py; benchmarks/results/latency_ladder.txt holds
# the run, with the recurrent models, the offline U-Net and the plain scheme's points beside them).
# Every point: the vocal U-Net alone with its own sigmoid mask (half the network time of both
# U-Nets; on the song 0.3-0.6 dB more vocals SDR than Spleeter's ratio masks at the same point
# (128/2/3... 128/4/4), offline too (5.77 against 5.29 dB), but 0.4 dB less on 8 MIR-1K clips at
# 128/3/3 (10.70 against 11.08)); full-band accompaniment (+0.9 dB against the reference's
# band-limited stems); vocals extended above 11 kHz (+0.2 dB accompaniment at 128/2/4). Tried and
# left out (the same measurements, ratio masks): the window's future padded with mirrored frames
# (128/2/4: vocals -0.2 dB with 4 frames, -0.01 with 8) or the newest frame repeated (-0.9 dB);
# averaging a frame's masks from two overlapping windows (128/4/4: -0.13 dB); a local multichannel
# Wiener filter over the newest 12-24 frames (128/4/4: -0.05 to -0.07 dB); longer past context,
# W = 192 (128/3/3: -0.02 dB, 4/4: 0.00) at 1.5x the cost; int8 static quantisation of the
# convolutions (masks off by 0.17 on average, and slower). The compute allowance is one step (the
# worker has a whole step period: the same bound as keeping up at all) except on the shortest
# point, where 34 ms fits the 0.15 s budget: a step there costs what a 64-frame call of both
# U-Nets does (~20 ms on two idle threads, the figure; this run's ratio to its reference
# call is in the results file). 128/8/8 measured below 128/4/4 on the song (5.36 dB) and is left
# out: a longer point must give more.
OFFLINE_SDR_DB = (5.29, 11.89)  # the offline U-Net (reference stems) on the song, same scoring


def _point(w: int, lk: int, s: int, allowance: int, vocals: float, accompaniment: float) -> LadderPoint:
    return LadderPoint(w, lk, s, allowance, vocals, accompaniment, full_band=True, extend_vocals=True, mask="vocal")


_POINTS = (
    _point(128, 0, 2, 1496, 4.82, 11.94),
    _point(128, 1, 2, 2 * HOP, 5.06, 12.21),
    _point(128, 1, 3, 3 * HOP, 5.16, 12.37),
    _point(128, 2, 3, 3 * HOP, 5.42, 12.54),
    _point(128, 4, 4, 4 * HOP, 5.76, 12.69),
    _point(128, 16, 8, 8 * HOP, 5.99, 13.09),
)


def points() -> list[LadderPoint]:
    """The ladder, ordered by true delay (shortest first)."""
    return sorted(_POINTS, key=lambda p: p.true_delay_samples_44k)


def best_within(budget_samples_44k: int) -> LadderPoint | None:
    """The point with the longest true delay that fits ``budget_samples_44k`` (the ladder is
    ordered so that quality grows with delay), or None when even the shortest does not fit."""
    fitting = [p for p in points() if p.true_delay_samples_44k <= budget_samples_44k]
    return fitting[-1] if fitting else None
