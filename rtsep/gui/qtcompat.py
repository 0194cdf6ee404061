"""Work-arounds for Qt for Python defects that would take the live GUI down.

PySide6 6.12.0 under Python 3.11 drops one reference to ``None`` on *every* call of a
method that returns nothing (``QPainter.save``, ``QWidget.update``, ``QLabel.setText``...):
it relies on ``None`` being immortal, which it only is from Python 3.12 (PEP 683). ``None``
starts with ~40 000 references, so a window repainting 60 times a second aborts the
process with "Fatal Python error: none_dealloc" after some seconds to a minute.
(PySide6 6.11 is not affected.) :func:`protect_none` gives ``None`` 2**40 extra
references once, which is what immortality amounts to; ``None`` is never freed anyway.
"""

from __future__ import annotations

import ctypes
import sys

_done = False
EXTRA_REFS = 1 << 40


def none_leaks_per_call() -> int:
    """References to ``None`` lost per void Qt call (0 on a sound build)."""
    from pyqtgraph.Qt import QtGui

    img = QtGui.QImage(2, 2, QtGui.QImage.Format.Format_RGB32)
    p = QtGui.QPainter(img)
    try:
        before = sys.getrefcount(None)
        for _ in range(100):
            p.resetTransform()
        return round((before - sys.getrefcount(None)) / 100)
    finally:
        p.end()


def protect_none() -> bool:
    """Make ``None`` effectively immortal on Python < 3.12 (idempotent). Returns whether
    anything was done."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += EXTRA_REFS
    _done = True
    return True
