"""The live window's readout panel: latency, audio health, separator and display figures,
refreshed a few times a second from the host (never from the audio thread)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtWidgets

from .canvas import side_panel

READOUT_ROWS = (
    ("LATENCY", (("alg", "algorithmic"), ("handoff", "hand-off"), ("device", "device in + out"),
                 ("total", "total"))),
    ("AUDIO", (("state", "state"), ("block", "block"), ("load", "callback load"), ("dropouts", "dropouts"),
               ("misses", "deadline misses"), ("fallbacks", "dry fallbacks"))),
    ("SEPARATOR", (("model", "model"), ("mode", "mode"), ("vad", "vocal activity"), ("stft", "STFT"),
                   ("ahead", "stems ahead"))),
    ("DISPLAY", (("fps", "GUI"), ("paints", "repaints"), ("tick", "tick"), ("sched", "GUI thread"))),
)


class RecentLoad:
    """Mean and max callback load since the previous call, from the host stats' time ring."""

    def __init__(self):
        self._seen = None
        self._load = (0.0, 0.0)

    def __call__(self, stats) -> tuple[float, float]:
        c1 = stats.callbacks
        c0 = c1 if self._seen is None else self._seen
        self._seen = c1
        times = getattr(stats, "_times", None)
        hist = getattr(stats, "_history", 0)
        if times is None or c1 <= c0 or not stats.period_s:
            return (stats.last_load, stats.last_load) if c1 > c0 else self._load
        n = min(c1 - c0, hist)
        idx = np.arange(c1 - n, c1) % hist
        t = times[idx] / stats.period_s
        self._load = (float(t.mean()), float(t.max()))
        return self._load


def model_name(host) -> tuple[str, bool]:
    """``(file stem or processor class, untrained)`` of the host's separator (the model of
    the producer when the song is separated ahead of the playhead)."""
    card = getattr(host.separator, "card", None)
    ahead = getattr(host, "ahead", None)
    if card is not None:
        name = Path(str(card.path)).stem
    elif ahead is not None:
        name = f"{_producer(ahead, 'name', 'song')} (ahead)"
    else:
        name = type(host.plugin).__name__
    return name, bool(getattr(card, "placeholder", False))


def _producer(ahead, attr: str, default):
    """An attribute of the ahead engine's producer (the separation thread)."""
    return getattr(getattr(ahead, "producer", None), attr, default)


class ReadoutPanel(QtWidgets.QFrame):
    """A grid of labelled values (:data:`READOUT_ROWS`); :meth:`set` changes one value."""

    def __init__(self, rows=READOUT_ROWS, width: int = 270, parent=None):
        super().__init__(parent)
        side_panel(self, "readout", width)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QtWidgets.QLabel] = {}
        self.recent_load = RecentLoad()
        r = 0
        for head, keys in rows:
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

    def set(self, key: str, text: str, bad: bool = False) -> None:
        """Update one value (only when it changed: relayout costs GUI time)."""
        lab = self.values[key]
        if lab.text() != text:
            lab.setText(text)
        if bool(lab.property("bad")) != bad:
            lab.setProperty("bad", bad)
            lab.setStyleSheet(f"color: {'#ff7060' if bad else '#f0f0f5'}; font-weight: bold;")

    def show_host(self, host, vad_threshold: float) -> None:
        """Latency, audio, separator rows from ``host``."""
        st = host.stats
        lat = host.latency()
        mean, peak = self.recent_load(st)
        sr = host.sample_rate
        self.set("alg", f"{lat['algorithmic_ms']:.1f} ms")
        self.set("handoff", f"{lat['handoff_ms']:.1f} ms")
        self.set("device", f"{lat['device_ms']:.1f} ms")
        self.set("total", f"{lat['total_ms']:.1f} ms")
        self.set("state", "streaming" if host.running else "stopped", not host.running)
        self.set("block", f"{host.blocksize} @ {sr / 1000:g} kHz = {1000 * host.blocksize / sr:.2f} ms")
        self.set("load", f"{100 * mean:.0f}% avg · {100 * peak:.0f}% max", peak > 0.8)
        self.set("dropouts", str(st.dropouts), st.dropouts > 0)
        self.set("misses", str(st.deadline_misses), st.deadline_misses > 0)
        self.set("fallbacks", str(st.fallback_blocks), st.fallback_blocks > 0)
        name, untrained = model_name(host)
        point = host.operating_point
        self.set("model", name + (" (untrained)" if untrained and "placeholder" not in name else "")
                 + (f" [{point}]" if point else ""), untrained)
        mode = host.mode
        if mode == "mix":
            mode += f" {host.vocals_db:+.0f} / {host.accompaniment_db:+.0f} dB"
        self.set("mode", mode)
        last = host.taps.vad.latest()
        v = float(last[1][0]) if last is not None else 0.0
        self.set("vad", f"{v:.2f}" + ("  ● voice" if v >= vad_threshold else ""))
        sep = host.separator
        if sep is not None and hasattr(sep, "stft"):
            self.set("stft", f"{1000 * sep.stft.n_fft / sr:.0f} ms window, {1000 * sep.stft.hop / sr:.0f} ms hop")
        else:
            self.set("stft", "–")
        ahead = getattr(host, "ahead", None)
        if ahead is not None:
            least = ahead.min_ahead_s
            self.set("ahead", f"{ahead.ahead_s:.1f} s" + ("" if least is None else f" (least {least:.1f})")
                     + f" · {_producer(ahead, 'speed_x', 0.0):.0f}x", least is not None and least <= 0)
        else:
            self.set("ahead", "–")

    def show_display(self, fps: float, target_fps: float, running: bool, paint_fps: float, tick_ms: float,
                     sched: str) -> None:
        """The display row: the window's own figures."""
        self.set("fps", f"{fps:.0f} fps", running and 0 < fps < 0.75 * target_fps)
        self.set("paints", f"{paint_fps:.0f} /s")
        self.set("tick", f"{tick_ms:.1f} ms avg")
        self.set("sched", sched)
