"""The processor interface shared by every plugin and by :class:`Chain`."""

from __future__ import annotations

import numpy as np


class Plugin:
    """A streaming audio processor.

    ``process(block)`` takes a float32 ``(frames, channels)`` block of any number of
    frames (up to ``max_block``) and returns a float32 block of the same shape. The returned
    array may be a view of a buffer the plugin owns: it is valid until the next call, so a
    caller that keeps it must copy it. ``latency_samples`` is the delay the plugin adds;
    ``reset()`` clears all internal state (as at the start of a new stream).

    Like pedalboard, a plugin is also callable on a whole signal: ``plugin(audio, sr)``.
    """

    latency_samples: int = 0
    max_block: int = 8192

    def process(self, block: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        pass

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate if getattr(self, "sample_rate", None) else 0.0

    def __call__(self, audio: np.ndarray, sample_rate: float | None = None, reset: bool = True,
                 blocksize: int = 4096) -> np.ndarray:
        """Process a whole ``(frames, channels)`` signal in blocks; returns a new array.

        The output is *not* latency-compensated (it is what a stream would hear).
        """
        if sample_rate is not None and getattr(self, "sample_rate", sample_rate) != sample_rate:
            raise ValueError(f"plugin runs at {self.sample_rate} Hz, got {sample_rate} Hz")
        if reset:
            self.reset()
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        out = np.empty_like(audio)
        blocksize = min(blocksize, self.max_block)
        for i in range(0, len(audio), blocksize):
            blk = audio[i:i + blocksize]
            out[i:i + len(blk)] = self.process(blk)
        return out
