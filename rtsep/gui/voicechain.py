"""Controls for the plugins of a chain (the karaoke voice chain): one slider per numeric
parameter, a check box per switch.

:func:`chain_parameters` reads what the plugins expose, asking them for no special
interface:

* LV2 plugins (:class:`rtsep.plugins.lv2.Lv2Plugin`): every control input port with a
  range (``ports``), set with ``set(symbol, value)``: a float store into the port's cell,
  which the plugin reads at its next ``run`` (no lock, safe while the stream runs);
* pedalboard effects (:class:`rtsep.plugins.pedal.PedalboardPlugin`): the built-ins'
  parameters with rtsep's ranges (:data:`rtsep.plugins.pedal.BUILTINS`), a VST3 plugin's
  ``parameters`` with their ``min_value``/``max_value``; set as attributes of the effect,
  which pedalboard reads at its next ``process``;
* :class:`rtsep.plugins.gain.Gain`: ``gain_db`` (read once per block and ramped over it).

Every change is made on the GUI thread, by a single store the audio thread picks up at its
next block: the audio thread never waits for the GUI.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyqtgraph.Qt import QtCore, QtWidgets

SLIDER_STEPS = 1000  # positions of a continuous parameter's slider


@dataclass
class Parameter:
    """One adjustable value of one plugin in a chain.

    ``target`` is the object holding the value: an LV2 plugin (``get``/``set`` by symbol)
    or an object whose attribute ``name`` it is (a pedalboard effect, a Gain).
    """

    target: object
    owner: str          # the plugin's short name, e.g. "gverb"
    name: str           # the symbol or attribute the plugin knows it by
    label: str          # what the GUI shows
    minimum: float
    maximum: float
    integer: bool = False
    toggled: bool = False
    by_symbol: bool = False  # LV2: target.get(name) / target.set(name, value)

    def get(self) -> float:
        if self.by_symbol:
            return float(self.target.get(self.name))
        return float(getattr(self.target, self.name))

    def set(self, value: float) -> None:
        """Apply ``value`` (clamped to the range; rounded for integer and switch parameters)."""
        v = min(max(float(value), self.minimum), self.maximum)
        if self.integer or self.toggled:
            v = float(round(v))
        if self.by_symbol:
            self.target.set(self.name, v)
        else:
            setattr(self.target, self.name, v)


def _lv2_parameters(plugin) -> list[Parameter]:
    owner = str(plugin.uri).rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    out = []
    for port in plugin.ports:
        if port.kind != "control" or port.direction != "input":
            continue
        if port.minimum is None or port.maximum is None or not port.maximum > port.minimum:
            continue
        out.append(Parameter(plugin, owner, port.symbol, port.name or port.symbol, float(port.minimum),
                             float(port.maximum), bool(port.integer), bool(port.toggled), by_symbol=True))
    return out


def _pedal_parameters(plugin) -> list[Parameter]:
    from ..plugins import pedal

    effect, owner = plugin.effect, plugin.name
    key = pedal.ALIASES.get(owner, owner)
    out = []
    if key in pedal.BUILTINS:
        for name, (lo, hi) in pedal.BUILTINS[key][1].items():
            hi = plugin.sample_rate / 2 if hi == pedal.NYQUIST else hi
            if hasattr(effect, name):
                out.append(Parameter(effect, owner, name, name.replace("_", " "), float(lo), float(hi),
                                     integer=name == "bit_depth", toggled=name == "freeze_mode"))
        return out
    for name, prm in (getattr(effect, "parameters", None) or {}).items():  # a VST3 plugin
        lo, hi = getattr(prm, "min_value", None), getattr(prm, "max_value", None)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo \
                and isinstance(getattr(effect, name, None), (int, float)):
            out.append(Parameter(effect, owner, name, name.replace("_", " "), float(lo), float(hi),
                                 toggled=bool(getattr(prm, "is_boolean", False))))
    return out


def plugin_parameters(plugin) -> list[Parameter]:
    """The adjustable parameters of one plugin (see module doc); ``[]`` if none are known."""
    if hasattr(plugin, "ports") and hasattr(plugin, "uri") and hasattr(plugin, "set"):
        return _lv2_parameters(plugin)
    if hasattr(plugin, "effect") and hasattr(plugin, "name"):
        return _pedal_parameters(plugin)
    if hasattr(plugin, "gain_db"):
        return [Parameter(plugin, type(plugin).__name__.lower(), "gain_db", "gain (dB)", -40.0, 12.0)]
    return []


def chain_parameters(chain) -> list[Parameter]:
    """Parameters of every plugin of ``chain`` (a :class:`~rtsep.plugins.chain.Chain`, any
    iterable of plugins, or one plugin), in chain order."""
    if chain is None:
        return []
    try:
        plugins = list(chain)
    except TypeError:
        plugins = [chain]
    out = []
    for p in plugins:
        out += plugin_parameters(p)
    return out


def _fmt(v: float, integer: bool) -> str:
    if integer:
        return f"{v:.0f}"
    a = abs(v)
    return f"{v:.3g}" if a < 100 else f"{v:.0f}"


class ParameterSlider(QtWidgets.QWidget):
    """A labelled slider (or check box, for a switch) bound to one :class:`Parameter`."""

    def __init__(self, param: Parameter, parent=None):
        super().__init__(parent)
        self.param = param
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        name = QtWidgets.QLabel(param.label)
        name.setMinimumWidth(88)
        name.setToolTip(f"{param.owner}: {param.name} ({_fmt(param.minimum, param.integer)} … "
                        f"{_fmt(param.maximum, param.integer)})")
        row.addWidget(name)
        current = param.get()
        if param.toggled:
            self.box = QtWidgets.QCheckBox()
            self.box.setChecked(current >= 0.5)
            self.box.toggled.connect(lambda on: self.param.set(1.0 if on else 0.0))
            row.addWidget(self.box)
            row.addStretch(1)
            self.slider = self.value_label = None
            return
        self.box = None
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        steps = int(param.maximum - param.minimum) if param.integer else SLIDER_STEPS
        self.slider.setRange(0, max(1, steps))
        self.slider.setValue(self._position(current))
        self.slider.valueChanged.connect(self._moved)
        row.addWidget(self.slider, 1)
        self.value_label = QtWidgets.QLabel(_fmt(current, param.integer))
        self.value_label.setMinimumWidth(40)
        self.value_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.value_label)

    def _position(self, value: float) -> int:
        p = self.param
        f = (value - p.minimum) / (p.maximum - p.minimum)
        return int(round(min(max(f, 0.0), 1.0) * self.slider.maximum()))

    def value_at(self, position: int) -> float:
        p = self.param
        return p.minimum + (p.maximum - p.minimum) * position / self.slider.maximum()

    def _moved(self, position: int) -> None:
        v = self.value_at(position)
        self.param.set(v)
        self.value_label.setText(_fmt(self.param.get(), self.param.integer))


class VoiceChainControls(QtWidgets.QWidget):
    """One :class:`ParameterSlider` per parameter of ``chain``, grouped by plugin."""

    def __init__(self, chain=None, parent=None):
        super().__init__(parent)
        self.params = chain_parameters(chain)
        self.sliders: list[ParameterSlider] = []
        col = QtWidgets.QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        owner = None
        for prm in self.params:
            if prm.owner != owner:
                owner = prm.owner
                head = QtWidgets.QLabel(owner)
                head.setStyleSheet("color: #8a8a96; font-weight: bold; padding-top: 3px;")
                col.addWidget(head)
            s = ParameterSlider(prm)
            self.sliders.append(s)
            col.addWidget(s)
        if not self.params:
            col.addWidget(QtWidgets.QLabel("no adjustable parameters" if chain is not None else "no voice chain"))
        col.addStretch(1)

    def slider(self, name: str) -> ParameterSlider:
        """The control of parameter ``name`` (the first one, if several plugins share it)."""
        for s in self.sliders:
            if s.param.name == name:
                return s
        raise KeyError(name)

