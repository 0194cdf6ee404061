"""The live window: spectrograms of the input and of the separated vocals, vocal activity,
meters, latency/load readouts and the controls of a :class:`~rtsep.host.stream.LiveHost`.

Threading: everything here runs on the Qt (GUI) thread. The audio thread is never waited
for: a ``QTimer`` (``1000 / fps`` ms, precise) polls the host's lock-free taps
(:mod:`rtsep.host.taps`), consumes only what is new, and analyses only the new display
frames. Controls set plain attributes on the host (mode and gains are crossfaded by the
separator), which the audio callback reads without locks.

The "separated vocals" picture is derived from the two taps, not from a third tap: the
host's output is ``out = (g_v - g_a) * vocals + g_a * dry`` where ``dry`` is the input
``D = algorithmic + hand-off`` samples late, so ``vocals = (out - g_a * dry) / (g_v - g_a)``
(karaoke: ``dry - out``; vocals: ``out``). Where that is undefined (bypass, or mix with
equal gains) the second picture shows the output itself and says so.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from ..plugins.separator import MODES  # the mode box offers the separator's modes
from .meters import LevelMeter
from .qtcompat import protect_none
from .spectrogram import ColumnRing, PixelRingItem, ScrollingSpectrogram

DB_LEVELS = (-90.0, -10.0)
GUI_RT_PRIORITY = 5  # below the host's worker (50) and callback (60)
READOUT_ROWS = (
    ("LATENCY", (("alg", "algorithmic"), ("handoff", "hand-off"), ("device", "device in + out"),
                 ("total", "total"))),
    ("AUDIO", (("state", "state"), ("block", "block"), ("load", "callback load"), ("dropouts", "dropouts"),
               ("misses", "deadline misses"), ("fallbacks", "dry fallbacks"))),
    ("SEPARATOR", (("model", "model"), ("mode", "mode"), ("vad", "vocal activity"), ("stft", "STFT"))),
    ("DISPLAY", (("fps", "GUI"), ("paints", "repaints"), ("tick", "tick"), ("sched", "GUI thread"))),
)


def _gui_thread_priority(priority: int):
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


def _restore_thread_priority(saved) -> None:
    if saved is None:
        return
    try:
        os.sched_setscheduler(0, saved[0], saved[1])
    except (AttributeError, OSError):
        pass


@dataclass
class HostSpec:
    """What :class:`LiveWindow` needs to (re)build a ``LiveHost`` (e.g. on a device change)."""

    input_device: object = None
    output_device: object = None
    source: object = None
    samplerate: int | None = None
    blocksize: int = 256
    channels: int = 2
    mode: str = "karaoke"
    vocals_db: float = 0.0
    accompaniment_db: float = 0.0
    model: object = None
    worker: bool = True
    loop: bool = False
    extra: dict = field(default_factory=dict)

    def build(self):
        from ..host.stream import LiveHost

        host = LiveHost(input_device=self.input_device, output_device=self.output_device, source=self.source,
                        samplerate=self.samplerate, blocksize=self.blocksize, channels=self.channels,
                        mode=self.mode, vocals_db=self.vocals_db, accompaniment_db=self.accompaniment_db,
                        model=self.model, worker=self.worker, **self.extra)
        if host.source is not None:
            host.source.loop = bool(self.loop)
        return host


def _dark_palette(app) -> None:
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


class _PaintCounter(QtCore.QObject):
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


class LiveWindow(QtWidgets.QMainWindow):
    """The ``rtsep gui`` window around a live host built from ``spec``.

    Args:
        spec: how to build the host (rebuilt when the user picks another device).
        host: an already built host for ``spec`` (else it is built here).
        gui_priority: SCHED_FIFO priority for the GUI thread while it streams (0: leave it
            alone). See :func:`_gui_thread_priority`.
        fps: display rate the timer aims at.
        autostart: start streaming when the window is shown.
    """

    closed = QtCore.Signal()

    def __init__(self, spec: HostSpec, host=None, *, fps: float = 60.0, autostart: bool = True,
                 gui_priority: int = GUI_RT_PRIORITY, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.gui_priority = int(gui_priority)
        self.gui_sched = "normal"
        self._sched_saved = None
        self.target_fps = float(fps)
        self.host = host if host is not None else spec.build()
        self.errors: list[str] = []
        self.ticks = 0
        self.tick_seconds = 0.0        # time spent in _tick (GUI thread)
        self.tick_max_s = 0.0
        self._tick_times: collections.deque = collections.deque(maxlen=1200)
        self.fps_history: list[float] = []  # one value per second of streaming
        self._fps_t = time.perf_counter()
        self._fps_n = 0
        self.fps = 0.0
        self.paint_fps = 0.0
        self._paints_at = 0
        self._closing = False
        self._last_readout = 0.0
        self._cb_seen = 0
        self._cb_change_t = time.monotonic()
        self._load = (0.0, 0.0)
        self.vad_received: collections.deque = collections.deque(maxlen=1 << 15)  # (input sample, vad)

        protect_none()  # PySide6 6.12 on Python 3.11 (see qtcompat)
        app = QtWidgets.QApplication.instance()
        _dark_palette(app)
        pg.setConfigOptions(antialias=False, background=(18, 18, 22), foreground=(200, 200, 205),
                            imageAxisOrder="col-major")
        self.setWindowTitle("rtsep — live singing-voice separation")
        self._build_ui()
        self._bind_host()
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(max(1, int(1000.0 / self.target_fps)))
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.resize(1280, 820)
        if autostart:
            QtCore.QTimer.singleShot(0, self.start)

    # ------------------------------------------------------------------ UI construction
    def _build_ui(self) -> None:
        central = QtWidgets.QWidget()
        self.setCentralWidget(central)
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)

        # --- controls row 1: transport, mode, gains
        row1 = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("■ Stop")
        self.start_button.setMinimumWidth(90)
        self.start_button.clicked.connect(self._toggle_running)
        row1.addWidget(self.start_button)
        row1.addSpacing(12)
        row1.addWidget(QtWidgets.QLabel("Mode"))
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItems(MODES)
        self.mode_combo.setToolTip("karaoke: accompaniment · vocals: the voice only · mix: both, "
                                   "at the levels of the two sliders")
        self.mode_combo.currentTextChanged.connect(self._mode_changed)
        row1.addWidget(self.mode_combo)
        self.bypass_box = QtWidgets.QCheckBox("Bypass")
        self.bypass_box.setToolTip("latency-matched dry input (the separator keeps running)")
        self.bypass_box.toggled.connect(self._bypass_toggled)
        row1.addWidget(self.bypass_box)
        row1.addSpacing(12)
        row1.addWidget(QtWidgets.QLabel("Model"))
        self.point_combo = QtWidgets.QComboBox()
        self.point_combo.addItems(("low", "quality"))
        self.point_combo.setToolTip("operating point: low (<= 12 ms, live input) or quality (long window, "
                                    "look-ahead). Switchable mid-stream when started with --switchable: both "
                                    "models run aligned and the change is a crossfade")
        self.point_combo.currentTextChanged.connect(self._point_changed)
        row1.addWidget(self.point_combo)
        row1.addSpacing(16)
        self.vocals_slider, self.vocals_label = self._gain_slider(row1, "Vocals", self._vocals_changed)
        row1.addSpacing(8)
        self.accomp_slider, self.accomp_label = self._gain_slider(row1, "Accomp.", self._accomp_changed)
        row1.addStretch(1)
        outer.addLayout(row1)

        # --- controls row 2: devices
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(QtWidgets.QLabel("Input"))
        self.input_combo = QtWidgets.QComboBox()
        self.input_combo.setMinimumContentsLength(28)
        self.input_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row2.addWidget(self.input_combo, 1)
        row2.addSpacing(12)
        row2.addWidget(QtWidgets.QLabel("Output"))
        self.output_combo = QtWidgets.QComboBox()
        self.output_combo.setMinimumContentsLength(28)
        self.output_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row2.addWidget(self.output_combo, 1)
        outer.addLayout(row2)

        # --- graphics + side panel
        mid = QtWidgets.QHBoxLayout()
        self.graphics = PlotCanvas()
        self.graphics.ci.setSpacing(4)
        self.paint_counter = _PaintCounter(self)
        self.graphics.viewport().installEventFilter(self.paint_counter)
        mid.addWidget(self.graphics, 1)

        side = QtWidgets.QVBoxLayout()
        meters = QtWidgets.QHBoxLayout()
        self.in_meter = LevelMeter("in")
        self.out_meter = LevelMeter("out")
        meters.addWidget(self.in_meter)
        meters.addWidget(self.out_meter)
        side.addLayout(meters, 3)
        self.readout = QtWidgets.QFrame()
        self.readout.setObjectName("readout")
        self.readout.setFixedWidth(270)
        self.readout.setStyleSheet("#readout { background: #16171b; border: 1px solid #303038; "
                                   "border-radius: 4px; } QLabel { font-size: 11px; }")
        grid = QtWidgets.QGridLayout(self.readout)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QtWidgets.QLabel] = {}
        r = 0
        for head, keys in READOUT_ROWS:
            h = QtWidgets.QLabel(head)
            h.setStyleSheet("color: #8a8a96; font-weight: bold; padding-top: 4px;")
            grid.addWidget(h, r, 0, 1, 2)
            r += 1
            for key, text in keys:
                k = QtWidgets.QLabel(text)
                k.setStyleSheet("color: #b0b0ba;")
                v = QtWidgets.QLabel("–")
                v.setStyleSheet("color: #f0f0f5; font-weight: bold;")
                grid.addWidget(k, r, 0)
                grid.addWidget(v, r, 1)
                self.values[key] = v
                r += 1
        grid.setRowStretch(r, 1)
        side.addWidget(self.readout, 4)
        mid.addLayout(side)
        outer.addLayout(mid, 1)

        self.status = QtWidgets.QLabel()
        self.status.setStyleSheet("QLabel { color: #9a9aa5; font-size: 11px; }")
        outer.addWidget(self.status)

    def _gain_slider(self, layout, name, slot):
        layout.addWidget(QtWidgets.QLabel(name))
        s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        s.setRange(-40, 12)
        s.setSingleStep(1)
        s.setPageStep(3)
        s.setFixedWidth(150)
        s.setToolTip(f"{name} level in mix mode (dB)")
        lab = QtWidgets.QLabel("0 dB")
        lab.setMinimumWidth(46)
        s.valueChanged.connect(slot)
        layout.addWidget(s)
        layout.addWidget(lab)
        return s, lab

    def _build_plots(self) -> None:
        """(Re)create the plots for the current host's rate and latency."""
        host = self.host
        g = self.graphics
        g.clear()
        cmap = pg.colormap.get("inferno")
        sr = host.sample_rate
        self.delay = int(host.algorithmic_latency + host.handoff_latency)
        p_in = g.addPlot(row=0, col=0)
        p_in.setTitle("input", size="10pt")
        self.spec_in = ScrollingSpectrogram(p_in, sr, levels=DB_LEVELS, cmap=cmap)
        p_out = g.addPlot(row=1, col=0)
        p_out.setTitle("separated vocals", size="10pt")
        self.spec_out = ScrollingSpectrogram(p_out, sr, levels=DB_LEVELS, cmap=cmap, time_offset=self.delay)
        self.bar = pg.ColorBarItem(values=DB_LEVELS, colorMap=cmap, label="dB", interactive=True,
                                   width=14, colorMapMenu=False)
        self.bar.sigLevelsChanged.connect(self._levels_changed)
        g.addItem(self.bar, row=0, col=1, rowspan=2)

        # Vocal activity strip: per display column, the mean of the separator's per-block
        # vocal activity, drawn as a filled bar; lit (amber) where it reaches the threshold.
        p_v = g.addPlot(row=2, col=0)
        self.vad_plot = p_v
        sep = host.separator
        thr = self.vad_threshold = float(getattr(sep, "vad_threshold", None)
                                         or getattr(getattr(sep, "card", None), "vad_threshold", 0.5))
        p_v.setTitle(f"vocal activity (separator; lit at ≥ {thr:g})", size="9pt")
        self.vad_hop = self.spec_in.hop
        self.vad_sum = ColumnRing(ScrollingSpectrogram.MAX_COLS, 2, fill=0.0, dtype=np.float64)
        self._vad_rows = np.zeros(0)
        self.vad_item = PixelRingItem(self.vad_sum, self._render_vad, self._vad_column_x, (0.0, 1.0))
        p_v.addItem(self.vad_item)
        p_v.setYRange(0, 1.0, padding=0)
        p_v.getAxis("left").setTicks([[(0, "0"), (thr, f"{thr:g}"), (1, "1")]])
        p_v.setLabel("bottom", "time (s), 0 = now · the vocals are drawn at their input time, "
                               f"{1000 * self.delay / sr:.1f} ms before they are heard")
        p_v.setMouseEnabled(x=False, y=False)
        p_v.hideButtons()
        p_v.setMenuEnabled(False)
        for p in (p_in, p_out):
            p.setXLink(p_v)
            p.getAxis("bottom").setStyle(showValues=False)
        # One display column per screen pixel: the time span follows the plot's width.
        p_v.getViewBox().sigResized.connect(self._fit_time_axis)
        self._fit_time_axis(p_v.getViewBox())
        for p in (p_in, p_out, p_v):
            p.getAxis("left").setWidth(48)
        g.ci.layout.setRowStretchFactor(0, 5)
        g.ci.layout.setRowStretchFactor(1, 5)
        g.ci.layout.setRowStretchFactor(2, 2)
        self._now = 0
        self._out_title = None

    def _fit_time_axis(self, vb) -> None:
        w = max(1.0, vb.width())
        vb.setXRange(-w * self.spec_in.seconds_per_column, 0.0, padding=0)

    def _levels_changed(self, bar) -> None:
        lv = bar.levels()
        self.spec_in.set_levels(lv)
        self.spec_out.set_levels(lv)

    _VAD_LIT = np.uint32(0xFFFFB02E)   # amber: at or above the threshold
    _VAD_DIM = np.uint32(0xFF3A6EA5)   # blue: below
    _VAD_BG = np.uint32(0xFF15171E)
    _VAD_BG_LIT = np.uint32(0xFF3A2A14)

    def _vad_column_x(self, c: int) -> float:
        return ((c + 0.5) * self.vad_hop - self._now) / self.host.sample_rate

    def _render_vad(self, cols: np.ndarray, height: int) -> np.ndarray:
        if len(self._vad_rows) != height:
            self._vad_rows = 1.0 - (np.arange(height) + 0.5) / height  # level of each pixel row
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(cols[:, 1] > 0, cols[:, 0] / np.maximum(cols[:, 1], 1), -1.0)
        lit = v >= self.vad_threshold
        fill = np.where(lit, self._VAD_LIT, self._VAD_DIM)
        bg = np.where(lit, self._VAD_BG_LIT, self._VAD_BG)
        under = self._vad_rows[:, None] <= v[None, :]
        px = np.where(under, fill[None, :], bg[None, :]).astype(np.uint32)
        # The threshold as a dotted pixel row (drawn here: a line item costs a repaint).
        r = int(np.argmin(np.abs(self._vad_rows - self.vad_threshold)))
        px[r, :] = np.where(under[r], px[r, :], np.uint32(0xFF8A8A96))
        return px

    def _fill_devices(self) -> None:
        from ..host import audio

        try:
            devices = audio.list_devices()
        except Exception:  # noqa: BLE001 - a device list is a nicety
            devices = []
        spec, host = self.spec, self.host
        for combo in (self.input_combo, self.output_combo):
            combo.blockSignals(True)
            combo.clear()
        if host.source is not None:
            self.input_combo.addItem(f"file: {Path(host.source.path).name}", "source")
        for d in devices:
            text = f"{d['index']}: {d['name']} ({d['hostapi']})"
            if d["max_input_channels"] > 0:
                self.input_combo.addItem(text, d["index"])
            if d["max_output_channels"] > 0:
                self.output_combo.addItem(text, d["index"])
        if host.source is None and host.input_device is not None:
            i = self.input_combo.findData(host.input_device)
            if i >= 0:
                self.input_combo.setCurrentIndex(i)
        i = self.output_combo.findData(host.output_device)
        if i >= 0:
            self.output_combo.setCurrentIndex(i)
        for combo in (self.input_combo, self.output_combo):
            combo.blockSignals(False)
        self.input_combo.currentIndexChanged.connect(self._device_changed, QtCore.Qt.ConnectionType.UniqueConnection)
        self.output_combo.currentIndexChanged.connect(self._device_changed, QtCore.Qt.ConnectionType.UniqueConnection)

    def _bind_host(self) -> None:
        """Point the display and the controls at ``self.host`` (after a (re)build)."""
        host = self.host
        self._build_plots()
        self._fill_devices()
        for w in (self.mode_combo, self.bypass_box, self.vocals_slider, self.accomp_slider, self.point_combo):
            w.blockSignals(True)
        point = host.operating_point
        self.point_combo.setCurrentText(point or "low")
        self.point_combo.setEnabled(hasattr(host.separator, "point"))
        bypass = host.mode == "bypass"
        self.bypass_box.setChecked(bypass)
        self.mode_combo.setCurrentText(self.spec.mode if bypass and self.spec.mode in MODES
                                       else (host.mode if host.mode in MODES else "karaoke"))
        self.vocals_slider.setValue(int(round(host.vocals_db)))
        self.accomp_slider.setValue(int(round(host.accompaniment_db)))
        self.vocals_label.setText(f"{host.vocals_db:+.0f} dB")
        self.accomp_label.setText(f"{host.accompaniment_db:+.0f} dB")
        for w in (self.mode_combo, self.bypass_box, self.vocals_slider, self.accomp_slider, self.point_combo):
            w.blockSignals(False)
        self._reset_readers()
        self._update_readout(force=True)

    def _reset_readers(self) -> None:
        taps = self.host.taps
        self._in_pos = taps.input.read_count   # next input sample expected
        self._out_pos = taps.output.read_count
        self._hist = np.zeros(0, dtype=np.float32)  # mono input from _hist_start
        self._hist_start = self._in_pos
        self._pending = np.zeros(0, dtype=np.float32)  # output waiting for its dry input
        self._pending_start = self._out_pos
        self._time_offset = taps.input.write_count
        self.spec_in.reset(self._in_pos)
        self.spec_out.reset(self._out_pos)
        self.vad_sum.reset()
        self.vad_item.invalidate()
        self._vad_dirty = None

    # ------------------------------------------------------------------ controls
    @property
    def running(self) -> bool:
        return bool(self.host is not None and self.host.running)

    def start(self) -> None:
        host = self.host
        if host is None or host.running or self._closing:
            return
        # The host restarts its frame clock at 0; taps keep counting: remember the offset.
        self._time_offset = host.taps.input.write_count
        src = host.source
        if src is not None and src.ended and not src.loop:
            src.rewind()
        try:
            host.start()
        except Exception as exc:  # noqa: BLE001 - shown, not raised, in a GUI
            self._error(f"cannot start: {exc}")
            return
        if self._sched_saved is None:
            self._sched_saved = _gui_thread_priority(self.gui_priority)
            self.gui_sched = f"SCHED_FIFO {self.gui_priority}" if self._sched_saved else "normal"
        self._cb_seen, self._cb_change_t = host.stats.callbacks, time.monotonic()
        self._fps_t, self._fps_n = time.perf_counter(), 0
        self.start_button.setText("■ Stop")
        self._update_readout(force=True)

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
        _restore_thread_priority(self._sched_saved)
        self._sched_saved, self.gui_sched = None, "normal"
        self.start_button.setText("▶ Start")
        self._update_readout(force=True)

    def _toggle_running(self) -> None:
        self.stop() if self.running else self.start()

    def _point_changed(self, point: str) -> None:
        if hasattr(self.host.separator, "point"):
            self.host.operating_point = point

    def _mode_changed(self, mode: str) -> None:
        self.spec.mode = mode
        if not self.bypass_box.isChecked():
            self.host.mode = mode

    def _bypass_toggled(self, on: bool) -> None:
        self.host.mode = "bypass" if on else self.mode_combo.currentText()

    def _vocals_changed(self, value: int) -> None:
        self.host.vocals_db = self.spec.vocals_db = float(value)
        self.vocals_label.setText(f"{value:+d} dB")

    def _accomp_changed(self, value: int) -> None:
        self.host.accompaniment_db = self.spec.accompaniment_db = float(value)
        self.accomp_label.setText(f"{value:+d} dB")

    def _device_changed(self, *_):
        """Rebuild the host on the chosen devices (the stream has to be reopened)."""
        inp = self.input_combo.currentData()
        out = self.output_combo.currentData()
        spec = self.spec
        old = (spec.source, spec.input_device, spec.output_device)
        if inp == "source":
            spec.input_device = None
        else:
            spec.source, spec.input_device = None, inp
        spec.output_device = out
        spec.mode = "bypass" if self.bypass_box.isChecked() else self.mode_combo.currentText()
        was_running = self.running
        self.stop()
        self.status.setText("reopening the audio devices…")
        QtWidgets.QApplication.processEvents()
        try:
            host = spec.build()
        except Exception as exc:  # noqa: BLE001
            spec.source, spec.input_device, spec.output_device = old
            self._error(f"cannot use that device: {exc}")
            self._fill_devices()
            if was_running:
                self.start()
            return
        self.host = host
        self._bind_host()
        if was_running:
            self.start()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self.status.setText(f"<span style='color:#ff7060'>{text}</span>")

    # ------------------------------------------------------------------ the timer
    def _tick(self) -> None:
        t0 = time.perf_counter()
        try:
            self._update()
        except Exception as exc:  # noqa: BLE001 - never let the display loop die
            if not self.errors or not self.errors[-1].startswith("display"):
                self._error(f"display error: {type(exc).__name__}: {exc}")
        dt = time.perf_counter() - t0
        self.ticks += 1
        self.tick_seconds += dt
        self.tick_max_s = max(self.tick_max_s, dt)
        now = time.perf_counter()
        self._tick_times.append(now)
        self._fps_n += 1
        if now - self._fps_t >= 1.0:
            self.fps = self._fps_n / (now - self._fps_t)
            paints = self.paint_counter.count
            self.paint_fps = (paints - self._paints_at) / (now - self._fps_t)
            self._paints_at = paints
            if self.running:
                self.fps_history.append(self.fps)
            self._fps_t, self._fps_n = now, 0

    def _update(self) -> None:
        host = self.host
        taps = host.taps
        # Audio: consume what is new. Input first, then output (the callback writes input
        # first, so the output never runs ahead of the input we hold, by more than a block).
        x = taps.input.read_new()
        x_start = taps.input.read_count - len(x)
        y = taps.output.read_new()
        y_start = taps.output.read_count - len(y)
        if len(x):
            xm = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
            if x_start != self._in_pos:  # the ring lapped us (GUI stalled > ring length)
                self._hist = np.zeros(0, dtype=np.float32)
                self._hist_start = x_start
            self._hist = np.concatenate((self._hist, xm)) if len(self._hist) else xm
            self._in_pos = x_start + len(x)
            self.spec_in.feed(xm, x_start)
        if len(y):
            ym = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
            if y_start != self._pending_start + len(self._pending):
                self._pending = np.zeros(0, dtype=np.float32)
                self._pending_start = y_start
            self._pending = np.concatenate((self._pending, ym)) if len(self._pending) else ym
            self._out_pos = y_start + len(y)
        self._derive_vocals()
        self._read_vad()
        lv = taps.levels.read_new()[1]
        if len(lv):
            self.in_meter.set_levels(float(lv[:, 0].max()), float(lv[:, 1].max()))
            self.out_meter.set_levels(float(lv[:, 2].max()), float(lv[:, 3].max()))
        elif not self.running:
            self.in_meter.set_levels(0.0, 0.0)
            self.out_meter.set_levels(0.0, 0.0)
        self._now = self._in_pos
        self.spec_in.redraw(self._now)
        self.spec_out.redraw(self._now)
        self._redraw_vad()
        self.graphics.scene().prepareForPaint()
        self._update_readout()

    def _derive_vocals(self) -> None:
        """Turn pending output into the second picture's signal (see module doc)."""
        if not len(self._pending):
            return
        D = self.delay
        p0 = self._pending_start
        # Output sample j needs dry input sample j - D.
        have_until = self._hist_start + len(self._hist) + D  # exclusive output index we can do
        n = min(len(self._pending), have_until - p0)
        if n <= 0:
            if len(self._pending) > 4 * self.host.sample_rate:  # input missing: give up on it
                self._pending = np.zeros(0, dtype=np.float32)
                self._pending_start = self._out_pos
            return
        out = self._pending[:n]
        d0 = p0 - D - self._hist_start  # offset of the first dry sample in _hist
        if d0 < 0:  # dry samples before the stream began (or lost): zeros
            dry = np.concatenate((np.zeros(min(-d0, n), np.float32), self._hist[:max(0, n + d0)]))
        else:
            dry = self._hist[d0:d0 + n]
        mode = self.host.mode
        title = "separated vocals"
        if mode == "karaoke":
            sig = dry - out
        elif mode == "vocals":
            sig = out
        elif mode == "mix":
            gv, ga = 10 ** (self.host.vocals_db / 20), 10 ** (self.host.accompaniment_db / 20)
            if abs(gv - ga) >= 0.25:
                sig = (out - np.float32(ga) * dry) / np.float32(gv - ga)
            else:
                sig, title = out, "output (mix, vocals and accompaniment at equal level)"
        else:
            sig, title = out, "output (bypass: the dry input, latency-matched)"
        if title != self._out_title:
            self._out_title = title
            self.spec_out.plot.setTitle(title, size="10pt")
        self.spec_out.feed(sig, p0)
        self._pending = self._pending[n:]
        self._pending_start = p0 + n
        # Keep only the dry history still needed.
        keep_from = self._pending_start - D - self._hist_start
        if keep_from > 0:
            self._hist = self._hist[keep_from:]
            self._hist_start += keep_from

    def _read_vad(self) -> None:
        times, vals = self.host.taps.vad.read_new()
        if not len(times):
            return
        samples = times + self._time_offset
        v = vals[:, 0]
        self.vad_received.extend(zip(samples.tolist(), v.tolist()))
        cols = samples // self.vad_hop
        uniq, inv = np.unique(cols, return_inverse=True)
        sums = np.bincount(inv, weights=v)
        counts = np.bincount(inv).astype(np.float64)
        ring = self.vad_sum
        for c, s, k in zip(uniq.tolist(), sums, counts):
            old = ring.column(c)
            row = np.array([s, k]) + (old if old is not None else 0.0)
            ring.write(c, row[None, :])
        self._vad_dirty = int(uniq[0]) if self._vad_dirty is None else min(self._vad_dirty, int(uniq[0]))

    def vad_strip(self) -> tuple[np.ndarray, np.ndarray]:
        """``(column centre input sample, mean vad or NaN)`` of the strip, oldest first."""
        v = self.vad_sum.view()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(v[:, 1] > 0, v[:, 0] / np.maximum(v[:, 1], 1), np.nan)
        last = self.vad_sum.last
        first = last - self.vad_sum.n_cols + 1
        centres = (np.arange(first, last + 1) + 0.5) * self.vad_hop
        return centres, mean

    def _redraw_vad(self) -> None:
        self.vad_item.sync(self._vad_dirty)
        self._vad_dirty = None

    # ------------------------------------------------------------------ readouts
    def _recent_load(self) -> tuple[float, float]:
        """Mean and max callback load since the last call (from the stats' time ring)."""
        st = self.host.stats
        c1 = st.callbacks
        c0 = self._cb_seen_load if hasattr(self, "_cb_seen_load") else c1
        self._cb_seen_load = c1
        times = getattr(st, "_times", None)
        hist = getattr(st, "_history", 0)
        if times is None or c1 <= c0 or not st.period_s:
            return (st.last_load, st.last_load) if c1 > c0 else self._load
        n = min(c1 - c0, hist)
        idx = np.arange(c1 - n, c1) % hist
        t = times[idx] / st.period_s
        self._load = (float(t.mean()), float(t.max()))
        return self._load

    def _update_readout(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_readout < 0.25:
            return
        self._last_readout = now
        host = self.host
        st = host.stats
        if host.running:
            if host.error is not None:
                self._error(f"processing failed: {host.error}")
                self.stop()
            elif st.callbacks != self._cb_seen:
                self._cb_seen, self._cb_change_t = st.callbacks, now
            elif now - self._cb_change_t > 2.0:
                self._error("the audio stream stopped: no audio callbacks for 2 s "
                            "(device unplugged or audio server stopped?)")
                self.stop()
        lat = host.latency()
        mean, peak = self._recent_load()
        sr = host.sample_rate
        src = host.source
        self._set("alg", f"{lat['algorithmic_ms']:.1f} ms")
        self._set("handoff", f"{lat['handoff_ms']:.1f} ms")
        self._set("device", f"{lat['device_ms']:.1f} ms")
        self._set("total", f"{lat['total_ms']:.1f} ms")
        self._set("state", "streaming" if host.running else "stopped", not host.running)
        self._set("block", f"{host.blocksize} @ {sr / 1000:g} kHz = {1000 * host.blocksize / sr:.2f} ms")
        self._set("load", f"{100 * mean:.0f}% avg · {100 * peak:.0f}% max", peak > 0.8)
        self._set("dropouts", str(st.dropouts), st.dropouts > 0)
        self._set("misses", str(st.deadline_misses), st.deadline_misses > 0)
        self._set("fallbacks", str(st.fallback_blocks), st.fallback_blocks > 0)
        sep = host.separator
        card = getattr(sep, "card", None)
        name = Path(str(card.path)).stem if card is not None else type(host.plugin).__name__
        untrained = bool(getattr(card, "placeholder", False))
        point = host.operating_point
        self._set("model", name + (" (untrained)" if untrained and "placeholder" not in name else "")
                  + (f" [{point}]" if point else ""), untrained)
        mode = host.mode
        if mode == "mix":
            mode += f" {host.vocals_db:+.0f} / {host.accompaniment_db:+.0f} dB"
        self._set("mode", mode)
        last = host.taps.vad.latest()
        v = float(last[1][0]) if last is not None else 0.0
        self._set("vad", f"{v:.2f}" + ("  ● voice" if v >= self.vad_threshold else ""))
        if sep is not None and hasattr(sep, "stft"):
            self._set("stft", f"{1000 * sep.stft.n_fft / sr:.0f} ms window, {1000 * sep.stft.hop / sr:.0f} ms hop")
        else:
            self._set("stft", "–")
        self._set("fps", f"{self.fps:.0f} fps", host.running and 0 < self.fps < 0.75 * self.target_fps)
        self._set("paints", f"{self.paint_fps:.0f} /s")
        self._set("tick", f"{1000 * self.tick_seconds / max(1, self.ticks):.1f} ms avg")
        self._set("sched", self.gui_sched)
        if not self.errors:
            card = getattr(host.separator, "card", None)
            model = Path(str(card.path)).name if card is not None else type(host.plugin).__name__
            if card is not None and getattr(card, "placeholder", False):
                model += " (untrained placeholder)"
            parts = [f"model {model}", f"mode {host.mode}"]
            if src is not None:
                parts.append(f"source {Path(src.path).name} {src.position / src.sample_rate:5.1f} / "
                             f"{src.duration_s:.1f} s" + (" (loop)" if src.loop else ""))
            parts.append(f"{host.channels} ch")
            parts += host.notes
            text = "  ·  ".join(parts)
            if text != self.status.text():
                self.status.setText(text)

    def _set(self, key: str, text: str, bad: bool = False) -> None:
        """Update one readout value (only when it changed: relayout costs GUI time)."""
        lab = self.values[key]
        if lab.text() != text:
            lab.setText(text)
        if bool(lab.property("bad")) != bad:
            lab.setProperty("bad", bad)
            lab.setStyleSheet(f"color: {'#ff7060' if bad else '#f0f0f5'}; font-weight: bold;")

    # ------------------------------------------------------------------ capture / close
    def strip_pixels(self, times_s, level: float = 0.5) -> tuple[np.ndarray, int]:
        """Window pixel x of each time (s relative to now) on the vocal-activity strip, and
        the window pixel y of ``level`` (0..1) there: for checks of a screenshot."""
        vb = self.vad_plot.getViewBox()
        xs = []
        y = 0
        for t in np.atleast_1d(times_s):
            sp = vb.mapViewToScene(QtCore.QPointF(float(t), float(level)))
            vp = self.graphics.mapFromScene(sp)
            wp = self.graphics.viewport().mapTo(self, vp)
            xs.append(wp.x())
            y = wp.y()
        return np.array(xs), y

    VAD_LIT_RGB = (0xFF, 0xB0, 0x2E)
    VAD_DIM_RGB = (0x3A, 0x6E, 0xA5)
    VAD_BG_RGB = (0x15, 0x17, 0x1E)

    def screenshot(self, path) -> Path:
        """Save a PNG of the whole window (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.png'}")
        img = self.grab()
        if not img.save(str(tmp), "PNG"):
            raise OSError(f"cannot write {path}")
        os.replace(tmp, path)
        return path

    def summary(self) -> dict:
        fh = self.fps_history
        return {"fps_mean": round(float(np.mean(fh)), 1) if fh else None,
                "fps_min": round(float(np.min(fh)), 1) if fh else None,
                "ticks": self.ticks, "paints": self.paint_counter.count,
                "tick_ms_mean": round(1000 * self.tick_seconds / max(1, self.ticks), 3),
                "tick_ms_max": round(1000 * self.tick_max_s, 3)}

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        if self._closing:
            return super().closeEvent(event)
        self._closing = True
        self.timer.stop()
        try:
            if self.host is not None:
                self.host.stop()
            _restore_thread_priority(self._sched_saved)
            self._sched_saved = None
        finally:
            self.graphics.viewport().removeEventFilter(self.paint_counter)
            self.graphics.teardown()
            self.closed.emit()
        super().closeEvent(event)
