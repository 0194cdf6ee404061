"""What separates, as the live window names it (the Model box, the readout, the status line).

Read from the host as it was built, never from a list of names kept here: a song separated
ahead of the playhead names the producer's stem stream (``describe()`` when the producer
exposes it, else its ``name``); a streaming engine names its separator through the
separator's ``describe()`` (the recurrent models, a switch of the two, and any separator
added later that describes itself the same way), else the processor's ``name`` or class.
The delay is the engine's true algorithmic latency (``host.latency()``), whatever the
separator says of itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SeparatorInfo:
    """What separates the stream the window shows.

    Attributes:
        name: the model's name (``describe()["model"]["name"]``, a producer's or a
            processor's name, the class name at worst).
        ahead: the song plays from stems separated ahead of the playhead.
        latency_ms: the engine's algorithmic latency (0 ahead of the playhead).
        untrained: the model is the untrained placeholder.
        point: the operating point of a recurrent model ("low"/"quality") or the ladder point
            of a streaming U-Net, as the separator describes it; else ``None``.
        points: ``{point: model name}`` when the point can change mid-stream (a switch).
        file: the model file's name when the description gives its path.
    """

    name: str
    ahead: bool = False
    latency_ms: float = 0.0
    untrained: bool = False
    point: str | None = None
    points: dict = field(default_factory=dict)
    file: str | None = None

    @property
    def label(self) -> str:
        """One line for the Model box: ``unet (ahead)``, ``release-low · 12.0 ms``."""
        text = f"{self.name} (ahead)" if self.ahead else f"{self.name} · {self.latency_ms:.1f} ms"
        return text + (" (untrained)" if self.untrained and "placeholder" not in self.name else "")

    @property
    def short(self) -> str:
        """The readout's model row: the name, where it runs and its operating point."""
        text = f"{self.name} (ahead)" if self.ahead else self.name
        text += " (untrained)" if self.untrained and "placeholder" not in self.name else ""
        return text + (f" [{self.point}]" if self.point else "")


def describe(obj) -> dict:
    """``obj.describe()`` if it has one that answers with a dict, else ``{}``."""
    fn = getattr(obj, "describe", None)
    if not callable(fn):
        return {}
    try:
        d = fn()
    except Exception:  # noqa: BLE001 - a name is a nicety; the window keeps running
        return {}
    return d if isinstance(d, dict) else {}


def _model_of(d: dict) -> dict:
    m = d.get("model")
    return m if isinstance(m, dict) else {}


def separator_info(host) -> SeparatorInfo:
    """A :class:`SeparatorInfo` for ``host`` (a ``LiveHost`` or anything shaped like one)."""
    ahead = getattr(host, "ahead", None)
    if ahead is not None:
        producer = getattr(ahead, "producer", None)
        d = describe(getattr(producer, "stems", None)) or describe(producer)
        m = _model_of(d)
        name = m.get("name") or d.get("name") or getattr(producer, "name", None) or "song"
        return SeparatorInfo(str(name), ahead=True, file=_file(m.get("path")))
    sep = getattr(host, "separator", None)
    obj = sep if sep is not None else getattr(host, "plugin", None)
    d = describe(obj)
    m = _model_of(d)
    name = (m.get("name") or d.get("name") or d.get("separator") or getattr(obj, "name", None)
            or type(obj).__name__)
    try:
        latency_ms = float(host.latency()["algorithmic_ms"])
    except Exception:  # noqa: BLE001
        latency_ms = float(d.get("latency_ms") or 0.0)
    models = d.get("models")
    point = d.get("operating_point") or d.get("ladder_point")  # a recurrent switch's, a U-Net stream's
    if point is None and m.get("lookahead_frames") is not None:  # a recurrent model: its point
        point = "quality" if m["lookahead_frames"] else "low"
    return SeparatorInfo(str(name), latency_ms=latency_ms, untrained=bool(m.get("placeholder")),
                         point=point, points=dict(models) if isinstance(models, dict) else {},
                         file=_file(m.get("path")))


def _file(path) -> str | None:
    return Path(str(path)).name if path else None
