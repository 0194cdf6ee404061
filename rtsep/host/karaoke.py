"""Pitch guide and score of a sing-along, on a thread of their own (never the audio thread).

* **Reference melody**: the song's vocal stem arrives from the ahead producer
  (:mod:`rtsep.host.ahead`), ahead of the playhead; it is kept as mono and its melody
  computed in chunks before the playhead gets there, by :class:`rtsep.pitch.MelodyTracker`
  in a child process (:class:`rtsep.pitch.worker.MelodyProcess`: pYIN holds the
  interpreter lock for tens of ms, which the audio callback cannot wait for).
* **Singer**: the audio callback copies the microphone block into :attr:`Karaoke.mic_ring`
  (lock-free, lossy); this thread feeds it to :class:`rtsep.pitch.StreamingPitch` and
  scores each estimate against the reference (:class:`rtsep.pitch.Scorer`) at the song
  time the singer was singing to: the playhead minus the microphone's round trip.

A queue of songs (:mod:`rtsep.host.evening`) gives each song its own vocal buffer, melody (all
on one child process, :class:`rtsep.pitch.worker.MelodyServer`) and score (:meth:`begin_song`,
:meth:`push_song_vocals`) and a ``where`` map from the output's frames to ``(song, song frame,
key)``: the singer is scored against the song and the song time being played when they sang,
their pitch moved back by the key of that moment (so the score follows the key), and the readers
show the song at the playhead, shifted by its key.

API for a GUI (any thread): :meth:`melody`, :meth:`singer_track`, :attr:`score`.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .realtime import lower_priority
from .ring import FrameRing, ValueRing

MELODY_CHUNK_S = 2.0   # vocals handed to the melody tracker this much at a time
KARAOKE_NICE = 10


def _melody_server():
    """A child process for an evening's melodies (``None``: compute them in this process)."""
    try:
        from ..pitch.worker import MelodyServer
    except ImportError:
        return None
    return MelodyServer()


def _melody_tracker(sample_rate: int, server=None):
    if server is not None:
        return server.track(sample_rate)
    try:
        from ..pitch.worker import MelodyProcess
    except ImportError:  # in this process: may cost the audio callback its deadline
        from ..pitch import MelodyTracker as MelodyProcess
    return MelodyProcess(sample_rate)


def pitch_available() -> bool:
    try:
        from ..pitch import MelodyTracker, Scorer, StreamingPitch  # noqa: F401
    except ImportError:
        return False
    return True


class _SongPitch:
    """One song's vocal stem (mono, kept for one pass), its melody (child process) and score."""

    def __init__(self, sample_rate: int, frames: int, tracker=None):
        self.sample_rate = sample_rate
        self.frames = int(frames)
        self.vocal = np.zeros(self.frames, dtype=np.float32)
        self.upto = 0                 # frames of the vocal stem received (first pass)
        self.melody_upto = 0          # frames of it given to the melody tracker
        self.tracker = tracker if tracker is not None else _melody_tracker(sample_rate)
        self.finished = False
        self.scorer = None

    def push(self, song_frame: int, vocals: np.ndarray) -> None:
        u = self.upto
        if song_frame != u or u >= self.frames:
            return
        n = min(len(vocals), self.frames - u)
        np.mean(vocals[:n], axis=1, out=self.vocal[u:u + n])
        self.upto = u + n

    def extend(self) -> None:
        """Hand the melody tracker the vocals received since (ahead of the playhead)."""
        u, m = self.upto, self.melody_upto
        chunk = int(MELODY_CHUNK_S * self.sample_rate)
        if self.finished or (u - m < chunk and u < self.frames):
            return
        u = min(u, m + 4 * chunk)  # bounded steps: the microphone's ring is read in between
        if u > m:
            self.tracker.push(self.vocal[m:u])
            self.melody_upto = u
        if u >= self.frames and self.upto >= self.frames:
            self.finished = True
            self.vocal = np.zeros(0, np.float32)  # all handed over: an evening keeps no songs
            try:
                self.tracker.finish(timeout=0)  # queue the end; the last frames come when they come
            except TypeError:
                self.tracker.finish()
            except Exception:  # noqa: BLE001 - "not finished within 0 s": expected
                pass

    def close(self) -> None:
        close = getattr(self.tracker, "close", None)
        if close is not None:
            close()


