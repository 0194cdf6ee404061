"""The reference-melody tracker in a child process: ``MelodyServer`` (one child, many songs) and
``MelodyProcess`` (one song's tracker on it).

pYIN's Viterbi (a Numba kernel without ``nogil``) and librosa's small-array steps hold the GIL
for 10-45 ms per one-second chunk on this project's 2-core machine (measured with a 0.5 ms
ticker thread). A live host whose audio callback runs Python must not share a process with
that, so the tracker runs in a spawned child; the parent only downmixes and queues each chunk
(pickled by the queue's feeder thread) and a reader thread appends the child's frames to each
song's ``melody``. Spawned, not forked: the parent holds audio and GUI threads.

One child serves a whole evening: a child per song cost each song a new interpreter importing
numpy, librosa and Numba (seconds of a core while the stream plays) and two queues, their
feeder threads and semaphores, which the parent kept over hours.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue
import threading

import numpy as np

from ..errors import one_line
from ..host.realtime import idle_priority
from .melody import Melody
from .reference import ANALYSIS_RATE_HZ, MelodyTracker
from .signal import PitchError, as_mono, check_rate

JOIN_TIMEOUT_S = 5.0


def _background_policy() -> str:
    """The child is background work: ``SCHED_IDLE`` (nice 19 where refused). A child inherits its
    creator's scheduling, and one started from a real-time thread (the GUI's, beside a real-time
    server) would run pYIN above every ordinary thread. At the ordinary priority it still competes
    with the host's threads for a core, and one of them preempted while it holds the interpreter
    lock keeps the audio callback waiting: in the soak (benchmarks/soak.py, 40-s songs) dropouts
    came in the last seconds of each song, while this child and the separation's ran on the next
    one. The melody has most of a song's length of slack."""
    return idle_priority(19)


def _serve(inbox, outbox) -> None:
    """Child process. In: ``(song, "begin", (rate, hop_s, kwargs))``, ``(song, "chunk", samples)``,
    ``(song, "finish", None)``, ``(song, "drop", None)``; ``None`` = exit. Out: ``(song, "frames",
    f0_hz)``, ``(song, "done", None)``, ``(song, "error", text)``: a song's failure ends that
    song only."""
    _background_policy()
    trackers: dict[int, MelodyTracker] = {}
    outbox.put((None, "ready", None))
    while True:
        msg = inbox.get()
        if msg is None:
            return
        song, kind, payload = msg
        try:
            if kind == "begin":
                rate, hop_s, kwargs = payload
                trackers[song] = MelodyTracker(rate, hop_s=hop_s, **kwargs)
            elif kind == "chunk":
                tracker = trackers.get(song)
                new = tracker.push(payload) if tracker is not None else ()
                if len(new):
                    outbox.put((song, "frames", new.f0_hz.copy()))
            elif kind == "finish":
                tracker = trackers.pop(song, None)
                if tracker is not None:
                    outbox.put((song, "frames", tracker.finish().f0_hz.copy()))
                outbox.put((song, "done", None))
            else:  # "drop": played or skipped before its end
                trackers.pop(song, None)
        except Exception as exc:  # reported to the parent as one line
            trackers.pop(song, None)
            outbox.put((song, "error", f"melody tracker failed: {one_line(exc)}"))


