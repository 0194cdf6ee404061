"""The streaming U-Net as a live processor: the network on a worker, the callback only mixing.

:class:`LiveUNet` is a :class:`~rtsep.plugins.base.Plugin` like the recurrent separator, so the
live host, a chain (``separator(latency="0.3s")``) and file mode all take it. Per block the
audio thread (``process``):

1. copies the input into a lock-free ring (:class:`rtsep.unet.exchange.Exchange`);
2. gathers the stems of input time ``t - latency_samples`` (``t`` = the block's output time)
   from the stem rings the worker fills, and mixes them with the current mode and gains
   (:class:`rtsep.plugins.stems.StemRamp`: every change ramped);
3. last, once per eighth of the allowance of input, wakes the worker with one byte on a pipe (as
   :mod:`rtsep.host.handoff` does). Waking it every block, before mixing, had its Python contend
   for the interpreter lock with the callback: callback maxima of 170 % of a 128-frame period
   and twice the passthrough's dropouts on a loaded 2-core machine; woken this way, 24 %.

The worker (:mod:`rtsep.unet.worker`) feeds :meth:`StreamingUNet.push
<rtsep.unet.streaming.StreamingUNet.push>` (which returns as many stem samples as it is given,
``StreamingUNet.latency_samples`` late) and appends them to the stem rings. Live (``realtime``,
the default without ``blocking``) it is a process of its own where the OS allows
(:mod:`rtsep.unet.worker_process`: its Python then never holds the callback's interpreter lock);
else, and for files and given streams, a thread. The callback plays stem sample ``t - allowance_samples``, so the
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
import time
import weakref
from dataclasses import dataclass

import numpy as np

from ..dsp.delay import DelayLine
from ..dsp.memory import resident_zeros
from ..plugins.base import Plugin
from ..plugins.stems import VOCAL_SHARE_SCALE, StemControlled, StemControls
from . import exchange as X
from . import worker_process
from .separator import unet_model_path
from .stem_ring import fallback, gather, write_ring
from .worker import WORKER_CHUNK, WorkerThread

__all__ = ["LiveUNet", "StreamCard"]


@dataclass(frozen=True)
class StreamCard:
    """What reports read of a separator's model (``card.path``, ``card.placeholder``)."""

    path: str
    name: str = "unet-2stems (streaming)"
    placeholder: bool = False
    lookahead_frames: int = 0


