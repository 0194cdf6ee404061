"""``UNetSeparator``: the pretrained Spleeter U-Net over a stream of blocks, at any rate and
channel count, with bounded memory.

Other rates are resampled to 44.1 kHz with soxr (streaming, delay-compensated) and the stems
back to the input rate. Mono is duplicated to stereo as the reference does and the two output
channels are averaged back; more than two channels are separated as stereo pairs (an odd last
channel as a duplicated pair). NaN/Inf samples become zeros (counted in ``nonfinite_samples``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import RtsepError
from ..model.registry import ALIASES, UNET_NAME, resolve_model
from .channels import PairedChannels
from .model import UNetModel
from .pipeline import SegmentPipeline
from .stft import HOP, N_FFT, OVERLAP

UNET_FILE = ALIASES[UNET_NAME]


def unet_model_path(model: str | os.PathLike | None = None) -> Path:
    """``None`` or ``"unet"`` → the shipped ``models/unet-2stems.onnx``; else the path given
    (or a bare name in models/)."""
    return resolve_model(UNET_NAME if model is None else model)


class UNetSeparator(PairedChannels):
    """Separates ``frames x channels`` float32 audio at ``sample_rate`` into vocals and
    accompaniment with the pretrained U-Net (offline: one 11.9 s segment at a time).

    Args:
        sample_rate: rate of the input and of the stems, Hz.
        channels: input (and stem) channels.
        wiener: multichannel Wiener filter over the U-Net's estimates (``norbert``).
        full_band: give the accompaniment the mixture above the network's 11 kHz (the reference,
            ``mask_extension: zeros``, drops it from both stems: cymbals go missing).
        threads: CPU threads (default: up to 2).
        model: U-Net ONNX file (default ``models/unet-2stems.onnx``; ``"unet"`` names it too).
        pipelined: run ``threads`` segments at once, one thread each (the most throughput, for
            files); otherwise one segment at a time on ``threads`` threads (the first segment
            soonest, for playback that waits on it).
    """

    def __init__(self, sample_rate: int, channels: int, *, wiener: bool = False, threads: int | None = None,
                 model: str | os.PathLike | None = None, full_band: bool = False, pipelined: bool = True):
        if int(sample_rate) < 1000:
            raise RtsepError(f"sample rate must be at least 1000 Hz, got {sample_rate}")
        if int(channels) < 1:
            raise RtsepError(f"channels must be at least 1, got {channels}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.wiener = bool(wiener)
        self.full_band = bool(full_band)
        self.threads = int(threads) if threads else max(1, min(2, os.cpu_count() or 1))
        self.pipelined = bool(pipelined) and self.threads > 1
        self.model = UNetModel(unet_model_path(model), threads=1 if self.pipelined else self.threads)
        self.card = self.model.card
        self._init_channels(channels)

    # ------------------------------------------------------------------------------------------
    def stream(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(vocals, accompaniment)``, owned float32 ``frames x channels`` arrays, aligned to
        the input and together exactly as long; any block sizes (1-D blocks for mono). A stem
        block comes out once its 512-frame segment is complete (about 11.9 s of input)."""
        model_rate = self.card.sample_rate
        resample = self.sample_rate != model_rate
        if resample:
            import soxr

            wide = len(self._wide)
            to_model = soxr.ResampleStream(self.sample_rate, model_rate, wide, dtype="float32", quality="HQ")
            to_input = soxr.ResampleStream(model_rate, self.sample_rate, 2 * wide, dtype="float32", quality="HQ")
        core = SegmentPipeline(self.model, len(self._wide), wiener=self.wiener, workers=self.threads,
                               full_band=self.full_band, concurrent=self.threads if self.pipelined else 1)
        self.nonfinite_samples = 0
        total_in = total_out = 0

        def back(parts: list[np.ndarray], last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            nonlocal total_out
            wide = len(self._wide)
            if resample:  # parts: (2, wide, n) at 44.1 kHz -> (n, 2 * wide) for soxr, and back
                flat = np.concatenate([p.reshape(2 * wide, -1) for p in parts], axis=1).T if parts else \
                    np.zeros((0, 2 * wide), np.float32)
                out = to_input.resample_chunk(np.ascontiguousarray(flat), last=last)
                parts = [out.T.reshape(2, wide, len(out))]
            for part in parts:
                part = part[..., :max(0, total_in - total_out)]
                if part.shape[-1]:
                    total_out += part.shape[-1]
                    yield self._fold_back(part[0]), self._fold_back(part[1])

        for block in blocks:
            block = self._check(block)
            total_in += len(block)
            wide = block[:, self._wide]
            if resample:
                wide = to_model.resample_chunk(wide)
            yield from back(core.push(wide))
        if resample:
            yield from back(core.push(to_model.resample_chunk(np.zeros((0, len(self._wide)), np.float32),
                                                              last=True)))
        yield from back(core.finish(), last=True)
        if total_out < total_in:  # resampling rounded the length down: pad with silence
            pad = np.zeros((total_in - total_out, self.channels), np.float32)
            yield pad, pad.copy()

    def separate(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole ``(frames, channels)`` (or ``(frames,)`` for mono) array → ``(vocals, accompaniment)``
        of the same shape, float32."""
        audio = np.asarray(audio, np.float32)
        shape = audio.shape
        audio = audio[:, None] if audio.ndim == 1 else audio
        step = self.card.segment_frames * HOP
        parts = list(self.stream(audio[i:i + step] for i in range(0, len(audio), step)))
        if not parts:
            empty = np.zeros(shape, np.float32)
            return empty, empty.copy()
        vocals = np.concatenate([p[0] for p in parts]).reshape(shape)
        accomp = np.concatenate([p[1] for p in parts]).reshape(shape)
        return vocals, accomp

    # ------------------------------------------------------------------------------------------
    @property
    def ahead_samples(self) -> int:
        """Input samples (at the input rate) that must be in before the first stem sample comes
        out: one segment of T frames plus the frame overlap, less the zero frame the reference
        prepends (plus the resamplers' few ms when the rate is not 44.1 kHz)."""
        at_model = (self.card.segment_frames + OVERLAP - 1) * HOP - N_FFT
        extra = 0 if self.sample_rate == self.card.sample_rate else 2 * int(0.01 * self.sample_rate)
        return int(np.ceil(at_model * self.sample_rate / self.card.sample_rate)) + extra

    def describe(self) -> dict:
        """Model card, rates and the delay the ahead-of-playback use needs (JSON-ready)."""
        c = self.card
        ahead = self.ahead_samples
        return {
            "model": {"name": c.name, "kind": "unet", "path": c.path, "description": c.description,
                      "source": c.source, "license": c.license, "sample_rate": c.sample_rate,
                      "n_fft": c.n_fft, "hop": c.hop, "bins": c.bins, "segment_frames": c.segment_frames,
                      "separation_exponent": c.exponent, "placeholder": False,
                      "params": int(c.extra.get("params", 0)) or None},
            "sample_rate": self.sample_rate, "channels": self.channels, "wiener": self.wiener, "full_band": self.full_band,
            "threads": self.threads, "offline": True,
            # An offline model has no algorithmic latency once the stems are ahead of the playhead;
            # what a player needs is this much of the song separated before it starts.
            "latency_samples": 0, "latency_ms": 0.0,
            "ahead_samples": ahead, "ahead_s": ahead / self.sample_rate,
            "resampled": self.sample_rate != c.sample_rate,
        }