class Karaoke:
    """The sing-along's pitch guide and score (see module doc).

    Args:
        sample_rate: the stream rate.
        song_frames: the song's length at that rate (the vocal stem is kept for one pass);
            ``None`` for a queue: songs come with :meth:`begin_song`.
        blocksize: the stream's block (sizes the microphone ring).
        where: a queue's map ``output frame (or None: the playhead) -> (song, song_frame, tempo, key)``.
        now: a queue's output frame at the playhead.
    """

    def __init__(self, sample_rate: int, song_frames: int | None, blocksize: int = 256, *,
                 where=None, now=None):
        self.sample_rate = int(sample_rate)
        self.mic_ring = FrameRing(max(1 << 16, 64 * blocksize), 1)
        self._songs: dict[int, _SongPitch] = {}
        self._where = where
        self._now = now
        self._server = None
        if song_frames is not None:
            self.song_frames = int(song_frames)
            self._songs[0] = _SongPitch(self.sample_rate, song_frames)
        else:
            # One child process tracks every song of the queue, started here, at this thread's
            # priority (a process inherits its creator's): the separation thread that begins the
            # songs runs at SCHED_IDLE, and pYIN at nice 10 fell behind the playhead on a busy machine.
            self._server = _melody_server()
        self._singer = ValueRing(1 << 14, 3)  # (song_time_s, f0_hz at the song's key, song) per estimate
        self._tracker = None
        self._origin = 0
        self._delay = 0
        self._thread: threading.Thread | None = None
        self._stop = False
        self.error: BaseException | None = None

    @property
    def tracker(self):
        """The melody tracker of the song at the playhead."""
        return self._song().tracker

    def _song(self, index: int | None = None) -> _SongPitch:
        if index is None:
            index = self._where(None)[0] if self._where is not None else 0
        song = self._songs.get(index)
        if song is None:  # not begun (or closed): an empty stand-in
            song = next(iter(self._songs.values()), None)
        return song

    def _key(self) -> float:
        return float(self._where(None)[3]) if self._where is not None else 0.0

    # --- producer threads (the separation ahead) -----------------------------------------------
    def push_vocals(self, song_frame: int, vocals: np.ndarray) -> None:
        """The vocal stem ``(n, channels)`` at ``song_frame``, kept (as mono) on its first pass."""
        self._songs[0].push(song_frame, vocals)

    def begin_song(self, index: int, frames: int) -> None:
        """A queue's song ``index`` of ``frames`` frames is about to be separated."""
        old = self._songs.get(index)
        self._songs[index] = _SongPitch(self.sample_rate, frames, _melody_tracker(self.sample_rate, self._server))
        if old is not None:
            old.close()

    def push_song_vocals(self, index: int, song_frame: int, vocals: np.ndarray) -> None:
        song = self._songs.get(index)
        if song is not None:
            song.push(song_frame, vocals)

    def end_songs(self, keep) -> None:
        """Close the melody processes of the songs not in ``keep`` (played, skipped)."""
        for i in [i for i in list(self._songs) if i not in keep]:  # list(): the separation thread adds
            song = self._songs.pop(i, None)
            if song is not None:
                song.close()

    def song_score(self, index: int) -> float | None:
        song = self._songs.get(index)
        s = None if song is None or song.scorer is None else song.scorer
        return None if s is None or not s.voiced_frames else float(s.score)

    # --- control thread ----------------------------------------------------------------------
    def start(self, song_frame: int, singer_delay_samples: int) -> None:
        """Score from stream start, whose first frame plays song frame ``song_frame`` (a queue:
        the output frame at the playhead); the singer's samples are ``singer_delay_samples``
        behind the playhead."""
        self.stop()
        from ..pitch import StreamingPitch

        self._origin = int(self._now()) if self._now is not None else int(song_frame)
        self._delay = int(singer_delay_samples)
        self.mic_ring.read_count = self.mic_ring.write_count = 0
        self._tracker = StreamingPitch(self.sample_rate)
        # Pay librosa's first-call costs here, not while the audio thread runs.
        self._tracker.push(np.zeros(self._tracker.frame_length, np.float32))
        self._tracker.reset()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="rtsep-karaoke", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        t, self._thread = self._thread, None
        if t is not None:
            self._stop = True
            t.join(timeout=5.0)

    def close(self) -> None:
        """Stop, and end the melody trackers' processes."""
        self.stop()
        for song in list(self._songs.values()):
            song.close()
        if self._server is not None:
            self._server.close()

    # --- reader API ----------------------------------------------------------------------------
    def melody(self) -> tuple[np.ndarray, np.ndarray]:
        """``(times_s (n,), f0_hz (n,))`` of the reference computed so far (0 Hz: unvoiced), of
        the song at the playhead, moved by its key."""
        song = self._song()
        if song is None:
            return np.zeros(0), np.zeros(0)
        m = song.tracker.melody
        n = len(m)  # one count: a consistent prefix while the tracker extends it
        return m.times_s[:n].copy(), m.f0_hz[:n] * 2.0 ** (self._key() / 12.0)

    @property
    def melody_until_s(self) -> float:
        """Song time up to which the reference melody is known."""
        song = self._song()
        return 0.0 if song is None else song.tracker.melody.end_s

    def singer_track(self, seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
        """``(song_time_s (m,), f0_hz (m,))`` of the singer's last ``seconds`` (0 Hz: unvoiced), in
        the song at the playhead, at its key now."""
        r = self._singer
        w = r.write_count
        k = min(w, r.capacity)
        idx = np.arange(w - k, w) & r._mask
        rows = r._buf[idx]
        if not len(rows):
            return np.zeros(0), np.zeros(0)
        song = self._where(None)[0] if self._where is not None else 0
        keep = (rows[:, 0] >= rows[-1, 0] - seconds) & (rows[:, 2] == song)
        return rows[keep, 0].copy(), rows[keep, 1] * 2.0 ** (self._key() / 12.0)

    @property
    def score(self) -> float | None:
        song = self._song()
        s = None if song is None else song.scorer
        val = None if s is None else s.score
        return None if val is None else float(val)

    @property
    def last_cents(self) -> float:
        """Octave-folded error (cents) of the singer at the latest voiced reference frame (NaN: none)."""
        song = self._song()
        s = None if song is None else song.scorer
        return float("nan") if s is None else float(s.last_cents)

    def summary(self) -> dict:
        song = self._song()
        m = song.tracker.melody if song is not None else None
        voiced = float(np.sum(m.f0_hz > 0)) * m.hop_s if m is not None else 0.0
        return {"score": None if self.score is None else round(self.score, 1),
                "melody_s": round(m.end_s, 2) if m is not None else 0.0, "melody_voiced_s": round(voiced, 2),
                "singer_estimates": int(self._singer.write_count),
                "karaoke_error": None if self.error is None else str(self.error)}

    # --- its own thread --------------------------------------------------------------------------
    def _run(self) -> None:
        lower_priority(KARAOKE_NICE)
        try:
            from ..pitch import Scorer

            hop = max(1, self.sample_rate // 100)  # one estimate per 10 ms, the melody's grid
            block = np.zeros((hop, 1), dtype=np.float32)
            stream_frame = 0
            while not self._stop:
                for song in list(self._songs.values()):
                    song.extend()
                if self.mic_ring.available < hop:
                    time.sleep(0.01)
                    continue
                n = self.mic_ring.read_into(block)
                self._tracker.push(block[:n, 0])
                stream_frame += n
                t_win, f0 = self._tracker.latest()  # the window's centre, s since the first sample
                # The frame the singer sang that window to: the stream's position then, minus the
                # round trip of song out and voice back in.
                at = self._origin + int(t_win * self.sample_rate) - self._delay
                if self._where is None:
                    index, frame, key = 0, at % max(1, self.song_frames), 0.0
                else:
                    index, frame, _tempo, key = self._where(at)
                song = self._songs.get(index)
                if song is None:
                    continue
                t_s = frame / self.sample_rate
                f_song = f0 / 2.0 ** (key / 12.0) if f0 > 0 else f0  # back to the song's own key
                self._singer.push(stream_frame, t_s, f_song, index)
                if song.scorer is None:  # one score over the whole song, across pauses
                    song.scorer = Scorer(song.tracker.melody)
                song.scorer.update(t_s, f_song)
        except BaseException as exc:  # the score is an extra: never stop the music for it
            self.error = exc
