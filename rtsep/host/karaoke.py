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


def _melody_tracker(sample_rate: int):
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


class Karaoke:
    """The sing-along's pitch guide and score (see module doc).

    Args:
        sample_rate: the stream rate.
        song_frames: the song's length at that rate (the vocal stem is kept for one pass).
        blocksize: the stream's block (sizes the microphone ring).
    """

    def __init__(self, sample_rate: int, song_frames: int, blocksize: int = 256):
        self.sample_rate = int(sample_rate)
        self.song_frames = int(song_frames)
        self.mic_ring = FrameRing(max(1 << 16, 64 * blocksize), 1)
        self._vocal = np.zeros(self.song_frames, dtype=np.float32)
        self._vocal_upto = 0          # frames of the vocal stem received (first pass)
        self._melody_upto = 0         # frames of it given to the melody tracker
        self.tracker = _melody_tracker(self.sample_rate)
        self._finished = False
        self._singer = ValueRing(1 << 14, 2)  # (song_time_s, f0_hz) per estimate
        self._scorer = None
        self._tracker = None
        self._origin = 0
        self._delay = 0
        self._thread: threading.Thread | None = None
        self._stop = False
        self.error: BaseException | None = None

    # --- producer thread (the ahead producer) ------------------------------------------------
    def push_vocals(self, song_frame: int, vocals: np.ndarray) -> None:
        """The vocal stem ``(n, channels)`` at ``song_frame``, kept (as mono) on its first pass."""
        u = self._vocal_upto
        if song_frame != u or u >= self.song_frames:
            return
        n = min(len(vocals), self.song_frames - u)
        np.mean(vocals[:n], axis=1, out=self._vocal[u:u + n])
        self._vocal_upto = u + n

    # --- control thread ----------------------------------------------------------------------
    def start(self, song_frame: int, singer_delay_samples: int) -> None:
        """Score from stream start, whose first frame plays song frame ``song_frame``; the
        singer's samples are ``singer_delay_samples`` behind the playhead."""
        self.stop()
        from ..pitch import Scorer, StreamingPitch

        self._origin = int(song_frame)
        self._delay = int(singer_delay_samples)
        self.mic_ring.read_count = self.mic_ring.write_count = 0
        self._tracker = StreamingPitch(self.sample_rate)
        # Pay librosa's first-call costs here, not while the audio thread runs.
        self._tracker.push(np.zeros(self._tracker.frame_length, np.float32))
        self._tracker.reset()
        if self._scorer is None:  # one score over the whole song, across pauses
            self._scorer = Scorer(self.tracker.melody)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="rtsep-karaoke", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        t, self._thread = self._thread, None
        if t is not None:
            self._stop = True
            t.join(timeout=5.0)

    def close(self) -> None:
        """Stop, and end the melody tracker's process."""
        self.stop()
        close = getattr(self.tracker, "close", None)
        if close is not None:
            close()
        inbox = getattr(self.tracker, "_inbox", None)  # MelodyProcess's queue to its child
        if inbox is not None:  # chunks the ended child will never read must not hold up exit
            inbox.cancel_join_thread()

    # --- reader API ----------------------------------------------------------------------------
    def melody(self) -> tuple[np.ndarray, np.ndarray]:
        """``(times_s (n,), f0_hz (n,))`` of the reference computed so far (0 Hz: unvoiced)."""
        m = self.tracker.melody
        n = len(m)  # one count: a consistent prefix while the tracker extends it
        return m.times_s[:n].copy(), m.f0_hz[:n].copy()

    @property
    def melody_until_s(self) -> float:
        """Song time up to which the reference melody is known."""
        return self.tracker.melody.end_s

    def singer_track(self, seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
        """``(song_time_s (m,), f0_hz (m,))`` of the singer's last ``seconds`` (0 Hz: unvoiced)."""
        r = self._singer
        w = r.write_count
        k = min(w, r.capacity)
        idx = np.arange(w - k, w) & r._mask
        rows = r._buf[idx]
        if not len(rows):
            return np.zeros(0), np.zeros(0)
        keep = rows[:, 0] >= rows[-1, 0] - seconds
        return rows[keep, 0].copy(), rows[keep, 1].copy()

    @property
    def score(self) -> float | None:
        s = self._scorer
        val = None if s is None else s.score
        return None if val is None else float(val)

    @property
    def last_cents(self) -> float:
        """Octave-folded error (cents) of the singer at the latest voiced reference frame (NaN: none)."""
        s = self._scorer
        return float("nan") if s is None else float(s.last_cents)

    def summary(self) -> dict:
        m = self.tracker.melody
        voiced = float(np.sum(m.f0_hz > 0)) * m.hop_s
        return {"score": None if self.score is None else round(self.score, 1),
                "melody_s": round(m.end_s, 2), "melody_voiced_s": round(voiced, 2),
                "singer_estimates": int(self._singer.write_count),
                "karaoke_error": None if self.error is None else str(self.error)}

    # --- its own thread --------------------------------------------------------------------------
    def _run(self) -> None:
        lower_priority(KARAOKE_NICE)
        try:
            hop = max(1, self.sample_rate // 100)  # one estimate per 10 ms, the melody's grid
            block = np.zeros((hop, 1), dtype=np.float32)
            stream_frame = 0
            while not self._stop:
                self._extend_melody()
                if self.mic_ring.available < hop:
                    time.sleep(0.01)
                    continue
                n = self.mic_ring.read_into(block)
                self._tracker.push(block[:n, 0])
                stream_frame += n
                t_win, f0 = self._tracker.latest()  # the window's centre, s since the first sample
                # Song time the singer sang that window to: the stream's song position then,
                # minus the round trip of song out and voice back in.
                song = (self._origin + int(t_win * self.sample_rate) - self._delay) % max(1, self.song_frames)
                t_s = song / self.sample_rate
                self._singer.push(stream_frame, t_s, f0)
                if self._scorer is not None:
                    self._scorer.update(t_s, f0)
        except BaseException as exc:  # the score is an extra: never stop the music for it
            self.error = exc

    def _extend_melody(self) -> None:
        """Hand the melody tracker the vocals received since (ahead of the playhead)."""
        u, m = self._vocal_upto, self._melody_upto
        chunk = int(MELODY_CHUNK_S * self.sample_rate)
        if self._finished or (u - m < chunk and u < self.song_frames):
            return
        u = min(u, m + 4 * chunk)  # bounded steps: the microphone's ring is read in between
        if u > m:
            self.tracker.push(self._vocal[m:u])
            self._melody_upto = u
        if u >= self.song_frames and self._vocal_upto >= self.song_frames:
            self._finished = True
            try:
                self.tracker.finish(timeout=0)  # queue the end; the last frames come when they come
            except TypeError:
                self.tracker.finish()
            except Exception:  # noqa: BLE001 - "not finished within 0 s": expected
                pass
