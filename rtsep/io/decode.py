"""Streaming decoders for the files users have: WAV/FLAC through libsndfile, everything
else (M4A/AAC, MP3, Opus, Ogg Vorbis, MP4/MKV/WebM/MOV videos, ...) through FFmpeg (PyAV).

Both readers share one small interface (:class:`AudioReader`), like ``soundfile.SoundFile``'s:
``samplerate``, ``channels``, ``frames``, ``read(n, dtype="float32", always_2d=True)`` ->
``(frames, channels)`` and ``close()`` / ``with``. Memory stays bounded: a read decodes
only as many packets as it needs.

Lengths of lossy files: FFmpeg drops the encoder's priming samples and end padding where
the file says how many there are (MP4/M4A edit lists and iTunes gapless data, the LAME/Xing
tag of an MP3, Opus pre-skip and end granule in Ogg, CodecDelay/DiscardPadding in WebM), so
the decoded signal starts on the encoder's first input sample. The stems are as long as
what is decoded: where a container does not mark the end padding (AAC in MP4/M4A written
without gapless data, AAC in MKV) up to one codec frame of near-silence (1024 samples,
23 ms at 44.1 kHz) remains at the end; the container's own duration is not used to cut it,
as it is rounded differently by different muxers. An MP3 without a LAME tag keeps the
decoder's delay (529 samples) and its last frame's padding: nothing in the file says how
long they are.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import AudioFileError, one_line

# Read sample-exactly by libsndfile (PCM and lossless containers, exact frame counts).
SNDFILE_EXTENSIONS = frozenset({"wav", "wave", "flac", "aiff", "aif", "aifc", "au", "snd", "caf", "w64", "rf64"})
# Decoded by FFmpeg: lossy audio, and the audio track of video containers.
FFMPEG_EXTENSIONS = frozenset({
    "mp3", "mp2", "m4a", "m4b", "aac", "adts", "alac", "ogg", "oga", "opus", "spx", "wma", "ac3", "eac3", "dts",
    "amr", "ape", "wv", "mka", "mpc", "tta", "webm", "mkv", "mp4", "m4v", "mov", "avi", "flv", "wmv", "3gp",
    "3g2", "ts", "mts", "m2ts", "mpg", "mpeg", "vob", "ogv", "dv"})
AUDIO_EXTENSIONS = SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (FFmpeg's: its reason, without errno and path)."""
    reason = getattr(exc, "strerror", None)
    return one_line(OSError(reason) if reason else exc)


# Float samples beyond this (80 dB over full scale) are damaged data, not sound (a flipped exponent
# bit gives 1e35): they are read as NaN, which every separator zeroes and counts, instead of
# overflowing the transforms into Inf/NaN stems.
MAX_SAMPLE = 1e4


def mark_impossible(audio: np.ndarray) -> np.ndarray:
    """``audio`` (float, any shape) with samples of impossible magnitude set to NaN, in place."""
    if audio.dtype.kind == "f" and audio.size:
        with np.errstate(invalid="ignore"):
            bad = np.abs(audio) > MAX_SAMPLE
        if bad.any():
            audio[bad] = np.nan
    return audio


def _shape(audio: np.ndarray, dtype: str, always_2d: bool) -> np.ndarray:
    audio = mark_impossible(audio.astype(dtype, copy=False))
    return audio if always_2d or audio.shape[1] != 1 else audio[:, 0]


class AudioReader:
    """A file being read: ``frames x channels`` blocks of float samples.

    Attributes:
        name: the path.
        samplerate: Hz.
        channels: channel count.
        frames: length in frames; for FFmpeg-decoded files an estimate from the container
            until the last frame has been read, then exact (``frames_exact``). The estimate
            grows as needed so that ``frames - tell()`` stays positive until the end.
        frames_exact: whether ``frames`` is exact.
        decoder: ``"libsndfile"`` or ``"ffmpeg:<codec>"``.
    """

    name: str
    samplerate: int
    channels: int
    frames: int
    frames_exact: bool
    decoder: str

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        """The next ``frames`` frames (all that are left for -1; fewer at the end, none
        after it) as ``(frames, channels)`` (``always_2d=False``: mono as ``(frames,)``);
        a one-line :class:`AudioFileError` for data that cannot be decoded."""
        raise NotImplementedError  # pragma: no cover - interface

    def tell(self) -> int:
        """Frames read so far."""
        raise NotImplementedError  # pragma: no cover - interface

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        approx = "" if self.frames_exact else "~"
        return (f"<{type(self).__name__} {self.name!r} {self.samplerate} Hz x {self.channels} ch, "
                f"{approx}{self.frames} frames, {self.decoder}>")


class SndfileReader(AudioReader):
    """A file libsndfile reads (WAV, FLAC, AIFF, ...): exact length, samples as stored."""

    def __init__(self, path: str | os.PathLike):
        import soundfile as sf

        self.name = str(path)
        self._f = sf.SoundFile(self.name)  # raises for what libsndfile cannot read
        self.samplerate = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        self.frames = int(self._f.frames)
        self.frames_exact = True
        self.decoder = "libsndfile"

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        try:
            return mark_impossible(self._f.read(frames, dtype=dtype, always_2d=always_2d))
        except Exception as exc:  # a truncated or damaged file
            raise AudioFileError(f"{self.name}: cannot decode ({first_line(exc)})") from None

    def tell(self) -> int:
        return int(self._f.tell())

    def close(self) -> None:
        self._f.close()


# Sample formats FFmpeg decoders emit (planar ones end in "p") -> (offset, scale) to [-1, 1).
_FORMATS = {"flt": (0.0, 1.0), "dbl": (0.0, 1.0), "s16": (0.0, 1 / 32768), "s32": (0.0, 1 / 2147483648),
            "s64": (0.0, 1 / 9223372036854775808), "u8": (-128.0, 1 / 128)}


