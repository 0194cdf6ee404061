"""A queue of songs for an evening: files, folders and M3U playlists as one source.

``rtsep live|gui --source A.flac B.mp3 music/ evening.m3u`` plays the songs one after the
other without a gap (:mod:`rtsep.host.evening` separates the next song while the current one
plays and renders key and tempo). This module is the list and its source:

* :func:`expand_sources`: command-line items → :class:`Song` entries. A folder gives its audio
  files (sorted by name, not recursive); a ``.m3u``/``.m3u8`` playlist is *read* (never run):
  one path per line, relative to the playlist, ``#EXTINF:seconds,title`` naming the next entry;
  URLs and nested playlists are not followed. Each entry's header is opened once: one that is
  missing or unreadable is listed as failed with one line (``notes``), never a crash.
* :class:`SongQueue`: the songs, the singer's key and tempo (:class:`~.keytempo.KeyTempo`),
  next/skip requests from the GUI, and one summary row per song.
* :class:`QueueSource`: what :class:`~rtsep.host.stream.LiveHost` sees as its ``source`` (a
  :class:`~.source.FileSource` look-alike): the song at the playhead, its position and length in
  song time; its blocks are silence that the ahead engine replaces with the rendered song.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RtsepError
from .keytempo import KeyTempo
from .source import FileSource

PLAYLIST_EXTENSIONS = ("m3u", "m3u8")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass
class Song:
    """One entry of the queue and, once played, its summary row."""

    path: str
    title: str
    duration_s: float | None = None    # from the header (None: unknown)
    error: str | None = None           # why it is not played (one line)
    skipped: bool = False              # the singer chose to skip it
    state: str = "queued"              # queued, playing, played, skipped, failed
    played_s: float = 0.0              # song seconds played
    ahead_s: float | None = None       # least separated song time beyond the playhead while it played
    score: float | None = None

    @property
    def playable(self) -> bool:
        return self.error is None and not self.skipped

    def row(self) -> dict:
        return {"title": self.title, "path": self.path,
                "duration": None if self.duration_s is None else round(self.duration_s, 2),
                "state": self.state, "played_s": round(self.played_s, 2),
                "ahead_s": None if self.ahead_s is None else round(self.ahead_s, 2),
                "score": None if self.score is None else round(self.score, 1), "error": self.error}


def _probe(path: Path) -> tuple[float | None, str | None]:
    """``(duration_s, error)`` from the file's header (opened, not decoded)."""
    from ..io.audiofile import open_input

    try:
        with open_input(path) as f:
            return f.frames / f.samplerate, None
    except RtsepError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is one line about this entry
        return None, f"{path}: cannot read ({type(exc).__name__}: {exc})"


def parse_m3u(path: Path) -> list[tuple[str, str | None]]:
    """``[(entry, title or None)]`` of an M3U playlist (read as text, never executed)."""
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise RtsepError(f"{path}: cannot read the playlist ({exc.strerror or exc})") from None
    out, title = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.upper().startswith("#EXTINF:") and "," in line:
                title = line.split(",", 1)[1].strip() or None
            continue
        out.append((line, title))
        title = None
    return out


def _entry_path(entry: str, base: Path) -> tuple[Path | None, str | None]:
    """A playlist line as a local path, or ``(None, why not)``."""
    if entry.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(entry).path)), None
    if _URL.match(entry):
        return None, f"{entry}: not a local file (URLs are not fetched)"
    p = Path(os.path.expanduser(entry))
    return (p if p.is_absolute() else base / p), None


def expand_sources(items, *, probe: bool = True) -> tuple[list[Song], list[str]]:
    """Command-line ``--source`` items → ``(songs, notes)``; a note per entry that cannot be
    played (it stays in the list as failed)."""
    from ..io.audiofile import is_audio_file

    songs: list[Song] = []
    notes: list[str] = []

    def add(path: Path, title: str | None = None, error: str | None = None) -> None:
        duration = None
        if error is None and probe:
            duration, error = _probe(path)
        song = Song(str(path), title or path.stem, duration, error)
        if error is not None:
            song.state = "failed"
            notes.append(f"skipped {path}: {error.removeprefix(str(path) + ': ')}")
        songs.append(song)

    for item in items:
        p = Path(os.fspath(item))
        if p.is_dir():
            files = sorted((f for f in p.iterdir() if is_audio_file(f)), key=lambda f: f.name.lower())
            if not files:
                notes.append(f"skipped {p}: no audio files in the folder")
            for f in files:
                add(f)
        elif p.suffix.lower().lstrip(".") in PLAYLIST_EXTENSIONS and p.is_file():
            entries = parse_m3u(p)
            if not entries:
                notes.append(f"skipped {p}: the playlist lists no files")
            for entry, title in entries:
                path, why = _entry_path(entry, p.parent)
                if path is None:
                    songs.append(Song(entry, title or entry, error=why, state="failed"))
                    notes.append(f"skipped {why}")
                elif path.suffix.lower().lstrip(".") in PLAYLIST_EXTENSIONS:
                    add(path, title, "a playlist inside a playlist is not followed")
                else:
                    add(path, title)
        else:
            add(p)
    return songs, notes


