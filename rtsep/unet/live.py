"""The streaming U-Net as a live processor: the network on a worker thread, the callback only mixing.

:class:`LiveUNet` is a :class:`~rtsep.plugins.base.Plugin` like the recurrent separator, so the
live host, a chain (``separator(latency="0.3s")``) and file mode all take it. Per block the
audio thread (``process``):

1. copies the input into a lock-free ring (:class:`rtsep.host.ring.FrameRing`);
2. gathers the stems of input time ``t - latency_samples`` (``t`` = the block's output time)
   from the stem ring the worker fills, and mixes them with the current mode and gains
   (:class:`rtsep.plugins.stems.StemRamp`: every change ramped);
3. last, once per eighth of the allowance of input, wakes the worker with one byte on a pipe (as
   :mod:`rtsep.host.handoff` does). Waking it every block, before mixing, had its Python contend
   for the interpreter lock with the callback: callback maxima of 170 % of a 128-frame period
   and twice the passthrough's dropouts on a loaded 2-core machine; woken this way, 24 %.

The worker thread feeds :meth:`StreamingUNet.push <rtsep.unet.streaming.StreamingUNet.push>`
(which returns as many stem samples as it is given, ``StreamingUNet.latency_samples`` late) and
appends them to the stem ring. The callback plays stem sample ``t - allowance_samples``, so the
delay is fixed:

    latency_samples = StreamingUNet.latency_samples (algorithmic) + allowance_samples

where the allowance (the ladder point's compute allowance, one step) is the time the worker
has to run the network for a chunk once its input is in. So the output does not depend on how
the stream is cut into blocks, nor on when the worker finished, as long as it finished in time:
then it equals file mode's output (``StreamingUNet.separate``) delayed by ``latency_samples``.
Until the pipeline has filled (the first ``latency_samples`` of output) the output is silence.
Stems that are not there when due are a **deadline miss** (counted here and in the host's
``StreamStats``): those samples play the latency-matched dry input, and the stems fade back in
over ``fade_ms`` once they are on time again: never mistimed audio.

No allocation, lock or logging in ``process`` (Numba kernels into preallocated buffers; the
worker allocates, the audio thread never waits for it): the host calls ``process(block, out=buf)``.
``blocking=True`` (files, offline
chains, tests) makes ``process`` wait until the worker has consumed the input, i.e. the worker
always keeps up: the output is then exactly what a live run outputs when it keeps up.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from ..dsp.delay import DelayLine
from ..dsp.memory import resident_zeros
from ..host.realtime import BESIDE_ORDINARY_SERVER, make_realtime, name_thread, thread_ids
from ..host.ring import FrameRing
from ..plugins.base import Plugin
from ..plugins.stems import VOCAL_SHARE_SCALE, StemControlled, StemControls
from .separator import unet_model_path
from .stem_ring import fallback, gather, write_ring

@dataclass(frozen=True)
class StreamCard:
    """What reports read of a separator's model (``card.path``, ``card.placeholder``)."""

    path: str
    name: str = "unet-2stems (streaming)"
    placeholder: bool = False
    lookahead_frames: int = 0


INPUT_RING_SECONDS = 8.0  # how far the worker may fall behind before input is lost
WORKER_CHUNK = 8192       # input frames per push (any size gives the same stems)
RT_PRIORITY_UNET = 40     # below the callback (60) and the recurrent hand-off worker (50)
TIMES = 1 << 16           # push times kept for the load figures
WORKER_NAME = "rtsep-unet"  # the worker's thread name, inherited by the network's threads


