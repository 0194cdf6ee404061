"""Reading inputs safely and writing outputs atomically (temporary file, then rename).

Inputs are decoded by :mod:`rtsep.io.decode`: WAV/FLAC/AIFF by libsndfile, every other
format (M4A/AAC, MP3, Opus, Ogg, and the audio of MP4/MKV/WebM videos) by FFmpeg.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioFileError
from .decode import AUDIO_EXTENSIONS, AudioReader, open_audio
from .decode import first_line as _first_line

MIN_RATE_HZ = 1000


def open_input(path: str | os.PathLike) -> AudioReader:
    """Open an audio file (or a video's audio track) for streaming reads: ``.samplerate``,
    ``.channels``, ``.frames`` (an estimate until the end for FFmpeg-decoded files, see
    :class:`rtsep.io.decode.AudioReader`), ``.read(n, dtype="float32", always_2d=True)``;
    a one-line :class:`AudioFileError` if it holds no readable audio."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file")
    f = open_audio(path)
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
        audio = f.read(dtype="float32", always_2d=True)  # decode errors: AudioFileError
        if not len(audio):
            raise AudioFileError(f"{path}: contains no audio frames")
        return audio, f.samplerate


def is_audio_file(path: Path) -> bool:
    """A file whose extension is one of the audio or video formats rtsep decodes."""
    return path.is_file() and path.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process's umask."""
    global _FILE_MODE
    if _FILE_MODE is None:
        mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(mask)
        _FILE_MODE = 0o666 & ~mask
    return _FILE_MODE


_FILE_MODE: int | None = None


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
                os.fchmod(fd, _new_file_mode())  # mkstemp's 0600 would outlive the rename
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
