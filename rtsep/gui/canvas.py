"""The drawing surface of the live window: a pyqtgraph scene in a plain ``QGraphicsView``
(:class:`PlotCanvas`), a repaint counter, and the window's dark look (palette, side panels)."""

from __future__ import annotations

import collections
import time

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets


def dark_palette(app) -> None:
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    c = QtGui.QColor
    role = QtGui.QPalette.ColorRole
    for r, col in ((role.Window, c(30, 31, 36)), (role.WindowText, c(220, 220, 225)),
                   (role.Base, c(22, 23, 27)), (role.AlternateBase, c(36, 37, 43)),
                   (role.Text, c(220, 220, 225)), (role.Button, c(44, 45, 52)),
                   (role.ButtonText, c(225, 225, 230)), (role.Highlight, c(230, 120, 30)),
                   (role.HighlightedText, c(0, 0, 0)), (role.ToolTipBase, c(44, 45, 52)),
                   (role.ToolTipText, c(225, 225, 230)), (role.PlaceholderText, c(130, 130, 140))):
        pal.setColor(r, col)
    app.setPalette(pal)


def side_panel(frame, name: str, width: int) -> None:
    """Style ``frame`` as one of the window's side panels (dark box, small text)."""
    frame.setObjectName(name)
    frame.setFixedWidth(width)
    frame.setStyleSheet(f"#{name} {{ background: #16171b; border: 1px solid #303038; border-radius: 4px; }} "
                        "QLabel { font-size: 11px; }")


class PaintCounter(QtCore.QObject):
    """Counts paint events of a widget (the real repaints, as opposed to timer ticks)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.times: collections.deque = collections.deque(maxlen=600)
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
        if event.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
            self.times.append(time.perf_counter())
        return False


class PlotCanvas(QtWidgets.QGraphicsView):
    """A pyqtgraph scene with a :class:`pyqtgraph.GraphicsLayout`, in a *plain* QGraphicsView.

    ``pg.GraphicsLayoutWidget`` overrides ``paintEvent`` in Python, so Qt's whole scene
    rendering runs inside a Python call, holding the interpreter lock for milliseconds; the
    audio callback cannot run meanwhile. Without that override Qt paints in C++ with the
    lock released, taking it only for the Python ``paint`` of the items. What the override
    did (``scene.prepareForPaint()``, which lets view boxes update their transforms) is
    called by the window's timer tick and on resize instead.
    """

    # What pyqtgraph items expect of their view (see pyqtgraph.GraphicsView).
    sigDeviceRangeChanged = QtCore.Signal(object, object)
    sigDeviceTransformChanged = QtCore.Signal(object)
    sigMouseReleased = QtCore.Signal(object)
    sigSceneMouseMoved = QtCore.Signal(object)
    sigScaleChanged = QtCore.Signal(object)

    def __init__(self, background=(18, 18, 22)):
        super().__init__()
        self.setScene(pg.GraphicsScene(parent=self))
        self.ci = pg.GraphicsLayout()
        self.scene().addItem(self.ci)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QtWidgets.QGraphicsView.ViewportAnchor.NoAnchor)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
        self.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QtWidgets.QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setBackgroundBrush(pg.mkBrush(background))
        self.setMouseTracking(True)

    def addPlot(self, **kw):  # noqa: N802 (pyqtgraph name)
        return self.ci.addPlot(**kw)

    def addItem(self, item, **kw):  # noqa: N802
        return self.ci.addItem(item, **kw)

    def clear(self) -> None:
        self.ci.clear()

    def teardown(self) -> None:
        """Delete the scene's items now, while their Python wrappers are intact (as
        ``pg.GraphicsView.close`` does); leaving it to garbage collection can crash."""
        if self.ci is None:
            return
        self.ci.clear()
        self.scene().clear()
        self.ci = None

    def resizeEvent(self, ev):  # noqa: N802 (Qt name)
        super().resizeEvent(ev)
        if self.ci is None:
            return
        r = QtCore.QRectF(self.viewport().rect())
        self.setSceneRect(r)
        self.ci.setGeometry(r)
        self.sigDeviceRangeChanged.emit(self, r)
        self.sigDeviceTransformChanged.emit(self)
        self.scene().prepareForPaint()
