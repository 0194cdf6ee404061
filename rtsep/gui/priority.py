"""The GUI thread's scheduling while it streams (see :func:`gui_thread_priority`)."""

from __future__ import annotations

import os

GUI_RT_PRIORITY = 5  # below the host's worker (50) and callback (60)


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
