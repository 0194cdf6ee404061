"""Single-producer / single-consumer ring buffers that never block and never allocate.

The audio callback is always the producer of a tap and the GUI (or a worker) the
consumer, or the other way round for the worker hand-off. There is no lock: the
producer copies the data into preallocated storage *first* and publishes it *after*
by storing a free-running integer write counter; the consumer reads only up to the
counter it has seen and publishes its progress by storing its own read counter. In
CPython a single attribute store is atomic with respect to other threads, and
the data copy happens before the store in program order, so a consumer never sees a
slot that is half written. (In a language without a GIL the two stores would need
release/acquire ordering; here the GIL provides it.) Counters never wrap (Python ints).

A full ring makes :meth:`write` drop what does not fit (counted in ``overruns``) instead
of waiting: the audio thread must never wait for a slow reader.
"""

from __future__ import annotations

import numpy as np

from ..dsp.memory import resident_zeros


class FrameRing:
    """Float32 ``(frames, channels)`` stream ring.

    Producer: :meth:`write`. Consumer: :meth:`read_into` (consuming) or, for meters and
    scopes, :meth:`latest` (the most recent frames, without consuming).
    """

    def __init__(self, capacity: int, channels: int):
        size = 1 << max(1, int(capacity - 1).bit_length())
        self.capacity = size
        self.channels = int(channels)
        self._buf = resident_zeros((size, self.channels))  # the audio thread writes it: no page faults
        self._mask = size - 1
        self.write_count = 0  # frames ever written (published by the producer)
        self.read_count = 0   # frames ever consumed (published by the consumer)
        self.overruns = 0     # frames dropped because the consumer was behind

    # --- producer -----------------------------------------------------------
    def write(self, block: np.ndarray, lossy: bool = False) -> int:
        """Append ``block``; returns the frames written. ``lossy=True`` (taps) overwrites
        the oldest unread frames instead of dropping the new ones."""
        n = block.shape[0]
        w = self.write_count
        free = self.capacity - (w - self.read_count)
        if not lossy and n > free:
            self.overruns += n - free
            n = free
        elif n > self.capacity:
            block = block[n - self.capacity:]
            w += n - self.capacity
            n = self.capacity
        if n <= 0:
            return 0
        i = w & self._mask
        first = min(n, self.capacity - i)
        self._buf[i:i + first] = block[:first]
        if first < n:
            self._buf[:n - first] = block[first:n]
        self.write_count = w + n  # publish
        return n

    # --- consumer -----------------------------------------------------------
    @property
    def available(self) -> int:
        return min(self.write_count - self.read_count, self.capacity)

    def read_into(self, out: np.ndarray) -> int:
        """Consume up to ``len(out)`` frames into ``out``; returns how many."""
        w = self.write_count
        r = self.read_count
        if w - r > self.capacity:  # a lossy producer lapped us: skip to the oldest kept
            r = w - self.capacity
        n = min(out.shape[0], w - r)
        if n <= 0:
            return 0
        i = r & self._mask
        first = min(n, self.capacity - i)
        out[:first] = self._buf[i:i + first]
        if first < n:
            out[first:n] = self._buf[:n - first]
        self.read_count = r + n  # publish
        return n

    def read_new(self, max_frames: int | None = None) -> np.ndarray:
        """Consume everything new (GUI side: allocates the returned array)."""
        n = self.available if max_frames is None else min(self.available, max_frames)
        out = np.empty((n, self.channels), dtype=np.float32)
        k = self.read_into(out)
        return out[:k]

    def latest(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """The last ``n`` frames written (zeros before the stream began), not consuming.

        A frame the producer overwrites during the copy can tear; for a scope or meter
        that is harmless, and the copy is checked against the counter so it is rare.
        """
        n = min(int(n), self.capacity)
        if out is None:
            out = np.empty((n, self.channels), dtype=np.float32)
        w = self.write_count
        start = w - n
        idx = (np.arange(start, w) & self._mask)
        out[:] = self._buf[idx]
        if start < 0:
            out[:min(-start, n)] = 0.0
        return out


class ValueRing:
    """Ring of fixed-width float64 records (e.g. one vocal-activity value, or a row of
    levels) with the stream time (frame index) of each. Producer :meth:`push`; consumer
    :meth:`read_new` / :meth:`latest`. Lossy: the oldest records are overwritten."""

    def __init__(self, capacity: int, width: int = 1):
        size = 1 << max(1, int(capacity - 1).bit_length())
        self.capacity = size
        self.width = int(width)
        self._buf = resident_zeros((size, self.width), np.float64)  # audio thread: no page faults
        self._time = resident_zeros(size, np.int64)
        self._mask = size - 1
        self.write_count = 0
        self.read_count = 0

    def push(self, frame_time: int, *values: float) -> None:
        i = self.write_count & self._mask
        row = self._buf[i]
        for k in range(self.width):
            row[k] = values[k]
        self._time[i] = frame_time
        self.write_count += 1  # publish

    def push_row(self, frame_time: int, row: np.ndarray) -> None:
        i = self.write_count & self._mask
        self._buf[i] = row
        self._time[i] = frame_time
        self.write_count += 1

    def latest(self) -> tuple[int, np.ndarray] | None:
        """``(frame_time, values)`` of the newest record, or ``None`` if none yet."""
        w = self.write_count
        if w == 0:
            return None
        i = (w - 1) & self._mask
        return int(self._time[i]), self._buf[i].copy()

    def read_new(self) -> tuple[np.ndarray, np.ndarray]:
        """``(frame_times (n,), values (n, width))`` of all records since the last call."""
        w = self.write_count
        r = max(self.read_count, w - self.capacity)
        idx = np.arange(r, w) & self._mask
        self.read_count = w
        return self._time[idx].copy(), self._buf[idx].copy()


class SlotRing:
    """SPSC queue of fixed-size blocks with a sequence number each, for handing blocks
    between the audio callback and a worker thread. ``push`` copies into a free slot;
    ``peek`` returns a *view* of the oldest slot, ``pop`` releases it. Never blocks."""

    def __init__(self, slots: int, max_frames: int, channels: int):
        size = 1 << max(1, int(slots - 1).bit_length())
        self.slots = size
        self._buf = resident_zeros((size, max_frames, channels))  # audio thread: no page faults
        self._frames = resident_zeros(size, np.int64)
        self._seq = resident_zeros(size, np.int64)
        self._mask = size - 1
        self.write_count = 0
        self.read_count = 0

    def __len__(self) -> int:
        return self.write_count - self.read_count

    def push(self, block: np.ndarray, seq: int) -> bool:
        w = self.write_count
        if w - self.read_count >= self.slots:
            return False
        i = w & self._mask
        n = block.shape[0]
        self._buf[i, :n] = block
        self._frames[i] = n
        self._seq[i] = seq
        self.write_count = w + 1  # publish
        return True

    def peek_seq(self) -> int:
        """Sequence number of the oldest block, or -1 if empty."""
        r = self.read_count
        if r == self.write_count:
            return -1
        return int(self._seq[r & self._mask])

    def peek(self) -> np.ndarray:
        """View of the oldest block (call only when ``peek_seq() >= 0``)."""
        i = self.read_count & self._mask
        return self._buf[i, :self._frames[i]]

    def pop(self) -> None:
        if self.read_count != self.write_count:
            self.read_count += 1  # publish
