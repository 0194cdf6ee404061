"""A thick curve drawn as one-pixel strokes, so that no paint call holds the interpreter lock long.

PySide6 keeps the interpreter lock through a QPainter call, and the audio callback needs that lock
every block (2.7 ms at 128 frames, 48 kHz). Qt strokes a wide pen by outlining the path and
filling the outline: measured on 1000 points, 0.09 ms with a one-pixel pen, 2.8 ms at 3 px and
3.9 ms at 9 px (offscreen raster, AMD EPYC VM). :class:`ThickCurve` draws ``width_px`` one-pixel
strokes of the same path, offset vertically in device pixels: the same band on a lane of
mostly level lines, in short calls the callback can slip between (0.8 ms in all for 9 px).
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtGui


class ThickCurve(pg.PlotCurveItem):
    """A ``pg.PlotCurveItem`` (no fill) whose line is ``width_px`` device pixels high.

    Args:
        color: the pen's color, ``(r, g, b)`` or ``(r, g, b, a)``.
        width_px: the line's height in device pixels (>= 1).
        **kw: ``pg.PlotCurveItem`` options (``connect``, ``skipFiniteCheck``...).
    """

    def __init__(self, color, width_px: int, **kw):
        # set first: data in ``kw`` makes the base class ask for pixelPadding()
        self.width_px = max(1, int(width_px))
        # offsets of the strokes, centred on the path: 9 px -> -4..4
        self._offsets_px = [float(d - (self.width_px - 1) // 2) for d in range(self.width_px)]
        super().__init__(pen=pg.mkPen(color, width=1), **kw)

    def pixelPadding(self):
        """The band's half height around the path (pyqtgraph pads the bounding rect by this)."""
        return max(super().pixelPadding(), self.width_px / 2.0 + 1.0)

    def paint(self, p, opt, widget):
        if self.xData is None or len(self.xData) == 0:
            return
        path = self.getPath()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setPen(self.opts["pen"])
        base = p.transform()
        for dy in self._offsets_px:
            p.setTransform(base * QtGui.QTransform.fromTranslate(0.0, dy))  # device pixels
            p.drawPath(path)
        p.setTransform(base)
