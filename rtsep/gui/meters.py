"""Level meters: a plain QWidget painting an RMS bar, a peak line and a held peak, in dB."""

from __future__ import annotations

import math
import time

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets


def to_db(x: float, floor: float = -120.0) -> float:
    return 20.0 * math.log10(x) if x > 10 ** (floor / 20) else floor


class LevelMeter(QtWidgets.QWidget):
    """Vertical meter from ``min_db`` to ``max_db``.

    ``set_levels(rms, peak)`` takes linear values (the maximum over the blocks since the
    last call); the peak is held for ``hold_s`` and then falls at ``fall_db_s``.
    """

    def __init__(self, label: str, min_db: float = -60.0, max_db: float = 0.0, hold_s: float = 1.5,
                 fall_db_s: float = 24.0, parent=None):
        super().__init__(parent)
        self.label = label
        self.min_db, self.max_db = float(min_db), float(max_db)
        self.hold_s, self.fall_db_s = hold_s, fall_db_s
        self.rms_db = self.peak_db = self.hold_db = self.min_db
        self._hold_t = 0.0
        self._t = time.monotonic()
        self.clipped = False
        self.setMinimumSize(34, 120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Expanding)
        self.setToolTip(f"{label} level: bar = RMS, line = peak, tick = held peak (dBFS)")

    def sizeHint(self):
        return QtCore.QSize(40, 200)

    def set_levels(self, rms: float, peak: float) -> None:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        r, p = to_db(rms), to_db(peak)
        # Ballistics: fast attack, ~20 dB/s release so the bar is readable at 60 fps.
        self.rms_db = r if r > self.rms_db else max(r, self.rms_db - 20.0 * dt)
        self.peak_db = p if p > self.peak_db else max(p, self.peak_db - self.fall_db_s * dt)
        if p >= self.hold_db:
            self.hold_db, self._hold_t = p, now
        elif now - self._hold_t > self.hold_s:
            self.hold_db = max(p, self.hold_db - self.fall_db_s * dt)
        if peak >= 1.0:
            self.clipped = True
        self.update()

    def _y(self, db: float, top: int, height: int) -> int:
        f = (min(max(db, self.min_db), self.max_db) - self.min_db) / (self.max_db - self.min_db)
        return int(round(top + height * (1.0 - f)))

    def paintEvent(self, event):  # noqa: N802 (Qt name)
        p = QtGui.QPainter(self)
        w, h = self.width(), self.height()
        label_h = 16
        top, bottom = 4, h - label_h - 2
        height = bottom - top
        x0, bw = 6, w - 12
        p.fillRect(0, 0, w, h, QtGui.QColor(20, 20, 24))
        p.fillRect(x0, top, bw, height, QtGui.QColor(38, 38, 44))
        grad = QtGui.QLinearGradient(0, bottom, 0, top)
        grad.setColorAt(0.0, QtGui.QColor(40, 180, 90))
        grad.setColorAt(0.7, QtGui.QColor(40, 200, 90))
        grad.setColorAt(0.85, QtGui.QColor(230, 200, 40))
        grad.setColorAt(1.0, QtGui.QColor(230, 50, 40))
        y = self._y(self.rms_db, top, height)
        p.fillRect(QtCore.QRect(x0, y, bw, bottom - y), QtGui.QBrush(grad))
        p.setPen(QtGui.QPen(QtGui.QColor(240, 240, 240), 2))
        yp = self._y(self.peak_db, top, height)
        p.drawLine(x0, yp, x0 + bw, yp)
        p.setPen(QtGui.QPen(QtGui.QColor(255, 170, 40), 2))
        yh = self._y(self.hold_db, top, height)
        p.drawLine(x0, yh, x0 + bw, yh)
        # dB ticks
        p.setPen(QtGui.QColor(120, 120, 130))
        f = p.font()
        f.setPointSizeF(7)
        p.setFont(f)
        for db in (-6, -12, -24, -48):
            if self.min_db < db < self.max_db:
                yt = self._y(db, top, height)
                p.drawLine(x0, yt, x0 + 4, yt)
        if self.clipped:
            p.fillRect(x0, top, bw, 4, QtGui.QColor(255, 40, 40))
        f.setPointSizeF(8)
        p.setFont(f)
        p.setPen(QtGui.QColor(210, 210, 215))
        p.drawText(QtCore.QRect(0, bottom + 2, w, label_h), QtCore.Qt.AlignmentFlag.AlignCenter, self.label)
        p.end()

    def mousePressEvent(self, event):  # noqa: N802 - click resets the clip light
        self.clipped = False
        self.hold_db = self.min_db
        self.update()
