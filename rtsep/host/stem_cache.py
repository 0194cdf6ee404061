"""Stems kept on disk: a song that comes round again plays from its stems, not separated again.

A queue that loops, a song sung twice in an evening, the same catalogue next week: the evening's
separation child (:mod:`.separation_process`) looks a song up here before it decodes it. A hit
hands the host the stems file itself (mapped, like the memory file a separation fills: no
decoding, no network); a miss separates as before and, once the whole song is separated, writes
it here.

One file per song *as the host plays it*: named by a hash of the song file's resolved path, size
and modification time, the stream's rate and channels and the separator (its name and its model
file's path and modification time), so an edited song, another rate or a new model is separated
again. The file has the memory file's layout (:class:`~.separation_process.SharedStems`: a
64-byte header, then ``frames x 3C`` float32, accompaniment | vocals | dry). It is written under a
temporary name and renamed once complete, so a reader never sees half a file; a file that does not
read back whole (truncated, another layout) is removed and the song separated again. The folder is
bounded: past ``limit_bytes`` the least recently played files go first.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RtsepError

MAGIC = b"rtsepstm"         # header bytes 24..32 (0..8: frames separated, 8..16: frames, 16..24: channels)
LAYOUT_VERSION = 1
DEFAULT_LIMIT_GB = 4.0      # about 14 four-minute songs at 48 kHz stereo (276 MB each)
STALE_PART_S = 3600.0       # a temporary file this old was left by a process that died
SUFFIX = ".stems"
HEADER_BYTES = 64           # the stems stay 64-byte aligned after it


def stems_nbytes(frames: int, channels: int) -> int:
    """Bytes of a stems buffer: the header and ``frames x 3C`` float32."""
    return HEADER_BYTES + 4 * int(frames) * 3 * int(channels)


def default_dir() -> Path:
    """``$RTSEP_STEM_CACHE``, else ``$XDG_CACHE_HOME/rtsep/stems``, else ``~/.cache/rtsep/stems``."""
    env = os.environ.get("RTSEP_STEM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rtsep" / "stems"


def write_header(head: np.ndarray, frames: int, channels: int) -> None:
    """The header of a stems buffer (``head``: its first 64 bytes as uint8)."""
    fields = head[:24].view(np.int64)
    fields[1], fields[2] = frames, channels
    head[24:32] = np.frombuffer(MAGIC, np.uint8)


@dataclass(frozen=True)
class StemCache:
    """A stems folder (see module doc); picklable: the separation child gets it."""

    folder: str
    limit_bytes: int = int(DEFAULT_LIMIT_GB * 1e9)

    @classmethod
    def from_option(cls, value: str | None, limit_gb: float = DEFAULT_LIMIT_GB) -> "StemCache | None":
        """``--stem-cache``: ``None`` (the default folder), ``off``, or a folder."""
        if value is not None and value.strip().lower() == "off":
            return None
        folder = default_dir() if value is None else Path(value).expanduser()
        if folder.exists() and not folder.is_dir():
            raise RtsepError(f"--stem-cache: {folder} is not a folder")
        return cls(str(folder), int(limit_gb * 1e9))

    def key(self, path: str, sample_rate: int, channels: int, separator: str) -> str:
        """The file name for a song (``OSError`` if the song cannot be looked at)."""
        real = os.path.realpath(path)
        st = os.stat(real)
        ident = f"{LAYOUT_VERSION}|{real}|{st.st_size}|{st.st_mtime_ns}|{sample_rate}|{channels}|{separator}"
        return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:40] + SUFFIX

    def open(self, name: str, channels: int) -> tuple[int, int] | None:
        """A complete stems file: ``(fd, frames)`` (a read-only descriptor; marked as just played),
        or ``None`` (none, or a damaged one, which is removed)."""
        path = os.path.join(self.folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            head = os.pread(fd, 32, 0)
            separated, frames, c = np.frombuffer(head[:24], np.int64) if len(head) == 32 else (-1, -2, 0)
            size = os.fstat(fd).st_size
            if head[24:32] != MAGIC or c != channels or separated != frames or frames <= 0 \
                    or size != stems_nbytes(frames, channels):
                os.close(fd)
                _unlink(path)
                return None
            os.utime(path)  # played now: the last to go
            if hasattr(os, "posix_fadvise"):  # read it in before the render thread gets there
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            return fd, int(frames)
        except OSError:
            os.close(fd)
            return None

    def store(self, name: str, buf) -> bool:
        """Write a complete stems buffer (header included) as ``name``; then keep the folder
        within its limit. False (nothing left behind) when the disk refuses."""
        try:
            os.makedirs(self.folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=self.folder)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(memoryview(buf))
            os.replace(tmp, os.path.join(self.folder, name))
        except OSError:
            _unlink(tmp)
            return False
        self.trim()
        return True

    def trim(self) -> None:
        """Remove the least recently played files past the limit, and dead processes' parts."""
        now = time.time()
        files = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for e in entries:
            try:
                st = e.stat()
            except OSError:
                continue
            if e.name.startswith(".part-"):
                if now - st.st_mtime > STALE_PART_S:
                    _unlink(e.path)
            elif e.name.endswith(SUFFIX):
                files.append((st.st_mtime, st.st_size, e.path))
        total = sum(f[1] for f in files)
        for _mtime, size, path in sorted(files):
            if total <= self.limit_bytes:
                break
            _unlink(path)  # a host still playing it keeps its mapping
            total -= size


def separator_identity(stems) -> str:
    """What makes a separator's stems differ: its name, and its model file's path and
    modification time where it has one (the U-Net's ``model.card.path``)."""
    name = getattr(stems, "name", type(stems).__qualname__)
    parts = [f"{type(stems).__module__}.{type(stems).__qualname__}", str(name)]
    for attrs in (("model", "card", "path"), ("sep", "model", "card", "path")):
        obj = stems
        for a in attrs:
            obj = getattr(obj, a, None)
        if isinstance(obj, (str, os.PathLike)):
            try:
                parts.append(f"{os.path.realpath(obj)}@{os.stat(obj).st_mtime_ns}")
            except OSError:
                parts.append(str(obj))
            break
    if getattr(stems, "wiener", False):
        parts.append("wiener")
    return "|".join(parts)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