class LiveUNet(StemControlled, Plugin):
    """The streaming U-Net at a ladder point, as a live processor (see the module doc).

    Args:
        point: a :class:`rtsep.unet.ladder.LadderPoint`.
        sample_rate, channels: the stream's (other rates resample inside the stream).
        mode, vocals_db, accompaniment_db: the output (:mod:`rtsep.plugins.stems`).
        max_block: the largest block ``process`` takes without allocating (longer ones are
            cut into pieces of this size).
        threads: ONNX Runtime threads of the network.
        blocking: ``process`` waits for the worker (files, offline chains); ``False`` for an
            audio callback.
        stream: an already built :class:`~rtsep.unet.streaming.StreamingUNet` (else built here).
        allowance_samples: the compute allowance (default: the point's, at this rate).
        budget: the ``--latency`` text that chose this point (for reports).
        stats: a :class:`rtsep.host.stats.StreamStats` whose ``deadline_misses`` /
            ``fallback_blocks`` it also counts (the live host sets it).
        realtime: the worker runs at SCHED_FIFO ``RT_PRIORITY_UNET`` where allowed and builds its
            own network session, whose ONNX Runtime threads get the priority too (on a busy
            2-core machine a 128-frame window then takes ~35 ms instead of ~270 ms); default:
            live (not ``blocking``). ``stream`` then only lends its delays.
        server_realtime: where given (the live host), ``realtime`` waits for the audio server:
            this returns whether it made the audio thread real-time itself (``None`` before the
            first callback; :func:`rtsep.host.realtime.audio_server_realtime`). Only then do the
            worker and its network threads go real-time. Beside a server that is not
            (``jackd --no-realtime``, a desktop server without rtkit) the other clients' audio
            threads are ordinary ones, and two real-time network threads on two cores would
            hold them off for a whole step (~40 ms): an xrun for every client. So they stay at
            normal priority there, as the GUI thread does.
    """

    rt_status = "-"

    def __init__(self, point, sample_rate: int, channels: int, *, mode: str = "karaoke",
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0, max_block: int = 8192,
                 threads: int = 2, blocking: bool = False, stream=None, model=None,
                 allowance_samples: int | None = None, budget: str | None = None, fade_ms: float = 10.0,
                 stats=None, realtime: bool | None = None, server_realtime=None, start_worker: bool = True):
        self.ladder_point = point
        self.budget = budget
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.blocking = bool(blocking)
        self.realtime = (not self.blocking) if realtime is None else bool(realtime)
        self.server_realtime = server_realtime if self.realtime else None
        self._priority_pending = self.server_realtime is not None
        self._pool_tids: set[int] = set()  # the network's threads (made real-time with the worker)
        self.stats = stats
        self.card = StreamCard(str(unet_model_path(model)))
        self.threads = int(threads)

        def build():
            from .streaming import StreamingUNet

            return StreamingUNet(point, self.sample_rate, self.channels, model=model, threads=self.threads)

        self.unet = None if self.realtime else (stream or build())
        self._thread: threading.Thread | None = None
        self._rfd = self._wfd = -1
        self._stopping = self._paused = False
        self._ready, self._idle = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        if start_worker:
            self._start_worker(build if self.unet is None else None)
        else:  # tests of the audio path alone: the wake-up pipe, nobody reading it
            self.unet = self.unet or stream or build()
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)
        u = self.unet
        self.algorithmic_samples = int(u.latency_samples)
        self.step_samples = int(u.step_samples)
        if allowance_samples is None:
            allowance_samples = math.ceil(point.compute_samples_44k * self.sample_rate / 44100)
        self.allowance_samples = int(allowance_samples)
        self._delay = self.algorithmic_samples + self.allowance_samples
        # the worker may lag this much more: an eighth of its allowance
        self._wake_every = max(1, self.allowance_samples // 8)
        self.controls = StemControls(mode, vocals_db, accompaniment_db,
                                     ramp_samples=int(fade_ms * 1e-3 * self.sample_rate))
        self._ramp = self.controls.ramp()
        self._fade_step = 1.0 / max(1, int(fade_ms * 1e-3 * self.sample_rate))
        B, C = self.max_block, self.channels
        # what the callback writes and reads, mapped now (resident_zeros: no page faults there)
        self._out = resident_zeros((B, C))
        self._vb = resident_zeros((B, C))
        self._ab = resident_zeros((B, C))
        self._energy = np.zeros(2, np.float64)
        self._wet = np.ones(1, np.float64)
        self._dry = DelayLine(self._delay, C, B)
        # the input ring's frames (the ring itself is made by _reset_state, fresh at each reset)
        self._in_frames = max(int(INPUT_RING_SECONDS * self.sample_rate), 4 * self.step_samples + 2 * B)
        # stems wait here from the worker's write to the callback's read: at most the allowance,
        # a worker chunk and a block when on time
        cap = 1 << int(self.allowance_samples + 2 * B + 2 * WORKER_CHUNK + 4 * self.step_samples).bit_length()
        self._v_ring = resident_zeros((cap, C))
        self._a_ring = resident_zeros((cap, C))
        self._wbuf = np.zeros((WORKER_CHUNK, C), np.float32)
        self._times = np.zeros(TIMES, np.float64)
        self._warm_up()
        self._reset_state()
        self._paused = False  # the worker may work from here on
        # at interpreter exit, before extension modules go: end the worker, drop the stream
        # (a host's reference cycles may keep this alive to the end; soxr would report a leak)
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- reporting -----------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """The true delay: algorithmic + compute allowance (what a stream hears)."""
        return self._delay

    @property
    def point(self):  # noqa: D401 - not an operating point: the GUI's switch stays off
        raise AttributeError("the streaming U-Net has no switchable operating point")

    def compute_load(self) -> dict:
        """The worker so far: its busy share of the audio it pushed (must stay below 1 to keep
        up), and its longest pushes (one holds a network step) against the allowance they
        must fit in."""
        n = min(self.pushes, TIMES)
        if not n:
            return {"pushes": 0}
        t = self._times[:n] * 1000.0
        audio_s = self._pushed_frames / self.sample_rate
        return {"pushes": int(self.pushes), "busy_share": round(self._busy_s / max(audio_s, 1e-9), 3),
                "push_ms_p99": round(float(np.percentile(t, 99)), 2), "push_ms_max": round(float(t.max()), 2),
                "allowance_ms": round(1000.0 * self.allowance_samples / self.sample_rate, 2)}

    def describe(self) -> dict:
        p = self.ladder_point
        sr = self.sample_rate
        ms = lambda n: round(1000.0 * n / sr, 3)  # noqa: E731
        return {"separator": "unet-stream", "budget": self.budget, "ladder_point": p.name,
                "window_frames": p.window_frames, "lookahead_frames": p.lookahead_frames,
                "step_frames": p.step_frames, "step_samples": self.step_samples, "sample_rate": sr,
                "channels": self.channels, "mode": self.mode, "algorithmic_samples": self.algorithmic_samples,
                "allowance_samples": self.allowance_samples, "latency_samples": self._delay,
                "latency_ms": ms(self._delay), "blocking": self.blocking}

    # --- life cycle ----------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Compile the kernels before any audio thread calls them."""
        z = self._out[:1]
        self._ramp.warm_up()
        gather(self._v_ring, self._a_ring, 0, -1, 1, self._vb[:1], self._ab[:1], self._energy)
        fallback(z, z, 1, 1, np.ones(1), 0.5)
        write_ring(self._v_ring, 0, z, 0)
        self._dry.process(z)

    def _reset_state(self) -> None:
        self._in = FrameRing(self._in_frames, self.channels)
        self._in_pos = 0        # input frames the callback wrote (callback)
        self._in_done = 0       # input frames the worker has pushed through (worker)
        self._out_pos = 0       # output frames produced (callback)
        self._woken_at = 0      # input position of the last wake-up (callback)
        self._written = 0       # stems in the ring: stem stream positions [0, written) (worker)
        self._read = 0          # stem positions the callback has consumed (callback)
        self.deadline_misses = 0
        self.fallback_blocks = 0
        self.input_overruns = 0
        self.pushes = 0         # worker's push calls, their time and input (compute_load)
        self._busy_s = 0.0
        self._pushed_frames = 0
        self.vad_latest = 0.0
        self._wet[0] = 1.0
        self._dry.reset()
        self._ramp.reset()
        self.unet.reset()

    def _start_worker(self, build=None) -> None:
        """The worker thread (it builds the stream first when given ``build``); waits until it
        is ready. It stays paused until the constructor has finished."""
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._wfd, False)
        self._paused = True
        self._thread = threading.Thread(target=_worker_loop, args=(weakref.ref(self), self._rfd, build),
                                        name=WORKER_NAME, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            err, self.error = self.error, None
            self._stop_worker()
            raise err

    def _pause(self) -> None:
        """Control thread: have the worker finish its push and idle (no lock on the audio path:
        the callback never waits for this)."""
        if self._thread is None:
            return
        self._idle.clear()
        self._paused = True
        self._wake()
        if not self._idle.wait(timeout=10.0):
            raise RuntimeError("the streaming U-Net's worker did not pause within 10 s")

    def _wake(self) -> None:
        try:
            os.write(self._wfd, b"\x00")
        except OSError:
            pass

    def _stop_worker(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping = True
            self._wake()
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        for fd in (self._rfd, self._wfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._rfd = self._wfd = -1

    def reset(self) -> None:
        """Clear the stream (the next sample is stream time 0): the worker paused, the state
        cleared, the worker resumed. Control thread only, not while a callback runs."""
        self._pause()
        self._reset_state()
        self._paused = False

    def close(self) -> None:
        """End the worker thread (also done when the processor is garbage-collected)."""
        self._stop_worker()

    def __del__(self):
        try:
            self._stop_worker()
        except Exception:
            pass

    # --- worker thread -------------------------------------------------------------------
    def _choose_priority(self) -> None:
        """Once the audio server is known (``server_realtime``): real-time beside a real-time
        server, for the worker and the network's threads; else normal priority."""
        rt = self.server_realtime()
        if rt is None:
            return
        self._priority_pending = False
        if rt:
            self.rt_status = make_realtime(RT_PRIORITY_UNET)
            for tid in self._pool_tids:
                make_realtime(RT_PRIORITY_UNET, tid)
        else:
            self.rt_status = BESIDE_ORDINARY_SERVER

    def _work(self) -> None:
        """Push everything the callback wrote through the network; write the stems."""
        wbuf, ring = self._wbuf, self._in
        while not (self._stopping or self._paused):
            k = ring.read_into(wbuf)
            if k == 0:
                return
            t0 = time.perf_counter()
            v, a = self.unet.push(wbuf[:k])
            m = len(v)
            if m:
                w = self._written
                # room: the callback frees stems as it plays them (never more than the
                # allowance and two blocks behind when it keeps time)
                while w + m - max(self._read, 0) > len(self._v_ring) and not (self._stopping or self._paused):
                    time.sleep(0.0005)
                write_ring(self._v_ring, w, v, m)
                write_ring(self._a_ring, w, a, m)
                self._written = w + m  # publish, after the copies
            dt = time.perf_counter() - t0
            self._times[self.pushes % TIMES] = dt
            self.pushes += 1
            self._busy_s += dt
            self._pushed_frames += k
            self._in_done += k

    # --- audio thread --------------------------------------------------------------------
    def _process(self, block: np.ndarray) -> np.ndarray:
        """``(frames, channels)`` float32 → the mode's output ``latency_samples`` late (a view
        valid until the next call; ``process(block, out=buf)`` fills ``buf``); silence until the
        pipeline has filled."""
        n = block.shape[0]
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        if n > self.max_block:  # longer than promised: pieces (allocates; not on a live path)
            out = np.empty((n, self.channels), np.float32)
            for i in range(0, n, self.max_block):
                out[i:i + self.max_block] = self._process(block[i:i + self.max_block])
            return out
        if self._in.write(block) < n:
            self.input_overruns += 1  # the worker is seconds behind: the stream has lost input
        self._in_pos += n
        if self.blocking:
            self._wake_worker()
            self._wait_for_worker()
        # stem stream position of this block's first sample: the stream (push's output) is already
        # ``algorithmic_samples`` late; the allowance is the worker's time to compute it
        start = self._out_pos - self.allowance_samples
        out, vb, ab = self._out[:n], self._vb[:n], self._ab[:n]
        ready = gather(self._v_ring, self._a_ring, self._written, start, n, vb, ab, self._energy)
        self._read = start + n  # publish: the worker may overwrite these stems now
        self._ramp.mix(vb, ab, out)
        dry = self._dry.process(block)
        if ready < n or self._wet[0] < 1.0:
            fallback(out, dry, ready, n, self._wet, self._fade_step)
            self.fallback_blocks += 1
            st = self.stats
            if st is not None:
                st.fallback_blocks += 1
            if ready < n:
                self.deadline_misses += 1
                if st is not None:
                    st.deadline_misses += 1
        ev, ea = self._energy[0], self._energy[1]
        self.vad_latest = min(1.0, VOCAL_SHARE_SCALE * ev / (ev + ea)) if ev + ea > 1e-12 else 0.0
        self._out_pos += n
        # Wake the worker last (its Python would contend for the interpreter lock with the rest
        # of this block), and only every ``_wake_every`` samples: fewer, longer pushes.
        if self._in_pos - self._woken_at >= self._wake_every:
            self._wake_worker()
        return out

    def _wake_worker(self) -> None:
        self._woken_at = self._in_pos
        try:
            os.write(self._wfd, b"\x01")
        except OSError:  # pipe full: the worker is busy and already awake
            pass

    def _wait_for_worker(self) -> None:
        """Blocking mode: until the worker has pushed everything written so far."""
        while self._in_done < self._in_pos:
            if self.error is not None:
                raise self.error
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("the streaming U-Net's worker thread is not running")
            time.sleep(0.0002)


def _close_at_exit(ref: weakref.ref) -> None:
    sep = ref()
    if sep is not None:
        sep.close()
        sep.unet = None


def _warm_network(unet, channels: int) -> None:
    """Two network steps of silence, then a fresh stream: ONNX Runtime's first runs of a shape
    plan and allocate (a live run's first step was ~70 ms late, every run: 21 deadline misses at
    128-frame blocks in a fresh-clone CI run), so they happen before the stream starts."""
    step = int(unet.step_samples)
    z = np.zeros((step, channels), np.float32)
    for _ in range(int(math.ceil(unet.latency_samples / step)) + 2):
        unet.push(z)
    unet.reset()


def _worker_loop(ref: weakref.ref, rfd: int, build) -> None:
    """The worker: real-time priority and its own stream first (``build``), then wakes on each
    byte the callback writes; holds the processor only while working (a processor nobody holds
    any more is collected and this thread ends)."""
    sep = ref()
    if sep is None:
        return
    if sep._priority_pending:
        sep.rt_status = "normal (until the first callback)"
    elif sep.realtime:
        sep.rt_status = make_realtime(RT_PRIORITY_UNET)
    try:
        if build is not None:
            name_thread(WORKER_NAME)  # the network's threads inherit the name: found by it below
            before = thread_ids(WORKER_NAME)
            sep.unet = build()  # ONNX Runtime's threads are created here: they inherit the priority
            sep._pool_tids = thread_ids(WORKER_NAME) - before
        if not sep.blocking:
            _warm_network(sep.unet, sep.channels)
    except BaseException as exc:
        sep.error = exc
        return
    finally:
        sep._ready.set()
        del sep
    while True:
        try:
            os.read(rfd, 4096)
        except OSError:
            return
        sep = ref()
        if sep is None or sep._stopping:
            return
        try:
            if sep._priority_pending:
                sep._choose_priority()
            if not sep._paused:
                sep._work()
            if sep._paused:
                sep._idle.set()
        except BaseException as exc:  # park it: the callback plays dry, blocking mode raises it
            sep.error = exc
            sep._idle.set()
            return
        finally:
            del sep