def _frame_to_array(frame) -> np.ndarray:
    """A decoded ``av.AudioFrame`` as float32 ``(samples, channels)``."""
    name = frame.format.name
    planar = name.endswith("p")
    base = name[:-1] if planar else name
    if base not in _FORMATS:
        raise AudioFileError(f"unsupported decoded sample format {name}")
    offset, scale = _FORMATS[base]
    raw = frame.to_ndarray()  # planar: (channels, samples); packed: (1, samples * channels)
    channels = raw.shape[0] if planar else len(frame.layout.channels) or 1
    data = raw.T if planar else raw.reshape(-1, channels)
    if base == "flt":
        return np.ascontiguousarray(data, dtype=np.float32)
    out = data.astype(np.float64 if base in ("s32", "s64") else np.float32)
    if offset:
        out += offset
    out *= scale
    return out.astype(np.float32, copy=False)


class FfmpegReader(AudioReader):
    """The audio stream of any container FFmpeg reads (its default one if there are
    several), decoded as it is read.

    The first packets are decoded when the file is opened, so a file without decodable
    audio fails there, in one line; data that cannot be decoded later (a damaged file)
    fails the read in one line too, rather than being skipped or patched.
    """

    def __init__(self, path: str | os.PathLike):
        import av

        self.name = str(path)
        self._av_error = av.FFmpegError
        try:
            self._container = av.open(self.name, mode="r", metadata_errors="ignore")
        except Exception as exc:
            raise AudioFileError(f"{self.name}: not a readable audio file ({first_line(exc)})") from None
        try:
            streams = self._container.streams.audio
            if not streams:
                kinds = "video only" if self._container.streams.video else "no streams"
                raise AudioFileError(f"{self.name}: has no audio stream ({kinds})")
            best = getattr(self._container.streams, "best", None)  # the default track of several
            self._stream = (best("audio") if best else None) or streams[0]
            self._frames_iter = self._container.decode(self._stream)
            self._pending: deque[np.ndarray] = deque()
            self._buffered = 0
            self._done = False
            self._delivered = 0
            first = self._decode_one()
            if first is None:
                raise AudioFileError(f"{self.name}: contains no audio frames")
            self.samplerate = int(first.sample_rate)
            self.channels = len(first.layout.channels)
            self._pending.append(self._convert(first))
        except BaseException:
            self._container.close()
            raise
        self._buffered = len(self._pending[0])
        self.decoder = f"ffmpeg:{self._stream.codec_context.name}"
        self.frames = max(self._estimate_frames(), self._buffered)
        self.frames_exact = False

    def _estimate_frames(self) -> int:
        s, c = self._stream, self._container
        if s.duration and s.time_base:
            seconds = float(s.duration * s.time_base)
        elif c.duration:
            seconds = c.duration / 1e6  # AV_TIME_BASE
        else:
            return 0
        return int(round(seconds * self.samplerate))

    def _decode_one(self):
        """The next decoded frame with samples, or ``None`` at the end of the stream."""
        try:
            for frame in self._frames_iter:
                if frame.samples:
                    return frame
        except self._av_error as exc:
            raise AudioFileError(f"{self.name}: cannot decode ({first_line(exc)})") from None
        return None

    def _convert(self, frame) -> np.ndarray:
        channels = len(frame.layout.channels)
        if (frame.sample_rate, channels) != (self.samplerate, self.channels):
            raise AudioFileError(f"{self.name}: the audio changes format mid-stream ({self.samplerate} Hz x "
                                 f"{self.channels} -> {frame.sample_rate} Hz x {channels}); not supported")
        try:
            return _frame_to_array(frame)
        except AudioFileError as exc:
            raise AudioFileError(f"{self.name}: {exc}") from None

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        want = None if frames is None or frames < 0 else int(frames)
        while not self._done and (want is None or self._buffered < want):
            frame = self._decode_one()
            if frame is None:
                self._done = True
                break
            block = self._convert(frame)
            self._pending.append(block)
            self._buffered += len(block)
        take = self._buffered if want is None else min(want, self._buffered)
        out = np.empty((take, self.channels), np.float32)
        filled = 0
        while filled < take:
            head = self._pending[0]
            k = min(len(head), take - filled)
            out[filled:filled + k] = head[:k]
            filled += k
            if k == len(head):
                self._pending.popleft()
            else:
                self._pending[0] = head[k:]
        self._buffered -= take
        self._delivered += take
        if self._done and not self._buffered:
            self.frames, self.frames_exact = self._delivered, True
        else:  # an estimate never claims the end before it is there: ``frames - tell() > 0``
            self.frames = max(self.frames, self._delivered + max(self._buffered, 1))
        return _shape(out, dtype, always_2d)

    def tell(self) -> int:
        return self._delivered

    def close(self) -> None:
        self._container.close()


def open_audio(path: str | os.PathLike) -> AudioReader:
    """Open ``path`` with the reader for its kind: libsndfile for WAV/FLAC/AIFF (exact),
    FFmpeg for the rest and for anything libsndfile refuses. One-line
    :class:`AudioFileError` when neither can read it."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FFMPEG_EXTENSIONS:
        try:
            return SndfileReader(path)
        except AudioFileError:
            raise
        except Exception as exc:
            sndfile_error = exc
    else:
        sndfile_error = None
    try:
        return FfmpegReader(path)
    except AudioFileError as exc:
        if sndfile_error is not None and "not a readable audio file" in str(exc):
            raise AudioFileError(f"{path}: not a readable audio file ({first_line(sndfile_error)})") from None
        raise
