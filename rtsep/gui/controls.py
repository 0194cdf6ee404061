"""The live window's control rows: start/stop, mode, bypass, operating point, the two
mix levels, and the input and output devices.

The controls set plain attributes on the host (mode and gains are crossfaded by the
separator), which the audio callback reads without locks. Start/stop and a device change
need the window (the stream is reopened there): they are signals.
"""

from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from ..plugins.modes import MODES  # the mode box offers the separator's modes
from .modelinfo import separator_info


class ControlsPanel(QtWidgets.QWidget):
    """Two rows of controls acting on ``self.host`` (set by :meth:`bind`).

    Signals:
        toggle_requested: the start/stop button was clicked.
        devices_changed: the user picked another input or output device.
    """

    toggle_requested = QtCore.Signal()
    devices_changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.host = None
        self.spec = None
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(6)

        # --- row 1: transport, mode, gains
        row1 = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("■ Stop")
        self.start_button.setMinimumWidth(90)
        self.start_button.clicked.connect(self.toggle_requested)
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
        self.point_combo = QtWidgets.QComboBox()  # what separates; a choice only when switchable
        self.point_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.point_combo.currentIndexChanged.connect(self._point_changed)
        row1.addWidget(self.point_combo)
        row1.addSpacing(16)
        self.vocals_slider, self.vocals_label = self._gain_slider(row1, "Vocals", self._vocals_changed)
        row1.addSpacing(8)
        self.accomp_slider, self.accomp_label = self._gain_slider(row1, "Accomp.", self._accomp_changed)
        row1.addStretch(1)
        outer.addLayout(row1)

        # --- row 2: devices
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(QtWidgets.QLabel("Input"))
        self.input_combo = self._device_combo()
        row2.addWidget(self.input_combo, 1)
        row2.addSpacing(12)
        row2.addWidget(QtWidgets.QLabel("Output"))
        self.output_combo = self._device_combo()
        row2.addWidget(self.output_combo, 1)
        outer.addLayout(row2)

    @staticmethod
    def _device_combo():
        combo = QtWidgets.QComboBox()
        combo.setMinimumContentsLength(28)
        combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        return combo

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

    # ------------------------------------------------------------------ host binding
    def bind(self, host, spec) -> None:
        """Show ``host``'s state (after a (re)build) without echoing it back to the host."""
        self.host, self.spec = host, spec
        self.fill_devices()
        widgets = (self.mode_combo, self.bypass_box, self.vocals_slider, self.accomp_slider, self.point_combo)
        for w in widgets:
            w.blockSignals(True)
        self._show_model(host)
        bypass = host.mode == "bypass"
        self.bypass_box.setChecked(bypass)
        self.mode_combo.setCurrentText(spec.mode if bypass and spec.mode in MODES
                                       else (host.mode if host.mode in MODES else "karaoke"))
        self.vocals_slider.setValue(int(round(host.vocals_db)))
        self.accomp_slider.setValue(int(round(host.accompaniment_db)))
        self.vocals_label.setText(f"{host.vocals_db:+.0f} dB")
        self.accomp_label.setText(f"{host.accompaniment_db:+.0f} dB")
        for w in widgets:
            w.blockSignals(False)

    def _show_model(self, host) -> None:
        """The Model box names what separates (:func:`~rtsep.gui.modelinfo.separator_info`): the
        model ahead of the playhead, or the streaming model and its delay; with a switchable
        host it offers the operating points, each with its model's name."""
        info = separator_info(host)
        box = self.point_combo
        box.clear()
        if info.points and hasattr(host.separator, "point"):
            for point, name in info.points.items():
                box.addItem(f"{name} ({point}) · {info.latency_ms:.1f} ms", point)
            box.setCurrentIndex(max(0, box.findData(info.point)))
            box.setEnabled(True)
            box.setToolTip("operating point, switchable mid-stream (--switchable): both models run "
                           "aligned to the longer delay and the change is a crossfade")
        else:
            box.addItem(info.label, None)
            box.setEnabled(False)
            box.setToolTip("what separates this stream" + (
                ": the song is separated ahead of the playhead, so no separator runs against the audio "
                "deadline" if info.ahead else f", with {info.latency_ms:.1f} ms of algorithmic delay; "
                "rtsep live --switchable lets this box switch between the low and quality models"))

    def fill_devices(self) -> None:
        from ..host import audio

        try:
            devices = audio.list_devices()
        except Exception:  # noqa: BLE001 - a device list is a nicety
            devices = []
        host = self.host
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
        unique = QtCore.Qt.ConnectionType.UniqueConnection
        self.input_combo.currentIndexChanged.connect(self._devices_changed, unique)
        self.output_combo.currentIndexChanged.connect(self._devices_changed, unique)

    def apply_devices(self, spec) -> None:
        """Write the chosen devices and mode into ``spec`` (before the host is rebuilt)."""
        inp = self.input_combo.currentData()
        if inp == "source":
            spec.input_device = None
        else:
            spec.source, spec.input_device = None, inp
        spec.output_device = self.output_combo.currentData()
        spec.mode = "bypass" if self.bypass_box.isChecked() else self.mode_combo.currentText()

    def set_running(self, running: bool) -> None:
        self.start_button.setText("■ Stop" if running else "▶ Start")

    # ------------------------------------------------------------------ slots
    def _devices_changed(self, *_):
        self.devices_changed.emit()

    def _point_changed(self, _index: int) -> None:
        point = self.point_combo.currentData()
        if point is not None and hasattr(self.host.separator, "point"):
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
