"""Reading inputs safely and writing outputs atomically (temporary file, then rename)."""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioFileError

MIN_RATE_HZ = 1000


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_input(path: str | os.PathLike) -> sf.SoundFile:
    """Open an audio file for reading; a one-line :class:`AudioFileError` if it is no audio."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file")
    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile's errors: unknown format, truncated header...
        raise AudioFileError(f"{path}: not a readable audio file ({_first_line(exc)})") from None
    if f.frames == 0:
        f.close()
        raise AudioFileError(f"{path}: contains no audio frames")
    if f.samplerate < MIN_RATE_HZ:
        f.close()
        raise AudioFileError(f"{path}: sample rate {f.samplerate} Hz is too low (minimum {MIN_RATE_HZ})")
    return f


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Whole file as float32 ``(frames, channels)`` and its rate."""
    with open_input(path) as f:
        try:
            audio = f.read(dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioFileError(f"{path}: cannot decode ({_first_line(exc)})") from None
        return audio, f.samplerate


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower().lstrip(".") in {
        "wav", "flac", "ogg", "opus", "aiff", "aif", "mp3", "au", "caf", "w64", "rf64"}


@contextmanager
def atomic_outputs(paths: list[Path], sample_rate: int, channels: int, subtype: str = "FLOAT"):
    """Open a temporary file beside each of ``paths``; on success rename them all into
    place, on any error delete them, so that no half-written output is ever left."""
    tmp_paths: list[Path] = []
    try:
        with ExitStack() as stack:
            files = []
            for p in paths:
                p.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}-", suffix=".tmp.wav", dir=p.parent)
                os.close(fd)
                tmp_paths.append(Path(tmp))
                files.append(stack.enter_context(
                    sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=channels, subtype=subtype,
                                 format="WAV")))
            yield files
        for tmp, p in zip(tmp_paths, paths):
            os.replace(tmp, p)
        tmp_paths = []
    finally:
        for tmp in tmp_paths:
            tmp.unlink(missing_ok=True)


def check_writable_dir(path: Path) -> None:
    """Create ``path`` if needed and make sure a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rtsep-write-test-", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise AudioFileError(f"cannot write to output folder {path}: {exc.strerror or _first_line(exc)}") from None
