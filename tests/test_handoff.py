"""The worker hand-off with its thread running: the worker's ``process(block, out=buf)`` path
and the callback side together allocate nothing (no JACK needed)."""

import time

import numpy as np

from rtsep import Separator
from rtsep.host.handoff import WorkerHandoff
from rtsep.host.stats import StreamStats
from rtsep.plugins.drywet import DryWet
from allocation import peak_allocated_bytes

B = 512
SR = 48000


def test_worker_thread_streams_without_allocating(placeholder_model):
    sep = Separator(placeholder_model, sample_rate=SR, channels=2, max_block=1024, live=True)
    stats = StreamStats(SR, B)
    h = WorkerHandoff(DryWet(sep, 2, SR, max_block=1024), B, 2, stats, realtime=False)
    x = (0.1 * np.random.default_rng(0).standard_normal((B, 2))).astype(np.float32)
    h.warm_up()
    h.start()
    try:
        def run(blocks):
            for _ in range(blocks):
                h.process(x, B)
                time.sleep(0.004)  # the worker's turn (a block is 10.7 ms of audio)

        run(50)
        done = stats.worker_blocks
        peak = peak_allocated_bytes(lambda: run(300), 1)
    finally:
        h.stop()
    assert h.error is None, h.error
    assert stats.worker_blocks - done >= 250  # the worker did run the separator meanwhile
    # two threads' Python objects (views, floats) overlap: below one block, as in test_live
    assert peak < 3 * 1024, f"{peak} bytes allocated by the callback and the worker (one {B}x2 block is 4 KiB)"
