"""A song separated ahead of the playhead: a background producer fills a ring of stems.

Nobody hears a song file's dry signal, so it needs no causal model and no deadline: a
producer thread (nice 10, one ONNX Runtime thread: below the audio thread, bounded) runs a
stem stream over the song into a preallocated :class:`StemRing`, up to ``ring_seconds``
ahead; the audio callback only reads the stems at the playhead and mixes them
(:mod:`rtsep.host.mixer`). While the producer is ahead, no separator runs on the audio
path, so no deadline can be missed.

The stem stream: ``rtsep.unet.UNetSeparator(sample_rate, channels).stream(blocks)`` (the
offline-quality U-Net) when it is installed, else the recurrent quality model through
:func:`rtsep.filemode.stream_stems`; both yield aligned ``(vocals, accompaniment)`` blocks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from ..errors import RtsepError, one_line
from .mixer import StemMixer, vocal_activity
from .realtime import lower_priority

PRODUCER_NICE = 10
CHUNK_FRAMES = 8192
MIN_SPEED_X = 1.5  # below this the producer would not stay ahead for long: stream instead
# The U-Net delivers 11.9 s segments: two threads halve the wait for the first one. They run at
# nice 10, and the audio callback is SCHED_FIFO, so they never take the CPU from it.
UNET_THREADS = 2


class StemRing:
    """Vocals and accompaniment, ``(capacity, channels)`` float32 each, at stream positions
    (and, for a queue of songs, the dry song as rendered: ``dry=True``).

    One producer writes frames ``[write_count, ...)``; the audio callback reads at its own
    ``read_count`` (the playhead), which advances whether or not the stems were there, so a
    producer that fell behind writes frames nobody reads until it catches up. Counters are
    published after the copies (see :mod:`rtsep.host.ring` for why that is safe here). A
    producer may take back frames the callback has not reached (:meth:`truncate`): a key or
    tempo change re-renders from a little ahead of the playhead.
    """

    def __init__(self, capacity: int, channels: int, dry: bool = False):
        self.capacity = int(capacity)
        self.vocals = np.zeros((self.capacity, channels), dtype=np.float32)
        self.accompaniment = np.zeros((self.capacity, channels), dtype=np.float32)
        self.dry = np.zeros((self.capacity, channels), dtype=np.float32) if dry else None
        self.write_count = 0
        self.read_count = 0

    def reset(self) -> None:
        self.write_count = self.read_count = 0

    def free(self) -> int:
        return self.capacity - max(0, self.write_count - self.read_count)

    def write(self, v: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
        """Producer: append ``n`` frames (the caller checked :meth:`free`)."""
        n = v.shape[0]
        w = self.write_count
        i = w % self.capacity
        first = min(n, self.capacity - i)
        arrays = ((self.vocals, v), (self.accompaniment, a)) + (() if d is None else ((self.dry, d),))
        for buf, x in arrays:
            buf[i:i + first] = x[:first]
            if first < n:
                buf[:n - first] = x[first:]
        self.write_count = w + n  # publish

    def peek(self, start: int, n: int) -> list[np.ndarray]:
        """Producer: copies of frames ``[start, start + n)`` (still in the ring): vocals,
        accompaniment (and dry)."""
        idx = np.arange(start, start + n) % self.capacity
        return [buf[idx] for buf in (self.vocals, self.accompaniment, self.dry) if buf is not None]

    def truncate(self, frame: int) -> None:
        """Producer: forget frames from ``frame`` on (not yet read: ``frame >= read_count``)."""
        self.write_count = max(self.read_count, min(self.write_count, int(frame)))

    def read_into(self, v: np.ndarray, a: np.ndarray, n: int, d: np.ndarray | None = None) -> bool:
        """Callback: copy the next ``n`` frames into ``v``/``a`` (and the dry into ``d``) and
        advance; False (and still advance) when the producer has not reached them."""
        r = self.read_count
        ok = self.write_count >= r + n
        if ok:
            i = r % self.capacity
            first = min(n, self.capacity - i)
            v[:first] = self.vocals[i:i + first]
            a[:first] = self.accompaniment[i:i + first]
            if d is not None:
                d[:first] = self.dry[i:i + first]
            if first < n:
                v[first:n] = self.vocals[:n - first]
                a[first:n] = self.accompaniment[:n - first]
                if d is not None:
                    d[first:n] = self.dry[:n - first]
        self.read_count = r + n
        return ok


def wait_for_stems(producer, prefill_s: float, timeout_s: float) -> None:
    """Wait until a producer's ring holds ``prefill_s`` (or it finished, or ``timeout_s``
    passed); its error as one line."""
    need = int(prefill_s * producer.sample_rate)
    t_end = time.monotonic() + timeout_s
    while producer.ring.write_count < need and not producer.finished and producer.error is None:
        if time.monotonic() > t_end:
            break
        time.sleep(0.005)
    if producer.error is not None:
        raise RtsepError(f"separating the song failed: {one_line(producer.error)}")


class RecurrentStems:
    """The recurrent quality model as a stem stream (the fallback of the U-Net)."""

    name = "release-quality"

    def __init__(self, sample_rate: int, channels: int, model=None, threads: int = 1):
        from ..plugins.separator import Separator

        self.sep = Separator(model, sample_rate=sample_rate, channels=channels, mode="vocals",
                             max_block=CHUNK_FRAMES, latency="quality", threads=threads)
        if model is not None:
            self.name = str(model)

    def stream(self, blocks) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from ..filemode import stream_stems

        return stream_stems(self.sep, blocks)


def unet_available() -> bool:
    try:
        import rtsep.unet  # noqa: F401
    except ImportError:
        return False
    return hasattr(rtsep.unet, "UNetSeparator")


def default_stems(sample_rate: int, channels: int):
    """The U-Net if installed (``UNET_THREADS``), else the recurrent quality model (one thread)."""
    if unet_available():
        from ..unet import UNetSeparator

        # one segment at a time on both threads: the first segment, which playback waits for, soonest
        sep = UNetSeparator(sample_rate, channels, threads=UNET_THREADS, pipelined=False)
        sep.name = "unet"
        return sep
    return RecurrentStems(sample_rate, channels)


class AheadProducer:
    """Separates ``song`` (frames x channels, at the stream rate) into a :class:`StemRing`.

    Args:
        song: the whole song (the :class:`~rtsep.host.source.FileSource`'s audio).
        make_stems: ``(sample_rate, channels) -> object with .stream(blocks)``, called on the
            producer thread (so the ONNX Runtime threads it creates inherit its niceness).
        loop: a callable returning whether to wrap around at the song's end (read when the
            producer gets there, so a GUI may toggle it).
        on_vocals: ``(song_frame, vocals_block)`` per produced block, on the producer thread
            (the melody reference is computed there, ahead of the playhead).

    Attributes:
        ring: the stems; ``ring.read_count`` is the callback's playhead.
        produced_frames, finished, speed_x, error, name, start_frame.
    """

    def __init__(self, song: np.ndarray, sample_rate: int, make_stems: Callable = default_stems, *,
                 ring_seconds: float = 30.0, loop: Callable[[], bool] = lambda: False,
                 on_vocals: Callable | None = None, niceness: int = PRODUCER_NICE):
        self.song = song
        self.sample_rate = int(sample_rate)
        self.channels = song.shape[1]
        self.make_stems = make_stems
        self.loop = loop
        self.on_vocals = on_vocals
        self.niceness = niceness
        cap = int(ring_seconds * sample_rate)
        self.ring = StemRing(max(cap, 4 * CHUNK_FRAMES), self.channels)
        self.name = "?"
        self.start_frame = 0
        self._thread: threading.Thread | None = None
        self._stop = False
        self._reset_state()

    def _reset_state(self) -> None:
        self.ring.reset()
        self.finished = False
        self.error: BaseException | None = None
        self.speed_x = 0.0
        self.priority = "-"
        self._t0 = None
        self._waited_s = 0.0  # time spent waiting for the playhead (not separating)

    # --- control thread ---------------------------------------------------------------
    def start(self, start_frame: int = 0) -> None:
        """(Re)start separating from song frame ``start_frame``."""
        self.stop()
        self._reset_state()
        self.start_frame = int(start_frame)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="rtsep-ahead", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        t, self._thread = self._thread, None
        if t is not None:
            self._stop = True
            t.join(timeout=10.0)

    def wait_ready(self, prefill_s: float = 0.5, timeout_s: float = 30.0) -> float:
        """Wait until ``prefill_s`` of stems (or the whole rest of the song) are ready;
        returns the measured speed in x real time. Raises the producer's error, one line."""
        wait_for_stems(self, prefill_s, timeout_s)
        self._update_speed()
        return self.speed_x

    def lead_frames(self) -> int:
        """Frames of stems beyond the playhead now."""
        return self.ring.write_count - self.ring.read_count

    # --- producer thread ----------------------------------------------------------------
    def _blocks(self):
        song, n = self.song, len(self.song)
        pos = self.start_frame
        while not self._stop:
            if pos >= n:
                if not (self.loop() and n):
                    return
                pos = 0
            stop = min(n, pos + CHUNK_FRAMES)
            yield song[pos:stop]
            pos = stop

    def _update_speed(self) -> None:
        if self._t0 is not None:
            dt = max(time.monotonic() - self._t0 - self._waited_s, 1e-6)
            self.speed_x = self.ring.write_count / self.sample_rate / dt

    def _run(self) -> None:
        self.priority = lower_priority(self.niceness)
        try:
            stems = self.make_stems(self.sample_rate, self.channels)
            self.name = getattr(stems, "name", type(stems).__name__)
            self._t0 = time.monotonic()
            ring = self.ring
            frame = self.start_frame
            n_song = max(1, len(self.song))
            for v, a in stems.stream(self._blocks()):
                k = 0
                while k < len(v):
                    while ring.free() < 1:  # far enough ahead: wait for the playhead
                        if self._stop:
                            return
                        t = time.monotonic()
                        time.sleep(0.02)
                        self._waited_s += time.monotonic() - t
                    m = min(len(v) - k, ring.free())
                    ring.write(v[k:k + m], a[k:k + m])
                    if self.on_vocals is not None:
                        self.on_vocals(frame % n_song, v[k:k + m])
                    frame += m
                    k += m
                self._update_speed()
                if self._stop:
                    return
        except BaseException as exc:  # parked; wait_ready / the host turn it into one line
            self.error = exc
        finally:
            self._update_speed()
            self.finished = True



