"""The karaoke microphone panel: the microphone's level meter, what the microphone path
costs (its latency, channel and gain), and the voice chain's controls."""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

from .canvas import side_panel
from .meters import LevelMeter
from .voicechain import VoiceChainControls


class MicPanel(QtWidgets.QFrame):
    """Microphone meter + voice-chain controls.

    Args:
        chain: the voice chain whose parameters get sliders (``None``: no chain).
        width: the panel's fixed width in pixels.

    :meth:`set_levels` takes linear ``(rms, peak)`` of the microphone (after its gain,
    before the voice chain), as :class:`LevelMeter` does; :meth:`set_info` the line under
    the title.
    """

    def __init__(self, chain=None, width: int = 270, parent=None):
        super().__init__(parent)
        self.mic = None
        side_panel(self, "mic", width)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        self.meter = LevelMeter("mic")
        self.meter.setToolTip("microphone level (after --mic-db, before the voice chain): bar = RMS, "
                              "line = peak, tick = held peak (dBFS)")
        row.addWidget(self.meter)
        col = QtWidgets.QVBoxLayout()
        col.setSpacing(2)
        title = QtWidgets.QLabel("MICROPHONE · VOICE CHAIN")
        title.setStyleSheet("color: #8a8a96; font-weight: bold;")
        col.addWidget(title)
        self.info = QtWidgets.QLabel("–")
        self.info.setStyleSheet("color: #f0f0f5; font-weight: bold;")
        self.info.setWordWrap(True)
        col.addWidget(self.info)
        gain_row = QtWidgets.QHBoxLayout()
        gain_row.addWidget(QtWidgets.QLabel("gain"))
        self.gain_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.gain_slider.setRange(-40, 24)
        self.gain_slider.setToolTip("microphone gain before the voice chain (dB; the host ramps it)")
        self.gain_slider.valueChanged.connect(self._gain_changed)
        gain_row.addWidget(self.gain_slider, 1)
        self.gain_label = QtWidgets.QLabel("+0 dB")
        self.gain_label.setMinimumWidth(44)
        gain_row.addWidget(self.gain_label)
        self.mute_box = QtWidgets.QCheckBox("mute")
        self.mute_box.toggled.connect(self._mute_toggled)
        gain_row.addWidget(self.mute_box)
        col.addLayout(gain_row)
        self._scroll = QtWidgets.QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        col.addWidget(self._scroll, 1)
        self.set_chain(chain)
        row.addLayout(col, 1)

    def set_chain(self, chain) -> None:
        """Controls for ``chain``'s parameters (replacing those of a previous chain)."""
        self.controls = VoiceChainControls(chain)
        self._scroll.setWidget(self.controls)  # the scroll area deletes the old controls

    def set_mic(self, mic) -> None:
        """Show and control ``mic`` (``gain_db`` and ``muted``, settable on the host's
        microphone path, which ramps them in the audio callback)."""
        self.mic = None
        self.gain_slider.setValue(int(round(mic.gain_db)))
        self.gain_label.setText(f"{mic.gain_db:+.0f} dB")
        self.mute_box.setChecked(bool(mic.muted))
        self.mic = mic

    def _gain_changed(self, value: int) -> None:
        self.gain_label.setText(f"{value:+d} dB")
        if self.mic is not None:
            self.mic.gain_db = float(value)

    def _mute_toggled(self, on: bool) -> None:
        if self.mic is not None:
            self.mic.muted = bool(on)

    def set_levels(self, rms: float, peak: float) -> None:
        self.meter.set_levels(rms, peak)

    def set_info(self, text: str) -> None:
        if text != self.info.text():
            self.info.setText(text)
