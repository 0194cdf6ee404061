"""The evening's separation in a process of its own (Linux), beside the host's audio callback.

Why a process: the separation's Python (decoding, the STFT bookkeeping around each network call,
the stem copies) holds the interpreter lock that the audio callback needs every block. As a
thread of the host at ``SCHED_IDLE`` it loses its core to any ordinary thread, also while it
holds that lock, and the real-time callback then waits for the lock until the idle thread runs
again: the priority inversion the live U-Net's worker had (:mod:`rtsep.unet.worker_process`). In
8-minute soak runs with 8 s songs (the queue separating all the time) the evening had 744
dropouts against the bypassed run's 226. In a child the separation has an interpreter of its
own; the host shares only each song's stems (a memory file) and a pipe.

Protocol, one duplex :func:`multiprocessing.Pipe` to a spawned child (the parent has audio and
GUI threads: not forked), one song in flight at a time:

* parent → child: ``("separate", song, path)``, ``("drop", song)``, ``None`` (exit; so is the
  pipe closing: the host ended or died);
* child → parent: ``("ready", name, priority)`` or ``("error", text)`` once; then per song
  ``("failed", song, text)`` (it did not decode), or ``("stems", song, frames, cached)`` followed by the
  memory file's descriptor (``SCM_RIGHTS``), then ``("done", song)`` or ``("dropped", song)``.

The memory file holds a header (``separated``: frames of stems written so far, stored after the
copies; the frames, the channels, a mark: :mod:`.stem_cache`) and ``frames x 3C`` float32
(accompaniment | vocals | dry), like :class:`~rtsep.host.evening.SongStems`. The child maps it
only while it separates that song; the parent maps it read-only as long as it holds the song, and
the pages go when both let go.

With a :class:`~rtsep.host.stem_cache.StemCache`, a song separated before (the queue came round,
the song is sung again) is not decoded or separated: the child passes the cached stems file's
descriptor in the memory file's place, then ``("done", song)`` at once; a song separated whole is
written to the cache after its ``done``.
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import pickle
import socket
import time
from collections.abc import Callable

import numpy as np

from ..errors import RtsepError, one_line
from .stem_cache import HEADER_BYTES, stems_nbytes, write_header

START_TIMEOUT_S = 120.0    # the child imports numpy, ONNX Runtime and builds the network
POLL_S = 0.02              # how often the parent looks at the progress and the pipe
JOIN_TIMEOUT_S = 5.0


def available(make_stems) -> bool:
    """Whether the separation can run in a child here: Linux (memory files passed over the
    pipe) and a ``make_stems`` the child can receive (a module-level function or class)."""
    if not hasattr(os, "memfd_create") or not hasattr(socket, "send_fds"):
        return False
    try:
        pickle.dumps(make_stems)
    except Exception:  # noqa: BLE001 - a closure or lambda: the separation stays a thread
        return False
    return True


class SharedStems:
    """One song's stems on a memory file (see module doc): ``data`` ``frames x 3C``,
    ``separated`` (frames written so far), ``complete``. The same face as
    :class:`~rtsep.host.evening.SongStems`, which the render thread reads."""

    def __init__(self, buf: mmap.mmap, frames: int, channels: int):
        self._buf = buf  # kept: the arrays below are views of it
        self.frames = int(frames)
        self._head = np.frombuffer(buf, np.int64, 1, 0)
        self.data = np.frombuffer(buf, np.float32, self.frames * 3 * channels, HEADER_BYTES)
        self.data = self.data.reshape(self.frames, 3 * channels)
        self.complete = False
        self.cached = False  # from the stem cache: separated on an earlier pass or evening

    @staticmethod
    def nbytes(frames: int, channels: int) -> int:
        return stems_nbytes(frames, channels)

    @property
    def separated(self) -> int:
        return int(self._head[0])

    def append(self, v: np.ndarray, a: np.ndarray) -> int:
        """Child: the next stems after those written (``frames x C`` each); publishes them."""
        s = int(self._head[0])
        m = min(len(v), self.frames - s)
        c = v.shape[1]
        self.data[s:s + m, :c] = a[:m]
        self.data[s:s + m, c:2 * c] = v[:m]
        self._head[0] = s + m  # after the copies: the parent reads up to here
        return m


# --- the child ------------------------------------------------------------------------------------
def _serve(conn, make_stems, sample_rate: int, channels: int, niceness: int, cache=None) -> None:
    """Child process: see the module doc."""
    from .realtime import idle_priority
    from .source import FileSource
    from .stem_cache import separator_identity

    # The whole child is background work (its network threads, made below, inherit this).
    priority = idle_priority(niceness)
    try:
        stems = make_stems(sample_rate, channels)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        conn.send(("error", one_line(exc)))
        return
    conn.send(("ready", getattr(stems, "name", type(stems).__name__), priority))
    from .ahead import CHUNK_FRAMES

    ident = separator_identity(stems)
    sock = socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the host ended
        if msg is None:
            return
        if msg[0] != "separate":
            continue  # a drop of a song already done
        _, song, path = msg
        name = None
        if cache is not None:
            try:
                name = cache.key(path, sample_rate, channels, ident)
            except OSError:
                pass  # the decoding below says what is wrong with the file
            hit = None if name is None else cache.open(name, channels)
            if hit is not None:  # separated before: the stems file itself, no decoding, no network
                _send_stems(conn, sock, song, hit[1], hit[0], cached=True)
                conn.send(("done", song))
                continue
        try:
            audio = FileSource(path, sample_rate, channels).audio
        except Exception as exc:  # noqa: BLE001 - a bad file: one line, the evening goes on
            conn.send(("failed", song, one_line(exc)))
            continue
        end, buf = _separate_one(conn, sock, stems, song, audio, CHUNK_FRAMES)
        if end == "done" and name is not None:
            cache.store(name, buf)  # after "done": the host plays on meanwhile
        if buf is not None:
            try:
                buf.close()
            except BufferError:  # a view still held somewhere: the mapping goes with it
                pass
        if end == "exit":
            return


def _send_stems(conn, sock, song: int, frames: int, fd: int, cached: bool = False) -> None:
    """Announce ``song``'s stems and pass their file's descriptor (then closed here)."""
    try:
        conn.send(("stems", song, frames, cached))
        socket.send_fds(sock, [b"s"], [fd])
    finally:
        os.close(fd)


def _separate_one(conn, sock, stems, song: int, audio: np.ndarray, chunk_frames: int):
    """Separate one song into a memory file the host maps: ``(end, buffer)``, ``end`` one of
    ``done``, ``dropped``, ``exit`` (the caller closes the buffer)."""
    n, c = audio.shape
    size = SharedStems.nbytes(n, c)
    fd = os.memfd_create(f"rtsep-stems-{song}", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        buf = mmap.mmap(fd, size)
    except OSError:
        os.close(fd)
        raise
    write_header(np.frombuffer(buf, np.uint8, HEADER_BYTES), n, c)
    _send_stems(conn, sock, song, n, fd)
    store = SharedStems(buf, n, c)
    store.data[:, 2 * c:] = audio
    reset = getattr(getattr(stems, "sep", None), "reset", None)
    if reset is not None:
        reset()
    end = "done"
    gen = stems.stream(audio[i:i + chunk_frames] for i in range(0, n, chunk_frames))
    try:
        for v, a in gen:
            store.append(v, a)
            if conn.poll():
                msg = conn.recv()
                if msg is None:
                    return "exit", buf
                if msg[0] == "drop" and msg[1] == song:
                    end = "dropped"
                    break
    except (EOFError, OSError):
        return "exit", buf
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()
        del store  # the views (the caller closes the child's mapping; the parent's stays)
    conn.send((end, song))
    return end, buf


# --- the parent ----------------------------------------------------------------------------------
class SeparationProcess:
    """The child separating a queue's songs, one at a time (see module doc).

    Args:
        make_stems: ``(sample_rate, channels) -> object with .stream(blocks)``, called in the
            child (so it must be picklable: :func:`available`).
        niceness: where ``SCHED_IDLE`` is refused, the child runs at this niceness.
        cache: a :class:`~rtsep.host.stem_cache.StemCache`: songs separated before come from it,
            songs separated whole go into it; ``None``: none.
    Raises :class:`RtsepError` (one line) when the child does not come up.
    """

    def __init__(self, make_stems: Callable, sample_rate: int, channels: int, niceness: int = 10,
                 stop: Callable[[], bool] = lambda: False, cache=None):
        self.channels = int(channels)
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_serve, name="rtsep-separation", daemon=True,
                                 args=(child, make_stems, int(sample_rate), self.channels, int(niceness), cache))
        try:
            self._proc.start()
        except Exception as exc:  # noqa: BLE001 - cannot start: one line
            raise RtsepError(f"cannot start the separation process: {one_line(exc)}") from None
        finally:
            child.close()
        self._sock = socket.fromfd(self._conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
        msg = self._wait(lambda m: m[0] in ("ready", "error"), stop, START_TIMEOUT_S)
        if msg is None or msg[0] != "ready":
            self.close()
            why = "stopped while starting" if msg is None else msg[1]
            raise RtsepError(f"the separation process failed: {why}")
        _, self.name, self.priority = msg

    def _wait(self, want: Callable[[tuple], bool], stop: Callable[[], bool], timeout_s: float = float("inf"),
              each: Callable[[], None] | None = None):
        """The next message ``want`` accepts (others are stale: skipped), or ``None`` once
        ``stop()`` or after ``timeout_s``; ``each()`` runs every :data:`POLL_S` meanwhile."""
        deadline = time.monotonic() + timeout_s
        while True:
            if each is not None:
                each()
            try:
                ready = self._conn.poll(POLL_S)
                msg = self._conn.recv() if ready else None
            except (EOFError, OSError):
                self._proc.join(1.0)
                raise RtsepError(f"the separation process ended (exit code {self._proc.exitcode})") from None
            if msg is not None and want(msg):
                return msg
            if stop() or time.monotonic() > deadline:
                return None

    def check(self) -> None:
        """Raise :class:`RtsepError` (one line) if the child has ended."""
        if not self._proc.is_alive():
            raise RtsepError(f"the separation process ended (exit code {self._proc.exitcode})")

    def open(self, song: int, path: str, stop: Callable[[], bool]) -> SharedStems | str | None:
        """Start separating ``path`` as ``song``: its stems (filling in, the dry song already
        there), or the one line why it did not decode, or ``None`` when ``stop()`` came first."""
        try:
            self._conn.send(("separate", song, str(path)))
        except OSError:
            self._proc.join(1.0)
            self.check()
            raise
        msg = self._wait(lambda m: m[0] in ("stems", "failed") and m[1] == song, stop)
        if msg is None:
            self.drop(song)
            return None
        if msg[0] == "failed":
            return msg[2]
        _, fds, _, _ = socket.recv_fds(self._sock, 1, 1)
        frames = int(msg[2])
        try:
            # read-only: the host never writes stems (and a stems file may be the cache's)
            buf = mmap.mmap(fds[0], SharedStems.nbytes(frames, self.channels), prot=mmap.PROT_READ)
        finally:
            for fd in fds:
                os.close(fd)
        store = SharedStems(buf, frames, self.channels)
        store.cached = bool(msg[3])
        return store

    def follow(self, song: int, store: SharedStems, keep: Callable[[], bool], each: Callable[[], None]) -> bool:
        """Wait for ``song`` to be separated, calling ``each()`` as it fills in; drop it once
        ``keep()`` turns false. Returns whether it was separated whole (``store.complete``)."""
        give_up = [float("inf")]  # once dropped: the child answers after its current block

        def check():
            each()
            if give_up[0] == float("inf") and not keep():
                self.drop(song)
                give_up[0] = time.monotonic() + JOIN_TIMEOUT_S

        msg = self._wait(lambda m: m[0] in ("done", "dropped") and m[1] == song,
                         lambda: time.monotonic() > give_up[0], each=check)
        store.complete = msg is not None and msg[0] == "done"
        if store.complete:
            each()
        return store.complete

    def drop(self, song: int) -> None:
        try:
            self._conn.send(("drop", song))
        except OSError:
            pass

    def close(self) -> None:
        """End the child (bounded)."""
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._proc.join(JOIN_TIMEOUT_S)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(JOIN_TIMEOUT_S)
        for end in (getattr(self, "_sock", None), self._conn):
            if end is not None:
                end.close()
