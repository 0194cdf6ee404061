"""A seeded generator of broken audio files, made from real ones (tests/test_bad_files.py).

Each file is a short real clip written in one of the formats users have (WAV PCM16 / float,
FLAC, Ogg Vorbis, AIFF), then damaged in one of the ways files get damaged: truncated
anywhere (inside the header too), bits flipped in the header or in the payload, a wrong
extension (another format's bytes, text, an image, random bytes), empty (zero bytes, or a
valid header with no frames), NaN/Inf samples, odd rates and channel counts. Some are left
intact as controls. ``make_bad_files(folder, n, seed)`` returns one :class:`BadFile` per file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# format name -> (soundfile format, subtype, extension)
FORMATS = {
    "wav16": ("WAV", "PCM_16", "wav"),
    "wavf": ("WAV", "FLOAT", "wav"),
    "flac": ("FLAC", "PCM_16", "flac"),
    "ogg": ("OGG", "VORBIS", "ogg"),
    "aiff": ("AIFF", "PCM_16", "aiff"),
}
KINDS = ("intact", "odd-shape", "nonfinite", "truncated", "header-bits", "payload-bits", "wrong-extension",
         "not-audio", "zero-bytes", "no-frames")
# Relative weights: the damaged kinds dominate, a few intact controls keep the test honest.
WEIGHTS = np.array([1, 1, 1, 3, 3, 3, 2, 1, 1, 1], float)


@dataclass(frozen=True)
class BadFile:
    path: Path
    kind: str      # one of KINDS
    source: str    # the format the bytes came from


def real_clips(sources: list[Path], rng: np.random.Generator, n: int = 12) -> list[tuple[np.ndarray, int]]:
    """``n`` real excerpts (0.3–1.2 s, ``frames x channels`` float32, rate) cut from ``sources``."""
    clips = []
    for i in range(n):
        src = sources[i % len(sources)]
        info = sf.info(str(src))
        length = int(rng.uniform(0.3, 1.2) * info.samplerate)
        start = int(rng.integers(0, max(1, info.frames - length)))
        audio, rate = sf.read(str(src), start=start, frames=length, dtype="float32", always_2d=True)
        clips.append((audio, rate))
    return clips


def encode(audio: np.ndarray, rate: int, fmt: str) -> bytes:
    major, subtype, _ = FORMATS[fmt]
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=major, subtype=subtype)
    return buf.getvalue()


def _flip_bits(data: bytes, lo: int, hi: int, rng: np.random.Generator) -> bytes:
    arr = bytearray(data)
    hi = min(hi, len(arr))
    if hi <= lo:
        return bytes(arr)
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(lo, hi))
        arr[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(arr)


def damage(kind: str, audio: np.ndarray, rate: int, fmt: str, rng: np.random.Generator) -> tuple[bytes, str]:
    """The bytes of one file of ``kind`` and the extension it is given."""
    ext = FORMATS[fmt][2]
    if kind == "intact":
        return encode(audio, rate, fmt), ext
    if kind == "odd-shape":  # odd rates and channel counts, still valid files
        new_rate = int(rng.choice([8000, 11025, 22050, 32000, 96000]))
        channels = int(rng.choice([1, 3, 6]))
        shaped = np.repeat(audio[:, :1], channels, axis=1) * rng.uniform(0.5, 1.0, channels).astype(np.float32)
        return encode(shaped, new_rate, "wav16" if fmt == "ogg" and channels > 2 else fmt), ext
    if kind == "nonfinite":
        bad = audio.copy()
        idx = rng.integers(0, bad.size, max(1, bad.size // 50))
        bad.flat[idx] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), len(idx))
        return encode(bad, rate, "wavf"), "wav"
    data = encode(audio, rate, fmt)
    if kind == "truncated":
        cut = int(rng.integers(0, len(data))) if rng.random() < 0.5 else int(rng.integers(0, min(len(data), 128)))
        return data[:cut], ext
    if kind == "header-bits":
        return _flip_bits(data, 0, 64, rng), ext
    if kind == "payload-bits":
        return _flip_bits(data, 64, len(data), rng), ext
    if kind == "wrong-extension":
        other = str(rng.choice([f for f in FORMATS if FORMATS[f][2] != ext]))
        return data, str(rng.choice(["mp3", "m4a", "opus", FORMATS[other][2]]))
    if kind == "not-audio":
        payload = [b"hello, this is not audio\n" * 20, b"\x89PNG\r\n\x1a\n" + bytes(200),
                   rng.bytes(int(rng.integers(1, 4096)))][int(rng.integers(0, 3))]
        return payload, str(rng.choice(["wav", "flac", "mp3", "ogg", "m4a"]))
    if kind == "zero-bytes":
        return b"", ext
    if kind == "no-frames":
        return encode(np.zeros((0, audio.shape[1]), np.float32), rate, "wav16" if fmt == "ogg" else fmt), ext
    raise ValueError(kind)


def make_bad_files(folder: Path, sources: list[Path], n: int = 500, seed: int = 25) -> list[BadFile]:
    """Write ``n`` files into ``folder`` (names ``NNN-kind.ext``, unique stems); reproducible."""
    rng = np.random.default_rng(seed)
    clips = real_clips(sources, rng)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        kind = str(rng.choice(KINDS, p=WEIGHTS / WEIGHTS.sum()))
        fmt = str(rng.choice(list(FORMATS)))
        audio, rate = clips[int(rng.integers(0, len(clips)))]
        data, ext = damage(kind, audio, rate, fmt, rng)
        path = folder / f"{i:03d}-{kind}.{ext}"
        path.write_bytes(data)
        files.append(BadFile(path, kind, fmt))
    return files
