"""The karaoke pitch lane: the song's melody around the playhead, the singer's pitch on it,
the octave-folded error in cents, and the running score.

Time runs left to right in seconds relative to the playhead (0 = what is heard now): the
past ``past_s`` seconds and ``ahead_s`` seconds of melody still to come, so the singer sees
the next notes. Pitch is in semitones (MIDI note numbers, labelled C3, C4, ...).

* **reference**: the melody of the song's separated vocals (``times_s``/``f0_hz``, 0 Hz =
  unvoiced), a thick line with gaps where nobody sings;
* **singer**: the microphone's pitch, *folded into the reference's octave* (a singer an
  octave below the record scores as right, so it is drawn on the line): green within
  ``tolerance_cents`` of the melody, red outside, grey where the melody is silent;
* **error**: a small plot under it of the folded error in cents (clipped to ±300), with the
  tolerance band shaded;
* **score**: the host's running score, in the header.

Everything runs on the GUI thread. The data arrive through :meth:`PitchLane.set_reference`
and :meth:`PitchLane.add_singer` (a test or a stand-in can feed them without a host);
:meth:`PitchLane.redraw` draws the window around a playhead time. The curves hold only the
visible frames (a few hundred points).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from .canvas import PlotCanvas
from .strokes import ThickCurve

NOTE_NAMES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")
REF_RGB = (90, 150, 255)
ON_RGB = (70, 220, 110)
OFF_RGB = (255, 90, 70)
FREE_RGB = (150, 150, 160)
ERROR_LIMIT_CENTS = 300.0  # the error plot's range; larger errors are drawn at its edge


def hz_to_midi(f0_hz: np.ndarray) -> np.ndarray:
    """MIDI note number of each frequency (NaN where ``f0_hz <= 0``: unvoiced)."""
    f = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, 69.0 + 12.0 * np.log2(f / 440.0), np.nan)


def fold_cents(cents: np.ndarray) -> np.ndarray:
    """Cents folded into one octave, -600..600 (an octave off counts as right)."""
    c = np.asarray(cents, dtype=np.float64)
    return (c + 600.0) % 1200.0 - 600.0


def note_name(midi: float) -> str:
    m = int(round(midi))
    return f"{NOTE_NAMES[m % 12]}{m // 12 - 1}"


class _History:
    """Growing ``(time_s, value)`` columns appended in time order (amortised doubling)."""

    def __init__(self, width: int, capacity: int = 4096):
        self.data = np.zeros((capacity, width), dtype=np.float64)
        self.n = 0

    def append(self, rows: np.ndarray) -> None:
        k = len(rows)
        if self.n + k > len(self.data):
            grown = np.zeros((max(2 * len(self.data), self.n + k), self.data.shape[1]))
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:self.n + k] = rows
        self.n += k

    def window(self, t0: float, t1: float) -> np.ndarray:
        d = self.data[:self.n]
        i0, i1 = np.searchsorted(d[:, 0], (t0, t1))
        return d[i0:i1]

    def clear(self) -> None:
        self.n = 0


class PitchLane(QtWidgets.QWidget):
    """Scrolling pitch lane (see module doc).

    Args:
        past_s: seconds of history left of the playhead.
        ahead_s: seconds of melody shown right of the playhead.
        tolerance_cents: the singer is "on pitch" within this folded error (the score's 50).
    """

    def __init__(self, past_s: float = 6.0, ahead_s: float = 3.0, tolerance_cents: float = 50.0, parent=None):
        super().__init__(parent)
        self.past_s, self.ahead_s = float(past_s), float(ahead_s)
        self.tolerance_cents = float(tolerance_cents)
        self.ref_times_s = np.zeros(0)
        self.ref_midi = np.zeros(0)
        self._ref_hop_s = 0.05
        self._singer = _History(3)  # time_s, folded singer midi (NaN unvoiced), folded error cents
        self.score: float | None = None
        self.now_s = 0.0
        self._y_range = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        head = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel("PITCH")
        title.setStyleSheet("color: #8a8a96; font-weight: bold;")
        head.addWidget(title)
        self.note_label = QtWidgets.QLabel("–")
        self.note_label.setStyleSheet("color: #d0d0d8;")
        self.note_label.setToolTip("the singer's note now and its folded distance from the melody")
        head.addWidget(self.note_label)
        head.addStretch(1)
        self.score_label = QtWidgets.QLabel("score –")
        self.score_label.setStyleSheet("color: #ffd070; font-size: 15px; font-weight: bold;")
        self.score_label.setToolTip("share of the melody's voiced frames so far that the singer hit "
                                    f"within {self.tolerance_cents:g} cents (octave-folded)")
        head.addWidget(self.score_label)
        layout.addLayout(head)

        self.canvas = PlotCanvas()
        self.canvas.ci.setSpacing(0)
        layout.addWidget(self.canvas, 1)
        self._build_plots()

    # ------------------------------------------------------------------ construction
    def _build_plots(self) -> None:
        c = self.canvas
        p = self.plot = c.addPlot(row=0, col=0)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        p.setMenuEnabled(False)
        p.showGrid(x=False, y=True, alpha=0.15)
        p.setXRange(-self.past_s, self.ahead_s, padding=0)
        # A view box laid out while hidden (the lane appears with a karaoke host) forgets it.
        p.getViewBox().sigResized.connect(self._fit_time_axis)
        p.getAxis("left").setWidth(48)
        p.getAxis("bottom").setStyle(showValues=False)
        p.addItem(pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen((230, 230, 235, 160), width=1)))
        # Thick lines as one-pixel strokes: short paint calls (rtsep.gui.strokes says why).
        self.ref_curve = ThickCurve(REF_RGB + (150,), 9, connect="finite", skipFiniteCheck=True)
        self.singer_curves = {}
        p.addItem(self.ref_curve)
        for key, rgb in (("free", FREE_RGB), ("off", OFF_RGB), ("on", ON_RGB)):
            curve = ThickCurve(rgb, 3, connect="finite", skipFiniteCheck=True)
            self.singer_curves[key] = curve
            p.addItem(curve)

        e = self.err_plot = c.addPlot(row=1, col=0)
        e.setMouseEnabled(x=False, y=False)
        e.hideButtons()
        e.setMenuEnabled(False)
        e.setXLink(p)
        lim = ERROR_LIMIT_CENTS
        e.setYRange(-lim, lim, padding=0)
        e.getAxis("left").setWidth(48)
        e.getAxis("left").setTicks([[(-lim, f"-{lim:g}"), (0, "0"), (lim, f"+{lim:g}")]])
        e.setLabel("left", "¢")
        e.setLabel("bottom", "time (s), 0 = playhead · singer octave-folded onto the melody")
        tol = self.tolerance_cents
        band = pg.LinearRegionItem((-tol, tol), orientation="horizontal", movable=False,
                                   brush=pg.mkBrush(ON_RGB + (45,)), pen=pg.mkPen(None))
        e.addItem(band)
        e.addItem(pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen((230, 230, 235, 160), width=1)))
        self.err_curve = ThickCurve((255, 200, 90), 2, connect="finite", skipFiniteCheck=True)
        e.addItem(self.err_curve)
        c.ci.layout.setRowStretchFactor(0, 4)
        c.ci.layout.setRowStretchFactor(1, 1)
        self._set_y_range(57.0, 72.0)

    def _fit_time_axis(self, *_) -> None:
        want = (-self.past_s, self.ahead_s)
        got = self.plot.viewRange()[0]
        if abs(got[0] - want[0]) > 1e-6 or abs(got[1] - want[1]) > 1e-6:
            self.plot.setXRange(*want, padding=0)
        if self._y_range is not None and self.plot.viewRange()[1] != list(self._y_range):
            self.plot.setYRange(*self._y_range, padding=0)

    def _set_y_range(self, lo: float, hi: float) -> None:
        lo, hi = float(np.floor(lo)), float(np.ceil(hi))
        if hi - lo < 12:  # at least an octave, centred
            mid = 0.5 * (lo + hi)
            lo, hi = np.floor(mid - 6), np.ceil(mid + 6)
        if self._y_range == (lo, hi):
            return
        self._y_range = (lo, hi)
        self.plot.setYRange(lo, hi, padding=0)
        # Every natural note on a narrow lane, C E G A on a wider one, only the Cs beyond.
        span = hi - lo
        names = ("C", "D", "E", "F", "G", "A", "B") if span <= 14 else (("C", "E", "G", "A") if span <= 26 else ("C",))
        ticks = [(m, note_name(m)) for m in range(int(lo), int(hi) + 1) if NOTE_NAMES[m % 12] in names]
        self.plot.getAxis("left").setTicks([ticks])

    # ------------------------------------------------------------------ data in
    def set_reference(self, times_s, f0_hz) -> None:
        """The melody so far (song seconds, Hz with 0 = unvoiced), replacing the previous one
        (it may grow as the host computes it ahead of the playhead)."""
        t = np.asarray(times_s, dtype=np.float64)
        if len(t) != len(np.asarray(f0_hz)):
            raise ValueError("times_s and f0_hz differ in length")
        self.ref_times_s = t
        self.ref_midi = hz_to_midi(f0_hz)
        self._ref_hop_s = float(np.median(np.diff(t))) if len(t) > 1 else 0.05
        voiced = self.ref_midi[np.isfinite(self.ref_midi)]
        if len(voiced):
            self._set_y_range(np.percentile(voiced, 2) - 3, np.percentile(voiced, 98) + 3)

    def reference_at(self, times_s) -> np.ndarray:
        """The melody's MIDI pitch at each time (the nearest reference frame; NaN unvoiced
        or outside the reference)."""
        t = np.asarray(times_s, dtype=np.float64)
        rt = self.ref_times_s
        if len(rt) == 0:
            return np.full(t.shape, np.nan)
        i = np.clip(np.searchsorted(rt, t), 0, len(rt) - 1)
        j = np.maximum(i - 1, 0)
        i = np.where(np.abs(rt[j] - t) < np.abs(rt[i] - t), j, i)
        return np.where(np.abs(rt[i] - t) <= self._ref_hop_s, self.ref_midi[i], np.nan)

    def add_singer(self, times_s, f0_hz) -> None:
        """New frames of the singer's pitch (song seconds, in time order; 0 Hz = unvoiced)."""
        t = np.asarray(times_s, dtype=np.float64)
        f = np.asarray(f0_hz, dtype=np.float64)
        back = np.flatnonzero(np.diff(t) < 0)
        if len(back):  # the song looped within these frames: keep the new pass
            t, f = t[back[-1] + 1:], f[back[-1] + 1:]
        if not len(t):
            return
        if self._singer.n and t[0] < self._singer.data[self._singer.n - 1, 0]:
            self._singer.clear()  # the song was rewound (or looped): start a new trace
        sung = hz_to_midi(f)
        ref = self.reference_at(t)
        err = fold_cents(100.0 * (sung - ref))
        # The singer drawn in the melody's octave where there is a melody, as sung elsewhere.
        shown = np.where(np.isfinite(ref), ref + err / 100.0, sung)
        self._singer.append(np.column_stack((t, shown, err)))

    def set_singer(self, times_s, f0_hz) -> None:
        """Replace the singer's trace by these frames (e.g. the host's last seconds)."""
        self._singer.clear()
        self.add_singer(times_s, f0_hz)

    def set_score(self, score: float | None, detail: str = "") -> None:
        """The running score in percent (``None``: nothing scored yet)."""
        self.score = None if score is None else float(score)
        text = "score –" if score is None else f"score {score:.0f} %"
        if detail:
            text += f"  ({detail})"
        if text != self.score_label.text():
            self.score_label.setText(text)

    def clear_singer(self) -> None:
        self._singer.clear()

    # ------------------------------------------------------------------ drawing
    def visible(self) -> dict:
        """What :meth:`redraw` draws: x relative to the playhead, in seconds."""
        now = self.now_s
        t0, t1 = now - self.past_s, now + self.ahead_s
        rt = self.ref_times_s
        i0, i1 = np.searchsorted(rt, (t0, t1))
        s = self._singer.window(t0, now + 1e-9)
        err_ok = np.abs(s[:, 2]) <= self.tolerance_cents
        has_ref = np.isfinite(s[:, 2])
        return {"ref_x": rt[i0:i1] - now, "ref_y": self.ref_midi[i0:i1],
                "singer_x": s[:, 0] - now, "singer_y": s[:, 1], "error_cents": s[:, 2],
                "on": has_ref & err_ok, "off": has_ref & ~err_ok, "free": ~has_ref}

    def redraw(self, now_s: float) -> None:
        """Draw the lane around playhead ``now_s`` (song seconds)."""
        self.now_s = float(now_s)
        self._fit_time_axis()
        v = self.visible()
        self.ref_curve.setData(v["ref_x"], v["ref_y"])
        x, y = v["singer_x"], v["singer_y"]
        for key, curve in self.singer_curves.items():
            curve.setData(x, np.where(v[key], y, np.nan))
        lim = ERROR_LIMIT_CENTS
        self.err_curve.setData(x, np.clip(v["error_cents"], -lim, lim))
        last = np.flatnonzero(np.isfinite(y))
        if len(last) and x[last[-1]] > -0.3:
            j = last[-1]
            e = v["error_cents"][j]
            text = note_name(y[j]) + ("" if not np.isfinite(e) else f"  {e:+.0f} ¢")
        else:
            text = "–"
        if text != self.note_label.text():
            self.note_label.setText(text)
        self.canvas.scene().prepareForPaint()

    def pixel_of(self, x_s: float, midi: float) -> QtCore.QPoint:
        """Pixel of a lane point ``(x_s relative to the playhead, MIDI)`` in this widget (for
        checks of a screenshot)."""
        sp = self.plot.getViewBox().mapViewToScene(QtCore.QPointF(float(x_s), float(midi)))
        vp = self.canvas.mapFromScene(sp)
        return self.canvas.viewport().mapTo(self, vp)

    def teardown(self) -> None:
        self.canvas.teardown()
