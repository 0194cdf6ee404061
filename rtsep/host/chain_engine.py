"""The streaming engine: each input block runs through a separator chain as it arrives.

Used for live input (a microphone, a desk), and for a song file when it cannot be separated
ahead of the playhead (:mod:`rtsep.host.ahead`). The chain runs inline in the callback or
on a worker thread (:mod:`rtsep.host.handoff`); ``bypass`` is a latency-matched dry signal.
"""

from __future__ import annotations

import numpy as np

from ..plugins.base import Plugin
from ..plugins.drywet import DryWet
from .handoff import WorkerHandoff
from .stats import StreamStats


def build_processor(sample_rate: int, channels: int, blocksize: int, *, mode: str, vocals_db: float,
                    accompaniment_db: float, model, operating_point: str, method: str, switchable: bool,
                    precision: str = "int8"):
    """``(plugin, separator or None)`` for a method ("net" or a classic live method)."""
    max_block = max(blocksize, 1024)
    stems = dict(mode="karaoke" if mode == "bypass" else mode, vocals_db=vocals_db,
                 accompaniment_db=accompaniment_db)
    if method != "net":
        from ..methods import make_plugin

        return make_plugin(method, sample_rate, channels, max_block=max_block, **stems), None
    from ..plugins.separator import Separator

    kw = dict(sample_rate=sample_rate, channels=channels, max_block=max_block, live=True, precision=precision,
              **stems)
    if switchable and model is None:
        from ..plugins.switch import OperatingPointSwitch

        # Both models run, aligned: ``operating_point`` can then change mid-stream.
        sep = OperatingPointSwitch(Separator(None, latency="low", **kw), Separator(None, latency="quality", **kw),
                                   point=operating_point)
    else:
        sep = Separator(model, latency=operating_point, **kw)
    return sep, sep


class ChainEngine:
    """Input block → ``processor`` (inline, or on a worker) → output block.

    Args:
        processor: the plugin; ``separator`` is it when it is a (switchable) separator.
        worker: hand the chain to a worker thread (one block + ``fade`` of latency, dry
            fallback on a missed deadline) instead of running it in the callback.
    """

    name = "chain"

    def __init__(self, processor: Plugin, separator, sample_rate: int, blocksize: int, channels: int,
                 stats: StreamStats, *, mode: str = "karaoke", worker: bool = True, fade: int = 32,
                 realtime: bool = True):
        self.plugin = processor
        self.separator = separator
        self.drywet = DryWet(processor, channels, sample_rate, wet=0.0 if mode == "bypass" else 1.0,
                             max_block=max(blocksize, 1024))
        self.stats = stats
        self.blocksize = int(blocksize)
        self.worker = WorkerHandoff(self.drywet, blocksize, channels, stats, fade, realtime) if worker else None
        self.algorithmic_latency = int(self.drywet.latency_samples)
        self._y = np.zeros((blocksize, channels), dtype=np.float32)  # the inline chain's output
        # the separator's (or a classic method's) mode and gains; a chain of the user's has none
        self._controls = getattr(separator if separator is not None else processor, "controls", None)

    @property
    def handoff_latency(self) -> int:
        return self.worker.latency_samples if self.worker is not None else 0

    @property
    def error(self) -> BaseException | None:
        return self.worker.error if self.worker is not None else None

    @property
    def rt_status(self) -> str:
        if self.worker is not None:
            return self.worker.rt_status
        return getattr(self.plugin, "rt_status", "-")  # a processor with its own worker (streaming U-Net)

    @property
    def vad_latest(self) -> float:
        return float(getattr(self.plugin, "vad_latest", 0.0))

    # --- controls (control thread) ------------------------------------------------------
    def configure(self, mode: str, vocals_db: float, accompaniment_db: float) -> None:
        """The host's mode and gains: ``bypass`` is the dry wrapper's; the separator keeps
        its mode then (so that coming back is a crossfade to where it was)."""
        if self._controls is not None:
            self._controls.set(None if mode == "bypass" else mode, vocals_db, accompaniment_db)
        self.drywet.wet = 0.0 if mode == "bypass" else 1.0

    # --- life cycle ---------------------------------------------------------------------
    def warm_up(self, block: np.ndarray) -> None:
        """Compile kernels and touch buffers before real time starts."""
        for _ in range(4):
            self.drywet.process(block, out=self._y[:len(block)])
        self.drywet.reset()
        if self.worker is not None:
            self.worker.warm_up()

    def start(self) -> None:
        self.drywet.reset()
        if self.worker is not None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    # --- audio callback -------------------------------------------------------------------
    def process(self, x: np.ndarray, n: int) -> np.ndarray:
        """Input block ``x`` (n frames x channels) → output block (a view of an owned buffer)."""
        if self.worker is None:
            return self.drywet.process(x, out=self._y[:n])
        return self.worker.process(x, n)