INPUT_RING_SECONDS = 8.0  # how far the worker may fall behind before input is lost


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
        stream: an already built :class:`~rtsep.unet.streaming.StreamingUNet` (else built by the
            worker); a live worker builds its own, and ``stream`` only lends its delays.
        allowance_samples: the compute allowance (default: the point's, at this rate).
        budget: the ``--latency`` text that chose this point (for reports).
        stats: a :class:`rtsep.host.stats.StreamStats` whose ``deadline_misses`` /
            ``fallback_blocks`` it also counts (the live host sets it).
        realtime: a live worker: its own network session, warmed up before the stream
            starts, a process of its own where the OS allows (``worker="process"``; else a
            thread), at normal priority (why: :mod:`rtsep.unet.worker`); default: live (not
            ``blocking``).
        worker: ``"process"`` or ``"thread"`` for a live worker (default: a process where the OS
            can share the memory, :func:`rtsep.unet.worker_process.available`).
    """

    def __init__(self, point, sample_rate: int, channels: int, *, mode: str = "karaoke",
                 vocals_db: float = 0.0, accompaniment_db: float = 0.0, max_block: int = 8192,
                 threads: int = 2, blocking: bool = False, stream=None, model=None,
                 allowance_samples: int | None = None, budget: str | None = None, fade_ms: float = 10.0,
                 stats=None, realtime: bool | None = None, start_worker: bool = True,
                 worker: str | None = None):
        from .streaming import StreamingUNet, stream_delays

        self.ladder_point = point
        self.budget = budget
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.blocking = bool(blocking)
        self.realtime = (not self.blocking) if realtime is None else bool(realtime)
        self.stats = stats
        self.card = StreamCard(str(unet_model_path(model)))
        self.threads = int(threads)
        if worker is None:
            worker = "process" if self.realtime and worker_process.available() else "thread"
        if worker not in ("process", "thread") or (worker == "process" and not self.realtime):
            raise ValueError(f"worker must be 'process' (live only) or 'thread', got {worker!r}")
        if stream is not None:
            self.algorithmic_samples, self.step_samples = int(stream.latency_samples), int(stream.step_samples)
        else:
            self.algorithmic_samples, self.step_samples = stream_delays(point, self.sample_rate, self.channels)
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
        in_frames = max(int(INPUT_RING_SECONDS * self.sample_rate), 4 * self.step_samples + 2 * B)
        # stems wait from the worker's write to the callback's read: at most the allowance,
        # a worker chunk and a block when on time
        stem_frames = self.allowance_samples + 2 * B + 2 * WORKER_CHUNK + 4 * self.step_samples
        self._mem_fd = -1
        shared = worker_process.available() and worker == "process" and start_worker
        if shared:
            got = X.shared_buffer(X.Exchange.nbytes(in_frames, stem_frames, C))
            if got is None:
                shared, worker = False, "thread"
            else:
                self._mem_fd, mapping = got
        self._ex = X.Exchange(in_frames, stem_frames, C, buffer=mapping if shared else None)
        self.worker_kind = worker
        self._worker = None
        self._rfd = self._wfd = -1
        self._warm_up()
        self._reset_state()
        if start_worker:
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)
            try:
                if worker == "process":
                    self._worker = worker_process.WorkerProcess(
                        self._ex, self._mem_fd, self._rfd, point, self.sample_rate, self.channels, self.threads,
                        self.card.path)
                else:
                    if self.realtime or stream is None:
                        def build():
                            return StreamingUNet(point, self.sample_rate, self.channels, model=model,
                                                 threads=self.threads)
                    else:
                        def build():
                            return stream
                    self._worker = WorkerThread(self._ex, build, not self.blocking, self._rfd)
            except BaseException:
                self._close_fds()
                raise
        else:  # tests of the audio path alone: the wake-up pipe, nobody reading it
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)
        # at interpreter exit, before extension modules go: end the worker
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- reporting -----------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        """The true delay: algorithmic + compute allowance (what a stream hears)."""
        return self._delay

    @property
    def point(self):  # noqa: D401 - not an operating point: the GUI's switch stays off
        raise AttributeError("the streaming U-Net has no switchable operating point")

    @property
    def rt_status(self) -> str:
        """The worker's priority, for reports."""
        if not self.realtime:
            return "-"
        return "normal priority, a process of its own" if self.worker_kind == "process" \
            else "normal priority, a thread"

    @property
    def error(self) -> BaseException | None:
        """What ended the worker early, if anything."""
        return None if self._worker is None else self._worker.failure()

    @property
    def unet(self):
        """The worker's :class:`~rtsep.unet.streaming.StreamingUNet` where it is a thread of this
        process (``None`` for a worker process)."""
        return getattr(self._worker, "unet", None)

    def worker_tids(self) -> set[int]:
        """The worker's native thread ids (its own and the network's; another process's for a
        worker process)."""
        return self._ex.worker_tids()

    @property
    def deadline_misses(self) -> int:
        return self._misses

    @property
    def pushes(self) -> int:
        return int(self._ex.counters[X.PUSHES])

    def compute_load(self) -> dict:
        """The worker so far: its busy share of the audio it pushed (must stay below 1 to keep
        up), and its longest pushes (one holds a network step) against the allowance they
        must fit in."""
        c = self._ex.counters
        n = min(int(c[X.PUSHES]), X.TIMES)
        if not n:
            return {"pushes": 0}
        t = self._ex.times[:n] * 1000.0
        audio_s = int(c[X.PUSHED_FRAMES]) / self.sample_rate
        return {"pushes": int(c[X.PUSHES]), "busy_share": round(int(c[X.BUSY_NS]) * 1e-9 / max(audio_s, 1e-9), 3),
                "push_ms_p99": round(float(np.percentile(t, 99)), 2), "push_ms_max": round(float(t.max()), 2),
                "allowance_ms": round(1000.0 * self.allowance_samples / self.sample_rate, 2),
                "worker": self.worker_kind}

    def describe(self) -> dict:
        p = self.ladder_point
        sr = self.sample_rate
        ms = lambda n: round(1000.0 * n / sr, 3)  # noqa: E731
        return {"separator": "unet-stream", "budget": self.budget, "ladder_point": p.name,
                "window_frames": p.window_frames, "lookahead_frames": p.lookahead_frames,
                "step_frames": p.step_frames, "step_samples": self.step_samples, "sample_rate": sr,
                "channels": self.channels, "mode": self.mode, "algorithmic_samples": self.algorithmic_samples,
                "allowance_samples": self.allowance_samples, "latency_samples": self._delay,
                "latency_ms": ms(self._delay), "blocking": self.blocking, "worker": self.worker_kind}

    # --- life cycle ----------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Compile the kernels before any audio thread calls them."""
        z = self._out[:1]
        ex = self._ex
        self._ramp.warm_up()
        gather(ex.vocals, ex.accompaniment, 0, -1, 1, self._vb[:1], self._ab[:1], self._energy)
        fallback(z, z, 1, 1, np.ones(1), 0.5)
        write_ring(self._vb, 0, z, 0)
        X.ring_write(ex.inputs, 0, 0, z[:0])
        X.ring_read(ex.inputs, 0, 0, z[:0])
        self._dry.process(z)

    def _reset_state(self) -> None:
        """The worker idle (or none yet): a new stream from position 0."""
        self._ex.clear_stream()
        self._in_pos = 0        # input frames the callback wrote (callback)
        self._out_pos = 0       # output frames produced (callback)
        self._woken_at = 0      # input position of the last wake-up (callback)
        self._misses = 0
        self.fallback_blocks = 0
        self.input_overruns = 0
        self.vad_latest = 0.0
        self._wet[0] = 1.0
        self._dry.reset()
        self._ramp.reset()
        self._ex.counters[X.RESET_GEN] += 1  # the worker restarts its stream before its next push

    def _pause(self) -> None:
        """Control thread: have the worker finish its push and idle (no lock on the audio path:
        the callback never waits for this)."""
        if self._worker is None:
            return
        c = self._ex.counters
        c[X.IDLE] = 0
        c[X.PAUSE] = 1
        self._wake()
        deadline = time.monotonic() + 10.0
        while not c[X.IDLE]:
            if time.monotonic() > deadline or not self._worker.alive():
                raise RuntimeError("the streaming U-Net's worker did not pause within 10 s")
            time.sleep(0.001)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wfd, b"\x00")

    def _close_fds(self) -> None:
        for fd in (self._rfd, self._wfd, self._mem_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._rfd = self._wfd = self._mem_fd = -1

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._ex.counters[X.STOP] = 1
            self._wake()
            worker.join(5.0)
        self._close_fds()

    def reset(self) -> None:
        """Clear the stream (the next sample is stream time 0): the worker paused, the state
        cleared, the worker resumed. Control thread only, not while a callback runs."""
        self._pause()
        self._reset_state()
        self._ex.counters[X.PAUSE] = 0

    def close(self) -> None:
        """End the worker (also done when the processor is garbage-collected)."""
        self._stop_worker()

    def __del__(self):
        try:
            self._stop_worker()
        except Exception:
            pass

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
        ex = self._ex
        c = ex.counters
        if ex.write_input(block) < n:
            self.input_overruns += 1  # the worker is seconds behind: the stream has lost input
        self._in_pos += n
        if self.blocking:
            self._wake_worker()
            self._wait_for_worker()
        # stem stream position of this block's first sample: the stream (push's output) is already
        # ``algorithmic_samples`` late; the allowance is the worker's time to compute it
        start = self._out_pos - self.allowance_samples
        out, vb, ab = self._out[:n], self._vb[:n], self._ab[:n]
        ready = gather(ex.vocals, ex.accompaniment, int(c[X.STEMS_WRITTEN]), start, n, vb, ab, self._energy)
        c[X.STEMS_READ] = start + n  # publish: the worker may overwrite these stems now
        self._ramp.mix(vb, ab, out)
        dry = self._dry.process(block)
        if ready < n or self._wet[0] < 1.0:
            fallback(out, dry, ready, n, self._wet, self._fade_step)
            self.fallback_blocks += 1
            st = self.stats
            if st is not None:
                st.fallback_blocks += 1
            if ready < n:
                self._misses += 1
                if st is not None:
                    st.deadline_misses += 1
        ev, ea = self._energy[0], self._energy[1]
        self.vad_latest = min(1.0, VOCAL_SHARE_SCALE * ev / (ev + ea)) if ev + ea > 1e-12 else 0.0
        self._out_pos += n
        # Wake the worker last (a worker thread's Python would contend for the interpreter lock
        # with the rest of this block), and only every ``_wake_every`` samples: fewer, longer pushes.
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
        c = self._ex.counters
        while int(c[X.IN_DONE]) < self._in_pos:
            err = self.error
            if err is not None:
                raise err
            if self._worker is None or not self._worker.alive():
                raise RuntimeError("the streaming U-Net's worker is not running")
            time.sleep(0.0002)


def _close_at_exit(ref: weakref.ref) -> None:
    sep = ref()
    if sep is not None:
        sep.close()
