"""Melody files: CSV with the header ``time_s,f0_hz`` and one frame per line (0 Hz = unvoiced)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import AudioFileError, one_line
from .melody import Melody

HEADER = "time_s,f0_hz"


def write_melody_csv(path: str | os.PathLike, melody: Melody) -> Path:
    """Write atomically (a temporary file beside ``path``, then rename): never a half-written file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp.csv", dir=path.parent)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", newline="") as f:
            data = np.column_stack([melody.times_s, melody.f0_hz])
            np.savetxt(f, data, fmt=("%.3f", "%.2f"), delimiter=",", header=HEADER, comments="")
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise AudioFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def read_melody_csv(path: str | os.PathLike) -> Melody:
    """Read a file written by :func:`write_melody_csv` (frames on a regular grid from 0 s)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip()
            if header != HEADER:
                raise AudioFileError(f"{path}: not a melody file (header {header[:40]!r}, expected {HEADER!r})")
            data = np.loadtxt(f, delimiter=",", ndmin=2, dtype=np.float64)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise AudioFileError(f"{path}: malformed melody file ({one_line(exc)})") from None
    if data.shape[0] < 2 or data.shape[1] != 2:
        raise AudioFileError(f"{path}: a melody file needs two columns and at least two frames")
    times, f0 = data[:, 0], data[:, 1]
    hop = (times[-1] - times[0]) / (len(times) - 1)
    if not (hop > 0 and abs(times[0]) < hop / 2 and np.all(np.abs(np.diff(times) - hop) < hop / 4)):
        raise AudioFileError(f"{path}: frame times must start at 0 s and step regularly")
    return Melody(round(hop, 6), f0)
