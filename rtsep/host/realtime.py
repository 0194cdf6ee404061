"""Real-time scheduling of the host's threads, and the interpreter settings while streaming.

Shared by the stream (:mod:`rtsep.host.stream`), the worker hand-off, the JACK recorder and
the latency meter, so none of them imports another for it.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import sys
import threading
import time

RT_PRIORITY_CALLBACK = 60
RT_PRIORITY_WORKER = 50
# Another Python thread (GUI, worker, producer) holding the GIL delays the callback by at
# most about this much (CPython's default, 5 ms, is a whole 128-frame block).
SWITCH_INTERVAL_S = 0.00025
# glibc's M_MMAP_THRESHOLD while streaming: blocks at least this big get mappings of their own.
MMAP_THRESHOLD_BYTES = 1 << 20
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
# While streaming, the cyclic GC runs only on a thread of its own, this often (see StreamingInterpreter).
GC_INTERVAL_S = 20.0


# make_realtime's status for a thread the audio server had made real-time itself, and a stream's
# before its first callback: audio_server_realtime reads them back.
ALREADY_REALTIME = "already real-time"
NOT_STARTED = "not started"
# what a thread that would be real-time beside a real-time server reports beside one that is not
BESIDE_ORDINARY_SERVER = "normal (audio server not real-time)"


def make_realtime(priority: int, tid: int = 0) -> str:
    """Give the calling thread (or this process's thread ``tid``) SCHED_FIFO ``priority`` unless
    it already is real-time (a real-time JACK server or ALSA gives its audio thread that itself).
    Returns what happened, for the summary; never raises."""
    try:
        policy = os.sched_getscheduler(tid)
        if policy in (os.SCHED_FIFO, os.SCHED_RR):
            return f"{ALREADY_REALTIME} (priority {os.sched_getparam(tid).sched_priority})"
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
        return f"SCHED_FIFO {priority}"
    except (AttributeError, OSError) as exc:  # not permitted, or the thread is gone
        return f"normal priority ({type(exc).__name__})"


def make_ordinary() -> bool:
    """Give the calling thread normal scheduling (SCHED_OTHER, nice unchanged): a thread or
    process started from a real-time thread inherits its policy. Whether it now is; never raises."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return True
    except (AttributeError, OSError):
        return False


def audio_server_realtime(callback_status: str) -> bool | None:
    """Whether the audio server (a real-time JACK, PipeWire, ALSA) had made the audio thread
    real-time itself, from the :func:`make_realtime` status of a stream's callback thread
    (``rt_status["callback"]``); ``None`` before its first callback."""
    if callback_status.startswith(ALREADY_REALTIME):
        return True
    return None if callback_status == NOT_STARTED else False


def name_thread(name: str) -> bool:
    """Name the calling thread (Linux: its ``comm``, 15 bytes, seen in ``top -H``); threads it
    starts afterwards inherit the name. Returns whether it was set; never raises."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as fh:
            fh.write(name[:15])
        return True
    except OSError:
        return False


def thread_ids(name: str) -> set[int]:
    """The native ids of this process's threads called ``name`` (Linux: ``/proc/self/task``);
    empty elsewhere. The difference across a call tells which threads it started (ONNX Runtime's
    pool); the name keeps other threads started meanwhile out."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return set()
    named = set()
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm") as fh:
                if fh.read().strip() == name[:15]:
                    named.add(tid)
        except OSError:  # ended meanwhile
            pass
    return named


def lower_priority(niceness: int) -> str:
    """Make the calling thread a background one: ``SCHED_OTHER`` at ``niceness`` (Linux
    applies ``setpriority`` to a single thread). Returns what happened; never raises."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
        return f"nice {os.getpriority(os.PRIO_PROCESS, tid)}"
    except (AttributeError, OSError) as exc:
        return f"normal priority ({type(exc).__name__})"


def idle_priority(fallback_niceness: int) -> str:
    """Make the calling thread ``SCHED_IDLE`` (it runs only when nothing else wants the CPU,
    and any ordinary thread that wakes takes the CPU from it at once); where that is not
    allowed, :func:`lower_priority` at ``fallback_niceness``, after :func:`make_ordinary` (a
    thread that inherited a real-time policy would keep it at any niceness). Threads it starts
    afterwards (ONNX Runtime's) inherit it. Returns what happened; never raises."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (AttributeError, OSError):
        make_ordinary()
        return lower_priority(fallback_niceness)


def _glibc():
    """This process's C library where it is glibc (its allocator's knobs), else ``None``."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def release_free_memory() -> bool:
    """glibc: return the free pages inside the heaps to the OS (``malloc_trim(0)``), after a
    song's arrays are let go. Not on the audio thread (it walks the heaps under their locks).
    Returns whether it ran; a no-op elsewhere."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """glibc: serve every allocation of at least ``nbytes`` from a mapping of its own, returned
    to the OS when it is freed. Returns whether it was set; a no-op elsewhere.

    Why: by default glibc raises its threshold to the size of each mapped block freed (up to
    32 MB), so after the first song a song's arrays (15-46 MB: decoded audio, stems) come from
    the heap, which songs of other lengths fragment: resident memory grew 37 MB over 16 wraps
    of a 3-song queue before it levelled (benchmarks/soak.py). A fixed threshold also stops the
    adjustment. The audio callback allocates nothing, so the extra mappings cost it nothing.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, int(nbytes)))


PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42  # Linux prctl options


def huge_pages_disabled(disable: bool | None = None) -> bool | None:
    """Linux: whether transparent huge pages are off for this whole process (``prctl``
    ``PR_SET_THP_DISABLE``); with ``disable``, set it first. ``None`` where that is not
    available. Returns the state before the call.

    Why: numpy asks for huge pages for arrays of 4 MB and more (``MADV_HUGEPAGE``), and the
    kernel's ``khugepaged`` then collapses those regions into huge pages, holding the process's
    memory-map lock for writing meanwhile. An audio thread that takes any page fault then waits
    for it: traced on a 2-core VM, a real-time callback blocked 7.3 ms in the kernel (state D)
    until khugepaged woke it (a 250 % callback and a dropout). Off, khugepaged leaves the
    process alone (the arrays keep their ordinary 4 kB pages)."""
    libc = _glibc()
    if libc is None:
        return None
    try:
        before = libc.prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)
        if before < 0:
            return None
        if disable is not None:
            libc.prctl(PR_SET_THP_DISABLE, int(bool(disable)), 0, 0, 0)
        return bool(before)
    except (AttributeError, OSError):
        return None


class StreamingInterpreter:
    """While streaming: the cyclic GC frozen and off, the thread switch interval short,
    glibc's mmap threshold fixed (:func:`fix_mmap_threshold`; left so after ``leave()``), and
    transparent huge pages off for the process (:func:`huge_pages_disabled`; restored by
    ``leave()``). ``enter()``/``leave()`` are idempotent pairs.

    Why the GC is off: an automatic collection runs in whichever thread allocates past the
    threshold, the audio callback included, and a full one walks every object. Why it still
    runs: an evening streams for hours, and reference cycles made meanwhile (per-song threads,
    queues, futures, exceptions) would otherwise never be freed. So a thread of its own
    (``rtsep-gc``) collects every ``collect_every_s`` (0: never). The objects alive at
    ``enter()`` are frozen (the permanent generation, never visited), so each collection walks
    only what streaming made and still holds: ``collect_max_ms`` says what that cost (the
    callback waits for the interpreter lock that long at most).
    """

    def __init__(self, collect_every_s: float | None = None):
        self.active = False
        self.collect_every_s = GC_INTERVAL_S if collect_every_s is None else float(collect_every_s)
        self.collections = 0
        self.collected_objects = 0   # unreachable objects found, over all collections
        self.collect_max_ms = 0.0
        self.survivors = 0           # objects the last collection kept (not frozen ones)
        self._gc_was_enabled = True
        self._switch = sys.getswitchinterval()
        self._thp_was_disabled: bool | None = None
        self._stop = threading.Event()
        self._collector: threading.Thread | None = None

    def enter(self) -> None:
        if self.active:
            return
        self._gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        self.survivors = 0
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        fix_mmap_threshold()
        self._thp_was_disabled = huge_pages_disabled(True)
        self.active = True
        if self.collect_every_s > 0:
            self._stop.clear()
            self._collector = threading.Thread(target=self._collect_loop, name="rtsep-gc", daemon=True)
            self._collector.start()

    def collect(self) -> int:
        """One collection of the objects made since ``enter()``; returns how many were unreachable."""
        t0 = time.perf_counter()
        found = gc.collect()
        ms = (time.perf_counter() - t0) * 1e3
        self.survivors = len(gc.get_objects(generation=2))  # a full collection leaves all there
        self.collections += 1
        self.collected_objects += found
        self.collect_max_ms = max(self.collect_max_ms, ms)
        return found

    def _collect_loop(self) -> None:
        while not self._stop.wait(self.collect_every_s):
            self.collect()

    @property
    def tracked(self) -> int:
        """Objects made since ``enter()`` that the GC tracks, alive or cyclic garbage (O(1): the
        last collection's survivors plus the net count made since)."""
        return self.survivors + gc.get_count()[0]

    def summary(self) -> dict:
        """The collections while streaming, for the ``--json``."""
        return {"collections": self.collections, "collected_objects": self.collected_objects,
                "max_ms": round(self.collect_max_ms, 2), "tracked": self.tracked}

    def leave(self) -> None:
        if not self.active:
            return
        self._stop.set()
        t, self._collector = self._collector, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)
        sys.setswitchinterval(self._switch)
        if self._thp_was_disabled is not None:
            huge_pages_disabled(self._thp_was_disabled)
        gc.unfreeze()
        if self._gc_was_enabled:
            gc.enable()
        self.active = False
