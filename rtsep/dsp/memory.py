"""Buffers for the audio thread: mapped when made, not when first touched."""

from __future__ import annotations

import numpy as np


def resident_zeros(shape, dtype=np.float32) -> np.ndarray:
    """Zeros whose pages are mapped now. ``np.zeros`` of a fresh mapping (every block of 1 MB
    or more while streaming: :func:`rtsep.host.realtime.fix_mmap_threshold`) maps each page at
    its first touch, and numpy asks for huge pages from 4 MB up, so the audio thread writing a
    new ring would fault into the kernel as it goes, there zeroing up to 2 MB at a time. Writing
    the zeros here takes those faults now, on the thread that builds the processor."""
    a = np.empty(shape, dtype)
    a.fill(0)
    return a