class SongQueue:
    """The evening: songs in order, the singer's key and tempo, next/skip requests.

    Not bound to a stream yet: :class:`~rtsep.host.stream.LiveHost` makes it a
    :class:`QueueSource` at its rate. Attributes the producer keeps up to date (read them from
    any thread): ``current`` (the song at the playhead), each song's ``state``, ``played_s``,
    ``ahead_s``, ``score``; ``messages``: one line per song that failed while playing.
    ``stem_cache``: a :class:`~rtsep.host.stem_cache.StemCache` the songs' stems are kept in
    (a song that comes round again is not separated again), or ``None``.
    """

    def __init__(self, songs: list[Song], notes: list[str] | None = None, *, key: float = 0.0,
                 tempo: float = 1.0, loop: bool = False, stem_cache=None):
        if not any(s.playable for s in songs):
            why = "; ".join(notes or []) or "the list is empty"
            raise RtsepError(f"--source: no playable song ({why})")
        self.songs = songs
        self.notes = list(notes or [])
        self.controls = KeyTempo(key, tempo)
        self.loop = loop
        self.stem_cache = stem_cache
        self.current = self.next_index(-1)
        self.next_seq = 0                 # bumped by next(): the producer moves on
        self.next_at = 0.0                # time.monotonic() of the latest next()
        self.messages: list[str] = []

    @classmethod
    def from_items(cls, items, *, key: float = 0.0, tempo: float = 1.0, loop: bool = False,
                   stem_cache=None) -> "SongQueue":
        songs, notes = expand_sources(items)
        return cls(songs, notes, key=key, tempo=tempo, loop=loop, stem_cache=stem_cache)

    def __len__(self) -> int:
        return len(self.songs)

    def next_index(self, i: int) -> int | None:
        """The playable song after ``i`` (wrapping around when looping), or ``None``."""
        n = len(self.songs)
        for k in range(1, n + 1):
            j = i + k
            if j >= n:
                if not self.loop and j >= n:
                    return None
                j %= n
            if self.songs[j].playable:
                return j
        return None

    def next(self) -> None:
        """Any thread: end the song at the playhead now (crossfaded) and play the next one."""
        self.next_at = time.monotonic()
        self.next_seq += 1

    def skip(self, index: int, skipped: bool = True) -> None:
        """Any thread: don't play song ``index`` (or play it again); the playing song: next."""
        song = self.songs[index]
        if song.error is not None:
            return
        song.skipped = skipped
        if skipped and song.state == "queued":
            song.state = "skipped"
        elif not skipped and song.state == "skipped":
            song.state = "queued"
        if skipped and index == self.current:
            self.next()

    def fail(self, index: int, error: str) -> None:
        song = self.songs[index]
        song.error, song.state = error, "failed"
        self.messages.append(f"skipped {song.path}: {error.removeprefix(song.path + ': ')}")

    def rows(self) -> list[dict]:
        return [s.row() for s in self.songs]


class QueueSource(FileSource):
    """A :class:`SongQueue` as the host's ``source`` (see module doc); its audio comes rendered
    through the ahead engine's ring (:class:`~rtsep.host.evening.QueueProducer`)."""

    def __init__(self, queue: SongQueue, sample_rate: int, channels: int):
        self.queue = queue
        self.sample_rate = self.file_rate = int(sample_rate)
        self.channels = int(channels)
        self.audio = np.zeros((0, self.channels), np.float32)  # nothing preloaded: songs come one by one
        self.producer = None
        self.ended = False

    @property
    def loop(self) -> bool:
        return self.queue.loop

    @loop.setter
    def loop(self, value: bool) -> None:
        self.queue.loop = bool(value)

    def _now(self) -> tuple[int, float]:
        p = self.producer
        if p is None:
            return self.queue.current or 0, 0.0
        song, frame, _tempo, _key = p.where(None)
        return song, frame

    @property
    def song(self) -> Song:
        return self.queue.songs[self._now()[0]]

    @property
    def path(self) -> str:
        return self.song.path

    @property
    def position(self) -> int:
        """Song frame of the playhead in the song playing (song time: tempo does not change it)."""
        return int(self._now()[1])

    @property
    def frames(self) -> int:
        """The playing song's length in frames; 0 once the queue has ended (the host then stops)."""
        if self.ended:
            return 0
        d = self.song.duration_s
        return int(round((d or 0.0) * self.sample_rate))

    @property
    def duration_s(self) -> float:
        return self.song.duration_s or 0.0

    def read_into(self, out: np.ndarray) -> int:
        """Callback: silence (the engine writes the rendered song over it); 0 frames once the
        last song has been played out."""
        out.fill(0.0)
        p = self.producer
        if p is not None and p.finished and p.ring.read_count >= p.ring.write_count:
            self.ended = True
            return 0
        return out.shape[0]

    def rewind(self) -> None:
        """Play the queue again from its first song (the GUI's start after the end)."""
        if self.producer is not None and self.ended:
            self.producer.restart()
        self.ended = False

    def build_ahead(self, host, with_karaoke: bool, ahead_seconds: float, stems):
        """The ahead engine of the host over this queue (called by ``LiveHost``)."""
        from .evening import build_queue_engine

        return build_queue_engine(self, host, with_karaoke, ahead_seconds, stems)


def open_source(source, sample_rate: int, channels: int) -> FileSource:
    """``LiveHost``'s ``source``: a :class:`FileSource` as is, a :class:`SongQueue` bound to the
    stream, else a path (or a one-item list of a file) read whole."""
    if isinstance(source, FileSource):
        return source
    if isinstance(source, SongQueue):
        return QueueSource(source, sample_rate, channels)
    if isinstance(source, (list, tuple)):
        if len(source) == 1 and Path(source[0]).suffix.lower().lstrip(".") not in PLAYLIST_EXTENSIONS \
                and not Path(source[0]).is_dir():
            source = source[0]
        else:
            return QueueSource(SongQueue.from_items(source), sample_rate, channels)
    return FileSource(source, sample_rate, channels)
