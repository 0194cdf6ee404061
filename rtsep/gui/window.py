"""The live window: it assembles the rooms of the GUI around a
:class:`~rtsep.host.stream.LiveHost` and runs the display timer.

* :mod:`.controls`: start/stop, mode, bypass, operating point, levels, devices;
* :mod:`.separation`: spectrograms of the input and the separated vocals, vocal activity;
* :mod:`.meters` and :mod:`.readout`: levels, latency, load and display figures;
* :mod:`.karaoke`: with a microphone (``--mic``), the pitch lane (:mod:`.pitchlane`) and the
  microphone panel (:mod:`.mic`: its meter, gain and the voice chain's controls);
* :mod:`.queue`: with a queue of songs, the list, next / skip, key and tempo;
* :mod:`.hostspec`: how the host is (re)built, e.g. on a device change.

Threading: everything here runs on the Qt (GUI) thread. The audio thread is never waited
for: a ``QTimer`` (``1000 / fps`` ms, precise) polls the host's lock-free taps
(:mod:`rtsep.host.taps`), consumes only what is new, and analyses only the new display
frames. Controls set plain attributes on the host, which the audio callback reads without
locks.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from ..host.realtime import BESIDE_ORDINARY_SERVER, audio_server_realtime
from .canvas import PlotCanvas, dark_palette
from .controls import ControlsPanel
from .hostspec import HostSpec
from .karaoke import KaraokeView, has_karaoke
from .meters import LevelMeter
from .priority import GUI_RT_PRIORITY, gui_thread_priority, restore_thread_priority
from .qtcompat import protect_none
from .queue import QueuePanel
from .readout import ReadoutPanel
from .separation import SeparationView

__all__ = ["HostSpec", "LiveWindow", "PlotCanvas"]


class LiveWindow(QtWidgets.QMainWindow):
    """The ``rtsep gui`` window around a live host built from ``spec``.

    Args:
        spec: how to build the host (rebuilt when the user picks another device).
        host: an already built host for ``spec`` (else it is built here).
        gui_priority: SCHED_FIFO priority for the GUI thread while it streams from a real-time
            audio server (0: leave it alone; a server that is not real-time: left alone too). See
            :func:`rtsep.gui.priority.gui_thread_priority` and :meth:`_apply_gui_priority`.
        fps: display rate the timer aims at.
        autostart: start streaming when the window is shown.

    Rooms: :attr:`controls` (:class:`ControlsPanel`), :attr:`view`
    (:class:`SeparationView`), :attr:`in_meter`/:attr:`out_meter`, :attr:`readout`.
    """

    closed = QtCore.Signal()

    def __init__(self, spec: HostSpec, host=None, *, fps: float = 60.0, autostart: bool = True,
                 gui_priority: int = GUI_RT_PRIORITY, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.gui_priority = int(gui_priority)
        self.gui_sched = "normal"
        self._sched_saved = None
        self._sched_pending = False  # the GUI's priority is chosen after the first callback
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

        protect_none()  # PySide6 6.12 on Python 3.11 (see qtcompat)
        app = QtWidgets.QApplication.instance()
        dark_palette(app)
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
        self.resize(1280, 1000 if self.karaoke.host is not None else 820)
        if autostart:
            QtCore.QTimer.singleShot(0, self.start)

    # ------------------------------------------------------------------ UI construction
    def _build_ui(self) -> None:
        central = QtWidgets.QWidget()
        self.setCentralWidget(central)
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)

        self.controls = ControlsPanel()
        self.controls.toggle_requested.connect(self._toggle_running)
        self.controls.devices_changed.connect(self._device_changed)
        outer.addWidget(self.controls)

        mid = QtWidgets.QHBoxLayout()
        self.view = SeparationView(self)
        self.graphics = self.view.graphics
        self.paint_counter = self.view.paint_counter
        mid.addWidget(self.graphics, 1)

        side = QtWidgets.QVBoxLayout()
        meters = QtWidgets.QHBoxLayout()
        self.in_meter = LevelMeter("in")
        self.out_meter = LevelMeter("out")
        meters.addWidget(self.in_meter)
        meters.addWidget(self.out_meter)
        side.addLayout(meters, 3)
        self.readout = ReadoutPanel()
        side.addWidget(self.readout, 4)
        mid.addLayout(side)
        outer.addLayout(mid, 3)

        self.karaoke = KaraokeView()
        self.karaoke.hide()
        outer.addWidget(self.karaoke, 2)

        self.queue_panel = QueuePanel()  # a queue of songs: next / skip, key and tempo
        self.queue_panel.hide()
        outer.addWidget(self.queue_panel, 1)

        self.status = QtWidgets.QLabel()
        self.status.setStyleSheet("QLabel { color: #9a9aa5; font-size: 11px; }")
        outer.addWidget(self.status)

    def _bind_host(self) -> None:
        """Point the display and the controls at ``self.host`` (after a (re)build)."""
        self.view.bind(self.host)
        self.controls.bind(self.host, self.spec)
        self.queue_panel.bind(self.host)
        if has_karaoke(self.host):
            self.karaoke.bind(self.host)
            self.karaoke.show()
            if self.height() < 1000:
                self.resize(self.width(), 1000)
        else:
            self.karaoke.hide()
        self._update_readout(force=True)

    # ------------------------------------------------------------------ transport
    @property
    def running(self) -> bool:
        return bool(self.host is not None and self.host.running)

    def start(self) -> None:
        host = self.host
        if host is None or host.running or self._closing:
            return
        # The host restarts its frame clock at 0; taps keep counting: remember the offset.
        self.view.time_offset = host.taps.input.write_count
        src = host.source
        if src is not None and src.ended and not src.loop:
            src.rewind()
        try:
            host.start()
        except Exception as exc:  # noqa: BLE001 - shown, not raised, in a GUI
            self._error(f"cannot start: {exc}")
            return
        self._sched_pending = self._sched_saved is None and self.gui_priority > 0
        self._cb_seen, self._cb_change_t = host.stats.callbacks, time.monotonic()
        self._fps_t, self._fps_n = time.perf_counter(), 0
        self.controls.set_running(True)
        self._update_readout(force=True)

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
        restore_thread_priority(self._sched_saved)
        self._sched_saved, self._sched_pending, self.gui_sched = None, False, "normal"
        self.controls.set_running(False)
        self._update_readout(force=True)

    def _toggle_running(self) -> None:
        self.stop() if self.running else self.start()

    def _device_changed(self) -> None:
        """Rebuild the host on the chosen devices (the stream has to be reopened)."""
        spec = self.spec
        old = (spec.source, spec.input_device, spec.output_device)
        self.controls.apply_devices(spec)
        was_running = self.running
        self.stop()
        self.status.setText("reopening the audio devices…")
        QtWidgets.QApplication.processEvents()
        try:
            host = spec.build()
        except Exception as exc:  # noqa: BLE001
            spec.source, spec.input_device, spec.output_device = old
            self._error(f"cannot use that device: {exc}")
            self.controls.fill_devices()
            if was_running:
                self.start()
            return
        old_host, self.host = self.host, host
        getattr(old_host, "close", old_host.stop)()  # ends its background threads (a song's producer)
        self._bind_host()
        if was_running:
            self.start()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self.status.setText(f"<span style='color:#ff7060'>{text}</span>")

    # ------------------------------------------------------------------ the timer
    def _apply_gui_priority(self) -> None:
        """A real-time GUI thread only beside a real-time audio server.

        A real-time GUI thread outranks every ordinary thread. Beside a server that is not
        real-time (``jackd --no-realtime``, a desktop's server without rtkit) the other clients'
        audio threads are ordinary ones (a player feeding rtsep, the singer's input), and a cycle
        the server cannot finish because one of them waits for the GUI's painting is an xrun for
        every client. In the soak (benchmarks/soak.py, 4 min, 128 frames at 48 kHz, a dummy JACK
        started with ``--no-realtime``, a singer client beside rtsep) the GUI at SCHED_FIFO 5
        gave 3998 dropouts (6681 bypassed) against 1607 (1499) at normal priority.
        """
        rt = audio_server_realtime(self.host.rt_status["callback"])
        if rt is None:
            return
        self._sched_pending = False
        if rt:
            self._sched_saved = gui_thread_priority(self.gui_priority)
            self.gui_sched = f"SCHED_FIFO {self.gui_priority}" if self._sched_saved else "normal"
        else:
            self.gui_sched = BESIDE_ORDINARY_SERVER

    def _tick(self) -> None:
        t0 = time.perf_counter()
        if self._sched_pending:
            self._apply_gui_priority()
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
        self.view.update()
        lv = self.host.taps.levels.read_new()[1]
        if len(lv):
            self.in_meter.set_levels(float(lv[:, 0].max()), float(lv[:, 1].max()))
            self.out_meter.set_levels(float(lv[:, 2].max()), float(lv[:, 3].max()))
        elif not self.running:
            self.in_meter.set_levels(0.0, 0.0)
            self.out_meter.set_levels(0.0, 0.0)
        if self.karaoke.host is self.host and not self.karaoke.isHidden():
            self.karaoke.update_levels(lv)
            self.karaoke.update_from_host()
        self.queue_panel.update_from_host()
        self.graphics.scene().prepareForPaint()
        self._update_readout()

    # ------------------------------------------------------------------ readouts
    def _watch_host(self, now: float) -> None:
        """Stop with an error when processing failed or the callbacks stopped coming."""
        host, st = self.host, self.host.stats
        if not host.running:
            return
        if host.error is not None:
            self._error(f"processing failed: {host.error}")
            self.stop()
        elif st.callbacks != self._cb_seen:
            self._cb_seen, self._cb_change_t = st.callbacks, now
        elif now - self._cb_change_t > 2.0:
            self._error("the audio stream stopped: no audio callbacks for 2 s "
                        "(device unplugged or audio server stopped?)")
            self.stop()

    def _update_readout(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_readout < 0.25:
            return
        self._last_readout = now
        self._watch_host(now)
        host = self.host
        self.readout.show_host(host, self.view.vad_threshold)
        self.readout.show_display(self.fps, self.target_fps, host.running, self.paint_fps,
                                  1000 * self.tick_seconds / max(1, self.ticks), self.gui_sched)
        if not self.errors:
            self._show_status()

    def _show_status(self) -> None:
        host = self.host
        info = self.readout.separator(host)
        model = (info.file or info.name) + (" (ahead)" if info.ahead else "")
        if info.untrained:
            model += " (untrained placeholder)"
        parts = [f"model {model}", f"mode {host.mode}"]
        src = host.source
        if src is not None:
            parts.append(f"source {Path(src.path).name} {src.position / src.sample_rate:5.1f} / "
                         f"{src.duration_s:.1f} s" + (" (loop)" if src.loop else ""))
        parts.append(f"{host.channels} ch")
        parts += host.notes
        text = "  ·  ".join(parts)
        if text != self.status.text():
            self.status.setText(text)

    # ------------------------------------------------------------------ capture / close
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
            if self.host is not None:  # stop, and end its background threads (a song's producer)
                getattr(self.host, "close", self.host.stop)()
            restore_thread_priority(self._sched_saved)
            self._sched_saved = None
        finally:
            self.view.teardown()
            self.karaoke.teardown()
            self.closed.emit()
        super().closeEvent(event)
