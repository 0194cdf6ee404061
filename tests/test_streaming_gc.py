"""The cyclic GC while streaming (rtsep.host.realtime.StreamingInterpreter): off for every thread
but one of its own, which still frees the cycles an evening makes over hours."""

import pytest

pytestmark = pytest.mark.timeout(60)


class _Cycle:
    def __init__(self):
        self.me = self


def test_streaming_collects_cycles_on_a_thread_of_its_own():
    # The GC is off while streaming (no collection inside the audio callback), yet an evening
    # streams for hours: cycles made meanwhile are freed by the rtsep-gc thread, and the objects
    # alive at enter() stay frozen (not walked by it).
    import gc
    import threading
    import time
    import weakref

    from rtsep.host.realtime import StreamingInterpreter

    interp = StreamingInterpreter(collect_every_s=0.05)
    interp.enter()
    try:
        assert not gc.isenabled()
        assert any(t.name == "rtsep-gc" for t in threading.enumerate())
        c = _Cycle()
        gone = weakref.ref(c)
        del c
        deadline = time.monotonic() + 5.0
        while gone() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gone() is None, "a reference cycle made while streaming was never freed"
        s = interp.summary()
        assert s["collections"] >= 1 and s["collected_objects"] >= 1 and s["max_ms"] >= 0
        assert gc.get_freeze_count() > 0  # what was alive at enter() is not walked
    finally:
        interp.leave()
    assert not any(t.name == "rtsep-gc" for t in threading.enumerate())


def test_no_collector_when_told_none():
    import threading

    from rtsep.host.realtime import StreamingInterpreter

    interp = StreamingInterpreter(collect_every_s=0)
    interp.enter()
    try:
        assert not any(t.name == "rtsep-gc" for t in threading.enumerate())
    finally:
        interp.leave()
