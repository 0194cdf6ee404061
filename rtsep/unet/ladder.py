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


# Provisional (the plain-scheme table, measured on the CEO's held-out songs, compute
# allowance one whole step); replaced by this project's measurements on the song.
OFFLINE_SDR_DB = (9.36, 14.96)
_POINTS = (
    LadderPoint(128, 0, 2, 2 * HOP, 8.44, 13.35),
    LadderPoint(128, 2, 4, 4 * HOP, 9.15, 14.00),
    LadderPoint(128, 4, 4, 4 * HOP, 9.16, 14.27),
    LadderPoint(128, 16, 8, 8 * HOP, 9.19, 14.62),
    LadderPoint(128, 32, 16, 16 * HOP, 9.26, 14.93),
)


def points() -> list[LadderPoint]:
    """The ladder, ordered by true delay (shortest first)."""
    return sorted(_POINTS, key=lambda p: p.true_delay_samples_44k)


def best_within(budget_samples_44k: int) -> LadderPoint | None:
    """The point with the longest true delay that fits ``budget_samples_44k`` (the ladder is
    ordered so that quality grows with delay), or None when even the shortest does not fit."""
    fitting = [p for p in points() if p.true_delay_samples_44k <= budget_samples_44k]
    return fitting[-1] if fitting else None