class MelodyServer:
    """One child process tracking the melodies of many songs (:meth:`track`); ``close()`` (or the
    ``with`` block) ends it. A child that dies fails every song still open on it."""

    def __init__(self):
        ctx = mp.get_context("spawn")
        self._inbox, self._outbox = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(target=_serve, name="rtsep-melody", daemon=True,
                                 args=(self._inbox, self._outbox))
        self._proc.start()
        self._songs: dict[int, MelodyProcess] = {}
        self._ids = itertools.count()
        self._closed = False
        self.error: str | None = None
        self._reader = threading.Thread(target=self._collect, name="rtsep-melody-reader", daemon=True)
        self._reader.start()

    def track(self, sample_rate: int, hop_s: float = 0.01, **tracker_kwargs) -> MelodyProcess:
        """A new song's tracker on this child."""
        return MelodyProcess(sample_rate, hop_s, server=self, **tracker_kwargs)

    @property
    def alive(self) -> bool:
        return self.error is None and not self._closed and self._proc.is_alive()

    def _open(self, handle: MelodyProcess, args: tuple) -> int:
        if not self.alive:
            raise PitchError(self.error or "melody tracker process is closed")
        song = next(self._ids)
        self._songs[song] = handle
        self._inbox.put((song, "begin", args))
        return song

    def _send(self, song: int, kind: str, payload=None) -> None:
        if kind in ("finish", "drop") and not self._proc.is_alive():
            return
        self._inbox.put((song, kind, payload))

    def _forget(self, song: int) -> None:
        self._songs.pop(song, None)

    def _collect(self) -> None:
        try:
            while True:
                try:
                    song, kind, payload = self._outbox.get(timeout=0.5)
                except queue.Empty:
                    if not self._proc.is_alive():  # died without a word (killed, or failed to start)
                        self._fail(f"melody tracker process ended (exit code {self._proc.exitcode})")
                        return
                    continue
                handle = self._songs.get(song)
                if handle is not None:
                    handle._receive(kind, payload)
                if kind in ("done", "error"):
                    self._forget(song)
        except (EOFError, OSError, ValueError):  # the queue was closed under the reader (close())
            self._fail("melody tracker process ended unexpectedly")

    def _fail(self, text: str) -> None:
        if not self._closed:
            self.error = self.error or text
        for song in list(self._songs):
            handle = self._songs.pop(song, None)
            if handle is not None:
                handle._receive("error", self.error or text)

    def close(self) -> None:
        """End the child (its songs' last frames are not waited for) and the reader."""
        if self._closed:
            return
        self._closed = True
        if self._proc.is_alive():
            try:
                self._inbox.put(None)
            except (OSError, ValueError):
                pass
            self._proc.join(timeout=JOIN_TIMEOUT_S)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=JOIN_TIMEOUT_S)
        self._reader.join(timeout=1.0)
        self._fail("melody tracker process is closed")
        # Chunks the ended child will never read must not hold up exit, and the queues' pipes,
        # feeder threads and semaphores go now, not at the interpreter's end.
        for q in (self._inbox, self._outbox):
            q.cancel_join_thread()
            q.close()

    def __enter__(self) -> MelodyServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MelodyProcess:
    """Same use as :class:`MelodyTracker` (``push``, ``finish``, ``melody``), computed in a child
    process; ``push`` returns at once. ``melody`` grows as the child's frames arrive (readers on
    any thread see a consistent prefix). On a ``server`` (:meth:`MelodyServer.track`) it shares
    that child; without one it starts a child of its own, which ``close()`` (or the ``with``
    block) ends."""

    def __init__(self, sample_rate: int, hop_s: float = 0.01, *, server: MelodyServer | None = None,
                 **tracker_kwargs):
        self.sample_rate = check_rate(sample_rate)
        hop = int(round(hop_s * ANALYSIS_RATE_HZ))
        MelodyTracker(self.sample_rate, hop_s=hop_s, **tracker_kwargs)  # bad arguments fail here, not in the child
        self.melody = Melody(hop / ANALYSIS_RATE_HZ)
        self.error: str | None = None
        self._done = threading.Event()
        self._finished = False
        self._own = server is None
        self.server = MelodyServer() if server is None else server
        self._song = self.server._open(self, (self.sample_rate, hop_s, tracker_kwargs))

    def _receive(self, kind: str, payload) -> None:
        """The server's reader thread hands over what the child sent for this song."""
        if self._done.is_set():
            return
        if kind == "frames":
            self.melody.extend(payload)
        elif kind == "error":
            self.error = payload
            self._done.set()
        elif kind == "done":
            self._done.set()

    def _check(self) -> None:
        if self.error:
            raise PitchError(self.error)

    def push(self, chunk: np.ndarray) -> None:
        """Queue ``frames`` or ``frames x channels`` samples (downmixed here: less to send)."""
        self._check()
        if self._finished:
            raise PitchError("MelodyProcess.push after finish()")
        self.server._send(self._song, "chunk", as_mono(chunk))

    def finish(self, timeout: float | None = None) -> Melody:
        """No more audio: wait (up to ``timeout`` s; ``None`` = as long as it takes) for the last
        frames and return ``melody``. ``timeout=0`` only queues the end and returns at once (the
        last frames arrive in ``melody`` later; ``done`` tells when)."""
        self._check()
        if not self._finished:
            self._finished = True
            self.server._send(self._song, "finish")
        if timeout == 0 and not self._done.is_set():
            return self.melody
        if not self._done.wait(timeout):
            raise PitchError(f"melody tracker did not finish within {timeout} s")
        self._check()
        self.close()
        return self.melody

    @property
    def done(self) -> bool:
        """The child has delivered this song's last frame (after ``finish``) or failed."""
        return self._done.is_set()

    def close(self) -> None:
        """This song is over (played, skipped): the child forgets it; a child of its own ends."""
        if not self._done.is_set():
            self._done.set()
            self.server._forget(self._song)
            try:
                self.server._send(self._song, "drop")
            except (OSError, ValueError):  # the server is closed
                pass
        if self._own:
            self.server.close()

    def __enter__(self) -> MelodyProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
