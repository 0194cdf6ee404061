"""The GUI thread's scheduling while it streams (see :func:`gui_thread_priority`)."""

from __future__ import annotations

import os

GUI_RT_PRIORITY = 5  # below the host's worker (50) and callback (60)


def audio_server_realtime(callback_status: str) -> bool | None:
    """Whether the audio server (a real-time JACK, PipeWire, ALSA) runs its audio thread at
    real-time priority itself, from the stream's ``rt_status["callback"]``; ``None`` until the
    first callback has run.

    Why it matters: a real-time GUI thread outranks every ordinary thread. Beside a server that
    is not real-time (``jackd --no-realtime``, a desktop's server without rtkit) the other
    clients' audio threads are ordinary ones (a player feeding rtsep, the singer's input), and a
    cycle the server cannot finish because one of them waits for the GUI's painting is an xrun
    for every client. In the soak (benchmarks/soak.py, 4 min, 128 frames at 48 kHz, a dummy
    JACK started with ``--no-realtime``, a singer client beside rtsep) the GUI at SCHED_FIFO 5
    gave 3998 dropouts (6681 bypassed) against 1607 (1499) at normal priority.
    """
    if callback_status.startswith("already real-time"):
        return True
    if callback_status == "not started":
        return None
    return False


def gui_thread_priority(priority: int):
    """Make the calling (GUI) thread SCHED_FIFO ``priority``; returns the previous
    ``(policy, param)`` to restore, or ``None`` if not permitted.

    Why: the GUI and the audio callback share one interpreter lock. On a loaded machine the
    scheduler may preempt the GUI thread *while it holds the lock*, and the (real-time)
    callback then waits for the GUI thread's next time slice: a dropout. As a low real-time
    priority thread, below the callback and the worker, the GUI thread is never preempted
    by ordinary processes, so it hands the lock over within the interpreter's switch
    interval. It still yields the CPU to the audio threads at once.
    """
    if priority <= 0:
        return None
    try:
        old = (os.sched_getscheduler(0), os.sched_getparam(0))
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return old
    except (AttributeError, OSError):
        return None


def restore_thread_priority(saved) -> None:
    if saved is None:
        return
    try:
        os.sched_setscheduler(0, saved[0], saved[1])
    except (AttributeError, OSError):
        pass
