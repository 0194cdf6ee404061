"""The processor interface shared by every plugin and by :class:`Chain`."""

from __future__ import annotations

import numpy as np


def deliver(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """numpy's ``out=`` convention for a ``result`` that may be a view of an owned buffer: a
    new array when ``out`` is ``None``, else ``result`` written into ``out`` (same shape;
    nothing allocated), which is returned."""
    if out is None:
        return result.copy()
    if out.shape != result.shape:
        raise ValueError(f"out has shape {out.shape}, the output {result.shape}")
    if out is not result:
        np.copyto(out, result)
    return out


class Plugin:
    """A streaming audio processor.

    ``process(block)`` takes a float32 ``(frames, channels)`` block of any number of frames
    (up to ``max_block``) and returns a *new* float32 block of the same shape, as numpy's
    functions do; ``process(block, out=buf)`` writes the output into ``buf`` (float32, the
    output's shape), allocates nothing (the form the live host's audio callback uses) and
    returns ``buf``. ``latency_samples`` is the delay the plugin adds; ``reset()`` clears all
    internal state (as at the start of a new stream).

    Subclasses implement ``_process(block)``, which may return a view of a buffer the
    plugin owns (valid until its next call); :meth:`process` copies it out once.
    Containers (:class:`Chain`, ``DryWet``) call their members' ``_process`` so that a
    block crosses a chain without copies.

    Like pedalboard, a plugin is also callable on a whole signal: ``plugin(audio, sr)``.
    """

    latency_samples: int = 0
    max_block: int = 8192

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``(frames, channels)`` float32 in → the output: a new array, or ``out`` filled."""
        return deliver(self._process(block), out)

    def _process(self, block: np.ndarray) -> np.ndarray:
        """The output of ``block``; may be a view of an owned buffer (see the class doc)."""
        if type(self).process is not Plugin.process:  # a subclass written against ``process``
            return self.process(block)
        raise NotImplementedError  # pragma: no cover - interface

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
            self.process(blk, out=out[i:i + len(blk)])
        return out
