"""The live U-Net's worker: waits for the callback's wake-ups, pushes the new input through the
stream, writes the stems into the shared :class:`~rtsep.unet.exchange.Exchange`.

The same loop runs as a thread of the host's process (files, offline chains, tests with a given
stream) or as a process of its own (a live stream: :mod:`rtsep.unet.worker_process`). It answers
the control words of the exchange (pause, reset, stop, the audio server's word on priority)
each time it wakes.

Priority: normal, always, the network's threads too, beside any audio server. Traced on a 2-core
VM beside a real-time JACK server (``benchmarks/live.py``), a worker and network threads at
SCHED_FIFO 40 took both cores for whole network steps: the host's ordinary threads (its main
thread, the GUI) were preempted while they held the interpreter lock, and the real-time callback,
which needs that lock every block, waited for them (priority inversion: 11 and 16 dropouts
against the bypassed host's 1 and 1). At normal priority the kernel shares the cores between the
network and those threads, and a step still fits its allowance (push p99 ~33 ms of ~70 ms).
"""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np

from ..host.realtime import make_ordinary, name_thread, thread_ids
from . import exchange as X
from .stem_ring import write_ring

WORKER_CHUNK = 8192       # input frames per push (any size gives the same stems)
WORKER_NAME = "rtsep-unet"  # the worker's thread name, inherited by the network's threads


class StemWorker:
    """Pushes what the callback wrote to ``ex`` through ``unet`` (a
    :class:`~rtsep.unet.streaming.StreamingUNet`)."""

    def __init__(self, ex: X.Exchange, unet):
        self.ex = ex
        self.unet = unet
        self._buf = np.zeros((WORKER_CHUNK, ex.channels), np.float32)
        self._gen = int(ex.counters[X.RESET_GEN])
        # Compile (or load) the copy kernels now: in a worker process their first calls were the
        # stream's first push, 313 ms late (86 deadline misses at 128-frame blocks).
        X.ring_read(ex.inputs, 0, 0, self._buf)
        write_ring(ex.vocals, 0, self._buf, 0)

    def serve(self, rfd: int) -> None:
        """Until told to stop, or the callback's end of the pipe is closed (its process ended):
        wait for a byte, then :meth:`step`."""
        c = self.ex.counters
        while True:
            try:
                if not os.read(rfd, 4096):
                    return
            except OSError:
                return
            if c[X.STOP]:
                return
            self.step()

    def step(self) -> None:
        """Answer the control words, then push everything written so far."""
        c = self.ex.counters
        if not c[X.PAUSE]:
            self.work()
        if c[X.PAUSE]:
            c[X.IDLE] = 1

    def work(self) -> None:
        ex, c = self.ex, self.ex.counters
        while not (c[X.STOP] or c[X.PAUSE]):
            gen = int(c[X.RESET_GEN])
            if gen != self._gen:  # a reset: a new stream from here
                self.unet.reset()
                self._gen = gen
            k = ex.read_input(self._buf)
            if k == 0:
                return
            t0 = time.perf_counter()
            v, a = self.unet.push(self._buf[:k])
            m = len(v)
            if m:
                # room: the callback frees stems as it plays them (never more than the allowance
                # and two blocks behind when it keeps time)
                while not ex.stem_room(m):
                    if c[X.STOP] or c[X.PAUSE]:
                        return
                    time.sleep(0.0005)
                w = int(c[X.STEMS_WRITTEN])
                write_ring(ex.vocals, w, v, m)
                write_ring(ex.accompaniment, w, a, m)
                c[X.STEMS_WRITTEN] = w + m  # publish, after the copies
            dt = time.perf_counter() - t0
            n = int(c[X.PUSHES])
            ex.times[n % X.TIMES] = dt
            c[X.BUSY_NS] += int(dt * 1e9)
            c[X.PUSHED_FRAMES] += k
            c[X.PUSHES] = n + 1
            c[X.IN_DONE] += k


def warm_network(unet, channels: int) -> None:
    """Two network steps of silence, then a fresh stream: ONNX Runtime's first runs of a shape
    plan and allocate (a live run's first step was ~70 ms late, every run: 21 deadline misses at
    128-frame blocks in a fresh-clone CI run), so they happen before the stream starts."""
    step = int(unet.step_samples)
    z = np.zeros((step, channels), np.float32)
    for _ in range(int(math.ceil(unet.latency_samples / step)) + 2):
        unet.push(z)
    unet.reset()


def make_worker(ex: X.Exchange, build, warm: bool) -> StemWorker:
    """On the worker's own thread: its stream (``build()``; the network's threads it starts are
    found by the inherited thread name), warmed when ``warm``; the thread ids in ``ex``. At
    normal priority, the network's threads too (they inherit it), whoever started the worker."""
    make_ordinary()
    name_thread(WORKER_NAME)
    before = thread_ids(WORKER_NAME)
    unet = build()
    pool = thread_ids(WORKER_NAME) - before
    if warm:
        warm_network(unet, ex.channels)
    ex.set_worker_tids({threading.get_native_id()} | pool)
    return StemWorker(ex, unet)


class WorkerThread:
    """The worker as a thread of this process. ``error`` holds what ended it."""

    kind = "thread"

    def __init__(self, ex: X.Exchange, build, warm: bool, rfd: int):
        self.error: BaseException | None = None
        self.unet = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ex, build, warm, rfd, ready),
                                        name=WORKER_NAME, daemon=True)
        self._thread.start()
        ready.wait()
        if self.error is not None:
            self._thread.join(timeout=5.0)
            raise self.error

    def _run(self, ex, build, warm, rfd, ready) -> None:
        try:
            worker = make_worker(ex, build, warm)
            self.unet = worker.unet
        except BaseException as exc:
            self.error = exc
            return
        finally:
            ready.set()
        try:
            worker.serve(rfd)
        except BaseException as exc:  # park it: the callback plays dry, blocking mode raises it
            self.error = exc
            ex.counters[X.IDLE] = 1

    def alive(self) -> bool:
        return self._thread.is_alive()

    def failure(self) -> BaseException | None:
        return self.error

    def join(self, timeout: float) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
