"""Writes stem blocks to their files on a thread of its own, so that a file's separation does
not wait for the disk (libsndfile releases the GIL while it converts and writes).

Blocks are copied on the way in (the separators hand out views of reused buffers) and at most
``depth`` wait, which bounds the memory. An error on the writing thread is raised again by the
next :meth:`BackgroundWriter.write` or by :meth:`BackgroundWriter.close`.
"""

from __future__ import annotations

import queue
import threading

import numpy as np


class BackgroundWriter:
    """``write(i, block)`` appends ``block`` (``frames x channels``) to ``files[i]`` later;
    ``close()`` waits for every block to be written. Use as a context manager."""

    def __init__(self, files, depth: int = 4):
        self.files = list(files)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtsep-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after an error, only drain
                try:
                    self.files[item[0]].write(item[1])
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def write(self, index: int, block: np.ndarray) -> None:
        self._raise()
        self._queue.put((index, np.array(block, np.float32, copy=True)))

    def close(self) -> None:
        """Wait until everything is written; raises the writing thread's error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # the caller failed: stop the thread, keep the caller's error
            self._queue.put(None)
            self._thread.join()
