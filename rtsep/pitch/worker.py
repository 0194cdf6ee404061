"""``MelodyProcess``: the reference-melody tracker in a child process.

pYIN's Viterbi (a Numba kernel without ``nogil``) and librosa's small-array steps hold the GIL
for 10-45 ms per one-second chunk on this project's 2-core machine (measured with a 0.5 ms
ticker thread). A live host whose audio callback runs Python must not share a process with
that, so the tracker runs in a spawned child; the parent only downmixes and queues each chunk
(pickled by the queue's feeder thread) and a reader thread appends the child's frames to
``melody``. Spawned, not forked: the parent holds audio and GUI threads.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading

import numpy as np

from .melody import Melody
from .reference import ANALYSIS_RATE_HZ, MelodyTracker
from .signal import PitchError, as_mono, check_rate


def _serve(sample_rate: int, hop_s: float, kwargs: dict, inbox, outbox) -> None:
    """Child process: chunks in, frames out; ``None`` in = finish; ``("error", text)`` out on failure."""
    try:
        tracker = MelodyTracker(sample_rate, hop_s=hop_s, **kwargs)
        outbox.put(("ready", None))
        while True:
            chunk = inbox.get()
            if chunk is None:
                outbox.put(("frames", tracker.finish().f0_hz.copy()))
                outbox.put(("done", None))
                return
            new = tracker.push(chunk)
            if len(new):
                outbox.put(("frames", new.f0_hz.copy()))
    except Exception as exc:  # reported to the parent as one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        outbox.put(("error", f"melody tracker failed: {text}"))


class MelodyProcess:
    """Same use as :class:`MelodyTracker` (``push``, ``finish``, ``melody``), computed in a child
    process; ``push`` returns at once. ``melody`` grows as the child's frames arrive (readers on
    any thread see a consistent prefix). ``close()`` (or the ``with`` block) ends the child."""

    def __init__(self, sample_rate: int, hop_s: float = 0.01, **tracker_kwargs):
        self.sample_rate = check_rate(sample_rate)
        hop = int(round(hop_s * ANALYSIS_RATE_HZ))
        MelodyTracker(self.sample_rate, hop_s=hop_s, **tracker_kwargs)  # bad arguments fail here, not in the child
        self.melody = Melody(hop / ANALYSIS_RATE_HZ)
        self.error: str | None = None
        ctx = mp.get_context("spawn")
        self._inbox, self._outbox = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(target=_serve, name="rtsep-melody", daemon=True,
                                 args=(self.sample_rate, hop_s, tracker_kwargs, self._inbox, self._outbox))
        self._proc.start()
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._collect, name="rtsep-melody-reader", daemon=True)
        self._reader.start()
        self._finished = False

    def _collect(self) -> None:
        try:
            while True:
                try:
                    kind, payload = self._outbox.get(timeout=0.5)
                except queue.Empty:
                    if not self._proc.is_alive():  # died without a word (killed, or failed to start)
                        self.error = f"melody tracker process ended (exit code {self._proc.exitcode})"
                        return
                    continue
                if kind == "frames":
                    self.melody.extend(payload)
                elif kind == "error":
                    self.error = payload
                    return
                elif kind == "done":
                    return
        except (EOFError, OSError):
            self.error = self.error or "melody tracker process ended unexpectedly"
        finally:
            self._done.set()

    def _check(self) -> None:
        if self.error:
            raise PitchError(self.error)

    def push(self, chunk: np.ndarray) -> None:
        """Queue ``frames`` or ``frames x channels`` samples (downmixed here: less to send)."""
        self._check()
        if self._finished:
            raise PitchError("MelodyProcess.push after finish()")
        self._inbox.put(as_mono(chunk))

    def finish(self, timeout: float | None = None) -> Melody:
        """No more audio: wait (up to ``timeout`` s; ``None`` = as long as it takes) for the last
        frames and return ``melody``. ``timeout=0`` only queues the end and returns at once (the
        last frames arrive in ``melody`` later; ``done`` tells when)."""
        self._check()
        if not self._finished:
            self._finished = True
            self._inbox.put(None)
        if timeout == 0 and not self._done.is_set():
            return self.melody
        if not self._done.wait(timeout):
            raise PitchError(f"melody tracker did not finish within {timeout} s")
        self._check()
        self.close()
        return self.melody

    @property
    def done(self) -> bool:
        """The child has delivered its last frame (after ``finish``) or failed."""
        return self._done.is_set()

    def close(self) -> None:
        if self._proc.is_alive() and not self._done.is_set():
            self._proc.terminate()
        self._proc.join(timeout=5)
        self._done.set()

    def __enter__(self) -> MelodyProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
