"""A file played as the live input (karaoke from a song).

The whole file is decoded, converted to the stream's channel count and resampled with
soxr *before* the stream starts (on the caller's thread), so the audio callback only
copies frames from memory: no disk access, no decoding, no allocation in real time. A
file that cannot be read fails before any audio runs, with one line.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import AudioFileError


def adapt_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono → copies; more channels than needed → mixed down to mono copies, or the
    first ``channels`` if that already is stereo or more."""
    have = audio.shape[1]
    if have == channels:
        return audio
    if have == 1:
        return np.repeat(audio, channels, axis=1)
    if channels == 1:
        return audio.mean(axis=1, keepdims=True)
    if have > channels:
        return audio[:, :channels]
    out = np.zeros((audio.shape[0], channels), dtype=audio.dtype)
    out[:, :have] = audio
    return out


class FileSource:
    """Frames of a preloaded file at the stream rate; silence after its end.

    Attributes:
        ended: True once :meth:`read_into` has returned the last frame.
        position: frames delivered so far.
        frames: length of the (resampled) file.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, loop: bool = False):
        from ..io.audiofile import read_audio

        audio, rate = read_audio(path)
        if not np.all(np.isfinite(audio)):
            audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
        audio = adapt_channels(audio, channels)
        self.file_rate = int(rate)
        if rate != sample_rate:
            import soxr

            try:
                audio = soxr.resample(audio, rate, sample_rate, quality="HQ")
            except Exception as exc:
                raise AudioFileError(f"{path}: cannot resample {rate} Hz → {sample_rate} Hz ({exc})") from None
            if not len(audio):  # a few frames at an absurd rate (a damaged header): nothing to play
                raise AudioFileError(f"{path}: contains no audio frames at {sample_rate} Hz "
                                     f"(its header says {rate} Hz)")
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.path = str(path)
        self.sample_rate = int(sample_rate)
        self.frames = len(self.audio)
        self.loop = loop
        self.position = 0
        self.ended = False

    @classmethod
    def from_array(cls, audio: np.ndarray, sample_rate: int, channels: int | None = None) -> "FileSource":
        self = cls.__new__(cls)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[:, None]
        self.audio = np.ascontiguousarray(adapt_channels(audio, channels or audio.shape[1]))
        self.file_rate = self.sample_rate = int(sample_rate)
        self.path = "<array>"
        self.frames = len(self.audio)
        self.loop = False
        self.position = 0
        self.ended = False
        return self

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` (frames, channels); returns the file frames it holds (the rest is
        zeros). Called from the audio callback: copies only."""
        n = out.shape[0]
        p = self.position
        k = min(n, self.frames - p)
        if k > 0:
            out[:k] = self.audio[p:p + k]
        else:
            k = 0
        if k < n:
            if self.loop and self.frames:
                self.position = 0
                return k + self.read_into(out[k:])
            out[k:] = 0.0
            self.ended = True
        self.position = p + k
        return k

    def rewind(self) -> None:
        self.position = 0
        self.ended = False
