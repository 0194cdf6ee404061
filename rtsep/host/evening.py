"""An evening of songs separated ahead: a queue, key and tempo, between the songs and the stem ring.

One-way, like the single-song producer (:mod:`rtsep.host.ahead`), with two stages on two
threads below the SCHED_FIFO audio thread:

* **separation**: decodes the song at the playhead and the one after it and runs the stem stream
  over each into a :class:`SongStems` (accompaniment | vocals | dry, song time, the whole song);
  the karaoke gets the vocals here, ahead of the playhead. On Linux this runs in a child process
  at ``SCHED_IDLE`` (:mod:`.separation_process`: its Python holds an interpreter lock of its own,
  not the one the audio callback needs), and the ``rtsep-separate`` thread, at normal priority,
  only follows it; elsewhere (or with a separator that cannot be sent to a child) the thread
  separates, at ``SCHED_IDLE`` (nice 10 where that is refused). It holds the songs from the
  playhead's to the one being rendered, and the next: at most three in memory; when one is let
  go, the heaps' free pages go back to the OS. A song that fails to decode is skipped with one
  line (``SongQueue.messages``); the next song is ready long before the current one ends.
* **rendering** (``rtsep-render``, normal priority: it must keep pace with the playback): turns
  song frames into output frames at the singer's key and tempo
  (:class:`~rtsep.host.keytempo.ChunkRenderer`) and writes them into the
  :class:`~rtsep.host.ahead.StemRing` with the dry song; at a song's end the next one follows in
  the same ring, so there is no gap. A :class:`~rtsep.host.keytempo.TimeMap` records which song
  frame each output frame plays, for the karaoke, the GUI and the summary.

A change of key or tempo, or "next", re-renders from ``MARGIN_S`` after the playhead was when it
was asked (at least ``MIN_MARGIN_S`` ahead of it now): the ring is truncated there, the frames it
held become the crossfade's old side, and the first chunk after it is short
(:data:`~rtsep.host.keytempo.FIRST_CHUNK_S`), so the change is heard 0.6 s after it was asked (up
to about a second when the thread was busy with a chunk), without a gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import RtsepError, one_line
from .ahead import CHUNK_FRAMES, PRODUCER_NICE, AheadEngine, StemRing, default_stems, wait_for_stems
from .keytempo import CHUNK_S, FIRST_CHUNK_S, ChunkRenderer, TimeMap
from .queue import QueueSource, SongQueue
from .realtime import idle_priority, lower_priority, release_free_memory
from .source import FileSource

MARGIN_S = 0.6          # a change re-renders from this far ahead of where the playhead was when asked,
MIN_MARGIN_S = 0.4      # and at least this far ahead of it now (more than a first chunk's rendering)
RENDER_LEAD_S = 6.0     # rendered output kept ahead of the playhead
SONGS_AHEAD = 1         # songs separated beyond the one at the playhead
RENDER_NICE = 0


class SongStems:
    """One song's stems in song time: ``data`` ``frames x 3C`` (accompaniment | vocals | dry)
    and how many frames are separated so far (published after the copies)."""

    def __init__(self, audio: np.ndarray):
        n, c = audio.shape
        self.frames = n
        self.data = np.empty((n, 3 * c), np.float32)
        self.data[:, 2 * c:] = audio
        self.separated = 0
        self.complete = False

    def append(self, v: np.ndarray, a: np.ndarray) -> int:
        s = self.separated
        m = min(len(v), self.frames - s)
        c = v.shape[1]
        self.data[s:s + m, :c] = a[:m]
        self.data[s:s + m, c:2 * c] = v[:m]
        self.separated = s + m  # publish
        return m


class QueueProducer:
    """The :class:`~rtsep.host.ahead.AheadProducer` of a :class:`SongQueue` (see module doc).

    Args:
        queue: the songs and the key/tempo controls.
        make_stems: ``(sample_rate, channels) -> object with .stream(blocks)`` (made once, on the
            separation thread).
        karaoke: a :class:`~rtsep.host.karaoke.Karaoke` built for a queue, or ``None``.
        separate_in: ``"process"`` (a child; Linux, and ``make_stems`` picklable), ``"thread"``,
            or ``"auto"``: the process where it can be.
    """

    def __init__(self, queue: SongQueue, sample_rate: int, channels: int, make_stems: Callable = default_stems, *,
                 ring_seconds: float = 30.0, karaoke=None, niceness: int = PRODUCER_NICE,
                 separate_in: str = "auto"):
        self.queue = queue
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.make_stems = make_stems
        self.karaoke = karaoke
        self.niceness = niceness
        if separate_in not in ("auto", "process", "thread"):
            raise ValueError(f"separate_in must be auto, process or thread, not {separate_in!r}")
        if separate_in == "auto":
            from .separation_process import available

            separate_in = "process" if available(make_stems) else "thread"
        self.separate_in = separate_in
        self.ring = StemRing(max(int(ring_seconds * sample_rate), 4 * CHUNK_FRAMES), self.channels, dry=True)
        self.timemap = TimeMap()
        self.stores: dict[int, SongStems] = {}
        self.name = "?"
        self.speed_x = 0.0
        self.priority = "-"
        self.error: BaseException | None = None
        self.finished = False
        self._threads: list[threading.Thread] = []
        self._stop = False
        self._render_song = queue.current      # the song being rendered
        self._separated_s = 0.0                # song seconds separated, for speed_x
        self._sep_busy_s = 0.0
        self.render_speed_x = 0.0
        self.changes = 0                       # key/tempo/next changes applied
        self.songs_separated = 0               # songs separated whole (by the process)
        self.songs_cached = 0                  # songs whose stems came from the stem cache
        self.last_change: dict = {}            # out frame where the latest change starts, when
        self._restart = False

    # --- control thread ---------------------------------------------------------------------
    @property
    def _thread(self):  # AheadEngine's "running?" check
        return self._threads[0] if self._threads else None

    def start(self, start_frame: int = 0) -> None:
        """Start separating and rendering (a paused stream resumes where it was)."""
        if self._threads and all(t.is_alive() for t in self._threads):
            return
        self.stop()
        self._stop = False
        self._threads = [threading.Thread(target=self._guard, args=(self._separate,), name="rtsep-separate",
                                          daemon=True),
                         threading.Thread(target=self._guard, args=(self._render,), name="rtsep-render",
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def restart(self) -> None:
        """From the first song again (after the end)."""
        self.stop()
        self.ring.reset()
        self.timemap = TimeMap()
        self.stores.clear()
        self.finished = False
        self.queue.current = self._render_song = self.queue.next_index(-1)
        for s in self.queue.songs:
            if s.playable:
                s.state = "queued"

    def stop(self) -> None:
        ts, self._threads = self._threads, []
        self._stop = True
        for t in ts:
            t.join(timeout=10.0)
        if ts:
            self._bookkeeping()  # the summary's last word: where the playhead stopped

    def wait_ready(self, prefill_s: float = 0.5, timeout_s: float = 60.0) -> float:
        wait_for_stems(self, prefill_s, timeout_s)
        return self.speed_x

    def lead_frames(self) -> int:
        return self.ring.write_count - self.ring.read_count

    def where(self, out_frame: int | None) -> tuple[int, float, float, float]:
        """``(song, song_frame, tempo, key)`` at an output frame (``None``: the playhead)."""
        at = self.ring.read_count if out_frame is None else out_frame
        hit = self.timemap.lookup(at)
        if hit is None:
            c = self.queue.controls
            return self.queue.current or 0, 0.0, c.tempo, c.key
        return hit

    # --- threads ----------------------------------------------------------------------------------
    def _guard(self, body) -> None:
        try:
            body()
        except BaseException as exc:  # parked; the host turns it into one line
            if self.error is None:
                self.error = exc
            self.finished = True

    def _wanted(self) -> list[int]:
        """Songs to hold: from the one at the playhead to the one being rendered (a change
        re-renders from the playhead), and the next one."""
        q = self.queue
        r = self._render_song
        hit = self.timemap.lookup(self.ring.read_count)
        j = hit[0] if hit is not None else r
        out: list[int] = []
        while j is not None and j not in out and len(out) < len(q):
            out.append(j)
            if j == r:
                break
            j = q.next_index(j)
        for _ in range(SONGS_AHEAD if r is not None else 0):
            j = q.next_index(out[-1]) if out else None
            if j is not None and j not in out:
                out.append(j)
        return out

    def _separate(self) -> None:
        if self.separate_in == "process":
            self._separate_in_process()
            return
        # SCHED_IDLE, not only niced: beside an audio server that is not real-time, the other
        # clients' audio threads are ordinary ones, and a nice-10 thread that has the CPU keeps
        # it until its slice ends (a few ms: a 128-frame period is 2.7) when one of them wakes
        self.priority = idle_priority(self.niceness)
        stems = self.make_stems(self.sample_rate, self.channels)
        self.name = getattr(stems, "name", type(stems).__name__)
        while not self._stop:
            todo = [j for j in self._wanted() if j not in self.stores and self.queue.songs[j].playable]
            if not todo:
                time.sleep(0.02)
                continue
            self._separate_song(stems, todo[0])

    def _separate_song(self, stems, j: int) -> None:
        q = self.queue
        song = q.songs[j]
        try:
            audio = FileSource(song.path, self.sample_rate, self.channels).audio
        except Exception as exc:  # noqa: BLE001 - a bad file is skipped, with one line
            q.fail(j, one_line(exc))
            return
        store = SongStems(audio)
        song.duration_s = store.frames / self.sample_rate
        self.stores[j] = store
        if self.karaoke is not None:
            self.karaoke.begin_song(j, store.frames)
        reset = getattr(getattr(stems, "sep", None), "reset", None)
        if reset is not None:
            reset()
        t0 = time.monotonic()
        blocks = (audio[i:i + CHUNK_FRAMES] for i in range(0, len(audio), CHUNK_FRAMES))
        gen = stems.stream(blocks)
        try:
            for v, a in gen:
                s = store.separated
                store.append(v, a)
                busy = self._sep_busy_s + time.monotonic() - t0
                self.speed_x = (self._separated_s + store.separated / self.sample_rate) / max(busy, 1e-6)
                if self.karaoke is not None:
                    self.karaoke.push_song_vocals(j, s, v)
                if self._stop or j not in self._wanted():  # skipped, or the host closes
                    if j not in self._wanted():
                        self.stores.pop(j, None)
                    return
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        store.complete = True
        self.songs_separated += 1
        self._sep_busy_s += time.monotonic() - t0
        self._separated_s += store.frames / self.sample_rate
        self.speed_x = self._separated_s / max(self._sep_busy_s, 1e-6)

    def _separate_in_process(self) -> None:
        """The same, with the decoding and the network in a child (:mod:`.separation_process`);
        this thread, at normal priority, only follows it: its Python is a poll every 20 ms."""
        from .separation_process import SeparationProcess

        stopping = lambda: self._stop  # noqa: E731
        child = SeparationProcess(self.make_stems, self.sample_rate, self.channels, self.niceness, stop=stopping,
                                  cache=self.queue.stem_cache)
        try:
            self.name = child.name
            self.priority = f"{child.priority}, a process of its own"
            while not self._stop:
                todo = [j for j in self._wanted() if j not in self.stores and self.queue.songs[j].playable]
                if not todo:
                    child.check()
                    time.sleep(0.02)
                    continue
                self._follow_song(child, todo[0])
        finally:
            child.close()

    def _follow_song(self, child, j: int) -> None:
        q = self.queue
        store = child.open(j, q.songs[j].path, lambda: self._stop or j not in self._wanted())
        if store is None:
            return  # stopping, or no longer wanted
        if isinstance(store, str):
            q.fail(j, store)
            return
        q.songs[j].duration_s = store.frames / self.sample_rate
        self.stores[j] = store
        if self.karaoke is not None:
            self.karaoke.begin_song(j, store.frames)
        t0 = time.monotonic()
        fed = [0]
        c = self.channels

        def progress():
            done = store.separated
            if self.karaoke is not None and done > fed[0]:
                self.karaoke.push_song_vocals(j, fed[0], store.data[fed[0]:done, c:2 * c])
            fed[0] = done
            if not store.cached:  # the separation's speed: songs from the cache took none
                busy = self._sep_busy_s + time.monotonic() - t0
                self.speed_x = (self._separated_s + done / self.sample_rate) / max(busy, 1e-6)

        whole = child.follow(j, store, lambda: not self._stop and j in self._wanted(), progress)
        if not whole:
            if j not in self._wanted():
                self.stores.pop(j, None)
            return
        if store.cached:
            self.songs_cached += 1
            return
        self._sep_busy_s += time.monotonic() - t0
        self._separated_s += store.frames / self.sample_rate
        self.speed_x = self._separated_s / max(self._sep_busy_s, 1e-6)
        self.songs_separated += 1

    def _render(self) -> None:
        # At normal priority (still below the SCHED_FIFO audio thread; Rubber Band releases the
        # interpreter lock): unlike the separation, a whole song ahead, the rendering must keep
        # pace with the playback; at nice 10 on a busy machine it fell seconds behind.
        lower_priority(RENDER_NICE)
        q, ring, c = self.queue, self.ring, self.channels
        ctl = q.controls
        renderer = ChunkRenderer(self.sample_rate, group=c)
        sr = self.sample_rate
        lead_max = min(int(RENDER_LEAD_S * sr), ring.capacity // 2)
        seen = (ctl.seq, q.next_seq)
        s, length = 0, FIRST_CHUNK_S
        busy, rendered = 0.0, 0.0
        while not self._stop:
            self._bookkeeping()
            if (ctl.seq, q.next_seq) != seen:
                moved_on = q.next_seq != seen[1]
                seen = (ctl.seq, q.next_seq)
                s = self._rewind(renderer, s, moved_on)
                length = FIRST_CHUNK_S
                continue
            r = self._render_song
            self.finished = r is None  # the last song is out (a change may still re-render it)
            if r is None:
                time.sleep(0.02)
                continue
            if not q.songs[r].playable and r not in self.stores:
                self._render_song, s = q.next_index(r), 0  # failed or skipped before it began
                renderer.reset()
                continue
            store = self.stores.get(r)
            if store is None or ring.write_count - ring.read_count >= lead_max:
                time.sleep(0.01)
                continue
            if s >= store.frames:  # the song is out: the next one follows in the same ring
                self._render_song, s, length = q.next_index(r), 0, FIRST_CHUNK_S
                renderer.reset()
                continue
            tempo, key = ctl.tempo, ctl.key
            e = min(store.frames, s + int(length * sr))
            need = min(store.frames, e + renderer.context + 2 * (renderer.xfade + renderer.max_lag))
            if store.separated < need:
                time.sleep(0.01)  # the separation is behind: wait for it
                continue
            t0 = time.monotonic()
            body = renderer.render(store.data, s, e, tempo, key, available=store.separated)
            if (ctl.seq, q.next_seq) != seen:
                continue  # changed while rendering: this chunk is already out of date
            busy += time.monotonic() - t0
            rendered += (e - s) / sr
            self.render_speed_x = rendered / max(busy, 1e-6)
            self.timemap.add(ring.write_count, r, s, tempo, key)
            k = 0
            while k < len(body) and not self._stop:
                m = min(len(body) - k, ring.free())
                if m <= 0:
                    time.sleep(0.01)
                    continue
                part = body[k:k + m]
                ring.write(part[:, c:2 * c], part[:, :c], part[:, 2 * c:])
                k += m
            s = e
            length = min(CHUNK_S, 2 * length)

    def _rewind(self, renderer: ChunkRenderer, s: int, moved_on: bool) -> int:
        """Apply a change: re-render from ``MARGIN_S`` ahead of the playhead when the ring holds
        that much (crossfading from what it held there), else from where rendering is."""
        ring, q = self.ring, self.queue
        x = renderer.xfade
        # the thread may have been busy with a chunk when asked: count from the request
        since = time.monotonic() - max(q.controls.changed_at, q.next_at)
        at = ring.read_count + int(max(MIN_MARGIN_S, MARGIN_S - since) * self.sample_rate)
        self.changes += 1
        if at + x <= ring.write_count:
            song, frame, _tempo, _key = self.where(at)
            parts = ring.peek(at, x)  # vocals, accompaniment, dry
            tail = np.concatenate([parts[1], parts[0], parts[2]], axis=1)
            ring.truncate(at)
            self.timemap.truncate(at)
            self._render_song, s = song, int(round(frame))
            renderer.reset(tail)
        else:
            at = ring.write_count
        if moved_on:
            nxt = q.next_index(self._render_song) if self._render_song is not None else None
            if self._render_song is not None and q.songs[self._render_song].state == "playing":
                q.songs[self._render_song].state = "played"
            self._render_song, s = nxt, 0
        self.last_change = {"out_frame": at, "requested_at": ring.read_count, "t": time.monotonic()}
        return s

    def _went_past(self, j: int) -> None:
        """The playhead is in song ``j``: the song it was in, and any between (a song shorter than
        a render call can go by unseen: a few frames of a damaged file), were played."""
        q = self.queue
        i, n = q.current, 0
        while i is not None and i != j and n < len(q):
            if q.songs[i].state in ("playing", "queued"):
                q.songs[i].state = "played"
            i, n = q.next_index(i), n + 1

    def _bookkeeping(self) -> None:
        """The song at the playhead: its state, time played, separation lead and score; songs
        no longer wanted are let go (memory, melody processes)."""
        q = self.queue
        hit = self.timemap.lookup(self.ring.read_count)
        if hit is None:
            return
        j, frame, _tempo, _key = hit
        if self.finished and self.ring.read_count >= self.ring.write_count:
            self._went_past(j)
            if q.songs[j].state in ("playing", "queued"):
                q.songs[j].state = "played"
            return
        song = q.songs[j]
        if q.current != j:
            self._went_past(j)
            q.current = j
            song.state = "playing"
        elif song.state in ("queued", "skipped"):
            song.state = "playing"
        if song.state == "playing":
            song.played_s = frame / self.sample_rate
            store = self.stores.get(j)
            if store is not None and (not store.complete or song.ahead_s is None):
                # separated song beyond the playhead; a song separated whole before it began: all of it
                lead = (store.frames if store.complete else store.separated - frame) / self.sample_rate
                song.ahead_s = lead if song.ahead_s is None else min(song.ahead_s, lead)
            if self.karaoke is not None:
                score = self.karaoke.song_score(j)
                if score is not None:
                    song.score = score
        wanted = self._wanted()
        gone = [i for i in list(self.stores) if i not in wanted]  # list(): the other thread adds
        for i in gone:
            self.stores.pop(i, None)
        if gone:  # a song's arrays (tens of MB) freed: hand the heaps' free pages back
            release_free_memory()
        if self.karaoke is not None:
            self.karaoke.end_songs(set(wanted))


PREFILL_S = 2.0  # output rendered before the stream starts: the chunks after the first take longer


class QueueEngine(AheadEngine):
    """The ahead engine over a queue: a stopped stream resumes where it was."""

    def start(self, song_frame: int = 0, prefill_s: float = PREFILL_S) -> float:
        p = self.producer
        p.start()
        self.min_lead = self.first_lead = -1
        self.warm_up(None)
        speed = p.wait_ready(max(prefill_s, PREFILL_S))
        q = p.queue
        if p.finished and not any(s.playable for s in q.songs):  # every song failed to decode
            p.stop()
            raise RtsepError(f"--source: no playable song ({'; '.join(q.notes + q.messages)})")
        return speed


def build_queue_engine(src: QueueSource, host, with_karaoke: bool, ahead_seconds: float, stems):
    """The producer, karaoke and engine of ``host`` over ``src`` (``LiveHost._build_ahead``)."""
    karaoke = None
    producer = QueueProducer(src.queue, host.sample_rate, host.channels, stems or default_stems,
                             ring_seconds=ahead_seconds)
    if with_karaoke:
        from .karaoke import Karaoke, pitch_available

        if pitch_available():
            karaoke = Karaoke(host.sample_rate, None, blocksize=host.blocksize, where=producer.where,
                              now=lambda: producer.ring.read_count)
            producer.karaoke = karaoke
        else:
            host.notes.append("pitch guide and score unavailable in this build (rtsep.pitch missing)")
    host.karaoke = karaoke
    src.producer = producer
    host.notes.extend(src.queue.notes)
    c = host.controls
    eng = QueueEngine(producer, host.blocksize, host.channels, host.stats, mode=c.mode,
                      vocals_db=c.vocals_db, accompaniment_db=c.accompaniment_db)
    eng.start()
    host.ahead = eng
    return eng