class AheadEngine:
    """The callback side of a song separated ahead: stems at the playhead → mixer.

    ``process(x, n, frame)`` takes the dry song block ``x`` (for bypass) and mixes the stems
    of the same frames. A block whose stems are not there yet (the producer fell behind)
    plays the dry song and counts a deadline miss.
    """

    name = "ahead"
    algorithmic_latency = 0
    handoff_latency = 0

    def __init__(self, producer: AheadProducer, blocksize: int, channels: int, stats, *, mode: str = "karaoke",
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0):
        self.producer = producer
        self.stats = stats
        self.mixer = StemMixer(channels, blocksize, mode=mode, vocals_db=vocals_db,
                               accompaniment_db=accompaniment_db)
        self._v = np.zeros((blocksize, channels), dtype=np.float32)
        self._a = np.zeros((blocksize, channels), dtype=np.float32)
        self.vad_latest = 0.0
        self.min_lead = -1      # least lead (frames) seen while the producer was running
        self.first_lead = -1

    separator = None
    plugin = None

    @property
    def error(self) -> BaseException | None:
        return self.producer.error

    @property
    def rt_status(self) -> str:
        return self.producer.priority

    @property
    def vocals(self) -> np.ndarray:
        """The vocal stem of the last block (a view; the GUI's ``taps.vocals``)."""
        return self._v

    def configure(self, mode: str, vocals_db: float, accompaniment_db: float) -> None:
        self.mixer.set(mode, vocals_db, accompaniment_db)

    def warm_up(self, block: np.ndarray) -> None:
        self.mixer.warm_up()
        vocal_activity(self._v, self._a, len(self._v))

    def start(self, song_frame: int = 0, prefill_s: float = 0.5) -> float:
        """Separate from ``song_frame`` on (unless the producer is already there); returns
        the measured speed in x real time once ``prefill_s`` are ready."""
        p = self.producer
        at = p.start_frame + p.ring.read_count
        if p._thread is None or p.error is not None or at % max(1, len(p.song)) != song_frame:
            p.start(song_frame)
        self.min_lead = self.first_lead = -1
        self.warm_up(None)  # load the mixer's kernels while the first segment is separated, not after
        return p.wait_ready(prefill_s)

    def stop(self) -> None:
        pass  # the producer keeps its lead while paused; close() ends it

    def close(self) -> None:
        self.producer.stop()

    @property
    def ahead_s(self) -> float:
        return self.producer.lead_frames() / self.producer.sample_rate

    @property
    def min_ahead_s(self) -> float | None:
        lead = self.min_lead if self.min_lead >= 0 else self.first_lead
        return None if lead < 0 else lead / self.producer.sample_rate

    def process(self, x: np.ndarray, n: int, frame: int) -> np.ndarray:
        """Callback: dry song block ``x`` (n frames) → the mixed block (a view)."""
        p = self.producer
        ring = p.ring
        lead = ring.write_count - ring.read_count - n
        if self.first_lead < 0:
            self.first_lead = max(lead, 0)
        running = not p.finished
        if running and (self.min_lead < 0 or lead < self.min_lead):
            self.min_lead = max(lead, 0)
        v, a = self._v[:n], self._a[:n]
        # A queue's ring holds the dry song as rendered (key, tempo): it replaces the source's block.
        if ring.read_into(v, a, n, None if ring.dry is None else x):
            self.vad_latest = vocal_activity(v, a, n)
            return self.mixer.process(v, a, x, n, frame)
        if running:
            self.stats.deadline_misses += 1
            self.stats.fallback_blocks += 1
        v.fill(0.0)
        a.fill(0.0)
        return x
