"""The live window's readout panel: latency, audio health, separator and display figures,
refreshed a few times a second from the host (never from the audio thread).

Whose fault a click is: **server xruns** are the xruns the audio server reported (PortAudio's
under/overflow flags; on JACK, PortAudio raises them on the callback after each of the
server's xrun notifications, whoever was late: the server's own clock, another client or
ours); **rtsep misses** are rtsep's own deadlines: blocks the separator did not have ready
(played dry, or silent ahead of the playhead) and audio callbacks of ours that ran past
their block period. Only the second is red.
"""

from __future__ import annotations

import numpy as np
from pyqtgraph.Qt import QtWidgets

from .canvas import side_panel
from .modelinfo import separator_info

READOUT_ROWS = (
    ("LATENCY", (("alg", "algorithmic"), ("handoff", "hand-off"), ("device", "device in + out"),
                 ("total", "total"))),
    ("AUDIO", (("state", "state"), ("block", "block"), ("load", "callback load"), ("xruns", "server xruns"),
               ("misses", "rtsep misses"), ("fallbacks", "dry fallbacks"))),
    ("SEPARATOR", (("model", "model"), ("mode", "mode"), ("vad", "vocal activity"), ("stft", "STFT"),
                   ("ahead", "stems ahead"))),
    ("DISPLAY", (("fps", "GUI"), ("paints", "repaints"), ("tick", "tick"), ("sched", "GUI thread"))),
)

ROW_TIPS = {
    "xruns": "xruns the audio server (or device) reported: callbacks PortAudio flagged with an under/overflow. "
             "On JACK: the server's own clock late, another client late, or ours",
    "misses": "rtsep's own deadlines: blocks the separator did not have ready (played dry, or silent ahead of "
              "the playhead) and callbacks of ours past their block period",
}


class RecentLoad:
    """Mean and max callback load since the previous call, from the host stats' time ring,
    and :attr:`late`: callbacks so far that ran past their block period (counted from the
    same ring, so the audio thread does no more work for it)."""

    def __init__(self):
        self._stats = None
        self._seen = None
        self._load = (0.0, 0.0)
        self.late = 0

    def __call__(self, stats) -> tuple[float, float]:
        c1 = stats.callbacks
        if stats is not self._stats or (self._seen is not None and c1 < self._seen):  # new host, restart
            self._stats, self._seen, self.late = stats, None, 0
        c0 = 0 if self._seen is None else self._seen
        self._seen = c1
        times = getattr(stats, "_times", None)
        hist = getattr(stats, "_history", 0)
        if times is None or c1 <= c0 or not stats.period_s:
            return (stats.last_load, stats.last_load) if c1 > c0 else self._load
        n = min(c1 - c0, hist)
        idx = np.arange(c1 - n, c1) % hist
        t = times[idx] / stats.period_s
        self.late += int(np.count_nonzero(t > 1.0))
        self._load = (float(t.mean()), float(t.max()))
        return self._load


def rtsep_misses(host, late_callbacks: int) -> tuple[int, str]:
    """``(count, breakdown)`` of rtsep's own missed deadlines: the stats' deadline misses
    (a worker's block not ready, the song's stems not there, an inline callback past its
    period) plus, when the separator runs off the callback (worker or ahead), callbacks that
    ran past their period (an inline callback's is already a deadline miss)."""
    misses = int(host.stats.deadline_misses)
    off_callback = bool(getattr(host, "worker", False)) or getattr(host, "ahead", None) is not None
    late = int(late_callbacks) if off_callback else 0
    return misses + late, f"{misses} blocks not ready in time, {late} callbacks past their period"


def server_xruns(host) -> tuple[int, str]:
    """``(count, row label)`` of the xruns the audio server (or device) reported: PortAudio's
    under/overflow flags (``stats.dropouts``). On JACK PortAudio raises them on the callback
    after the server's xrun notification, so several xruns in one cycle count once."""
    on_jack = any(getattr(host, "jack_ports", {}).values())
    return int(host.stats.dropouts), "server xruns" if on_jack or not host.running else "device xruns"


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
        self.keys: dict[str, QtWidgets.QLabel] = {}
        self.recent_load = RecentLoad()
        self._info = None
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
                self.keys[key] = k
                r += 1
        grid.setRowStretch(r, 1)
        for key, tip in ROW_TIPS.items():
            if key in self.keys:
                self.keys[key].setToolTip(tip)

    def set(self, key: str, text: str, bad: bool = False) -> None:
        """Update one value (only when it changed: relayout costs GUI time)."""
        lab = self.values[key]
        if lab.text() != text:
            lab.setText(text)
        if bool(lab.property("bad")) != bad:
            lab.setProperty("bad", bad)
            lab.setStyleSheet(f"color: {'#ff7060' if bad else '#f0f0f5'}; font-weight: bold;")

    def separator(self, host):
        """:func:`~rtsep.gui.modelinfo.separator_info` of ``host``, asked again only when the
        host, its separator or its operating point changed (``describe()`` is not free)."""
        sep = getattr(host, "separator", None)
        key = (id(host), id(sep), getattr(sep, "point", None))
        if self._info is None or self._info[0] != key:
            self._info = (key, separator_info(host))
        return self._info[1]

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
        xruns, label = server_xruns(host)
        if self.keys["xruns"].text() != label:
            self.keys["xruns"].setText(label)
        self.set("xruns", str(xruns))  # not red: rtsep's part in them is the next row
        misses, why = rtsep_misses(host, self.recent_load.late)
        self.set("misses", str(misses), misses > 0)
        self.values["misses"].setToolTip(why)
        self.set("fallbacks", str(st.fallback_blocks), st.fallback_blocks > 0)
        info = self.separator(host)
        self.set("model", info.short, info.untrained)
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
