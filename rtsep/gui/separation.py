"""The live window's pictures of the separation: spectrograms of the input and of the
separated vocals, and the separator's vocal activity, drawn from the host's taps.

When the host separates a song ahead of the playhead (``host.ahead`` is set) the
"separated vocals" picture is its vocal stem tap (``taps.vocals``), at the input's times.
Otherwise it is derived from the two taps, not from a third tap: the host's output is ``out = (g_v - g_a) * vocals + g_a * dry`` where ``dry`` is the input
``D = algorithmic + hand-off`` samples late, so ``vocals = (out - g_a * dry) / (g_v - g_a)``
(karaoke: ``dry - out``; vocals: ``out``). Where that is undefined (bypass, or mix with
equal gains) the second picture shows the output itself and says so.
"""

from __future__ import annotations

import collections

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from .canvas import PaintCounter, PlotCanvas
from .spectrogram import ColumnRing, PixelRingItem, ScrollingSpectrogram

DB_LEVELS = (-90.0, -10.0)


class SeparationView:
    """Spectrograms and the vocal-activity strip of one host, in :attr:`graphics`.

    Everything runs on the GUI thread: :meth:`update` consumes what is new in the taps and
    analyses only the new display frames; :meth:`bind` points it at a (re)built host.
    """

    VAD_LIT_RGB = (0xFF, 0xB0, 0x2E)
    VAD_DIM_RGB = (0x3A, 0x6E, 0xA5)
    VAD_BG_RGB = (0x15, 0x17, 0x1E)
    _VAD_LIT = np.uint32(0xFFFFB02E)   # amber: at or above the threshold
    _VAD_DIM = np.uint32(0xFF3A6EA5)   # blue: below
    _VAD_BG = np.uint32(0xFF15171E)
    _VAD_BG_LIT = np.uint32(0xFF3A2A14)

    def __init__(self, parent=None):
        self.host = None
        self.graphics = PlotCanvas()
        self.graphics.ci.setSpacing(4)
        self.paint_counter = PaintCounter(parent)
        self.graphics.viewport().installEventFilter(self.paint_counter)
        self.vad_received: collections.deque = collections.deque(maxlen=1 << 15)  # (input sample, vad)
        self.time_offset = 0
        self.now = 0

    # ------------------------------------------------------------------ construction
    def bind(self, host) -> None:
        """(Re)create the plots for ``host``'s rate and latency and start reading its taps."""
        self.host = host
        self._build_plots()
        self.reset_readers()

    def _build_plots(self) -> None:
        host = self.host
        g = self.graphics
        g.clear()
        cmap = pg.colormap.get("inferno")
        sr = host.sample_rate
        self.delay = int(host.algorithmic_latency + host.handoff_latency)
        # The song separated ahead: the stems are tapped (the output also holds the microphone).
        self.stem_tap = getattr(host, "ahead", None) is not None and hasattr(host.taps, "vocals")
        p_in = g.addPlot(row=0, col=0)
        p_in.setTitle("input", size="10pt")
        self.spec_in = ScrollingSpectrogram(p_in, sr, levels=DB_LEVELS, cmap=cmap)
        p_out = g.addPlot(row=1, col=0)
        p_out.setTitle("separated vocals" + (" (stem at the playhead)" if self.stem_tap else ""), size="10pt")
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
        self.now = 0
        self._out_title = None

    def _fit_time_axis(self, vb) -> None:
        w = max(1.0, vb.width())
        vb.setXRange(-w * self.spec_in.seconds_per_column, 0.0, padding=0)

    def _levels_changed(self, bar) -> None:
        lv = bar.levels()
        self.spec_in.set_levels(lv)
        self.spec_out.set_levels(lv)

    def reset_readers(self) -> None:
        taps = self.host.taps
        self._in_pos = taps.input.read_count   # next input sample expected
        self._out_pos = taps.output.read_count
        self._hist = np.zeros(0, dtype=np.float32)  # mono input from _hist_start
        self._hist_start = self._in_pos
        self._pending = np.zeros(0, dtype=np.float32)  # output waiting for its dry input
        self._pending_start = self._out_pos
        if self.stem_tap:
            self._vocals_pos = taps.vocals.read_count
        self.time_offset = taps.input.write_count
        self.spec_in.reset(self._in_pos)
        self.spec_out.reset(self._vocals_pos if self.stem_tap else self._out_pos)
        self.vad_sum.reset()
        self.vad_item.invalidate()
        self._vad_dirty = None

    # ------------------------------------------------------------------ per tick
    def update(self) -> None:
        """Consume the new audio and vad, redraw (GUI thread)."""
        taps = self.host.taps
        # Input first, then output (the callback writes input first, so the output never
        # runs ahead of the input we hold, by more than a block).
        x = taps.input.read_new()
        x_start = taps.input.read_count - len(x)
        y = taps.output.read_new()
        y_start = taps.output.read_count - len(y)
        if len(x):
            xm = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
            if x_start != self._in_pos:  # the ring lapped us (GUI stalled > ring length)
                self._hist = np.zeros(0, dtype=np.float32)
                self._hist_start = x_start
            if not self.stem_tap:  # the dry input, for deriving the vocals from the output (trimmed there);
                # with the stem tap nothing reads or trims it: kept, it grew 192 kB/s (345 MB in 30 min)
                self._hist = np.concatenate((self._hist, xm)) if len(self._hist) else xm
            self._in_pos = x_start + len(x)
            self.spec_in.feed(xm, x_start)
        if self.stem_tap:
            v = taps.vocals.read_new()
            if len(v):
                self.spec_out.feed(v.mean(axis=1) if v.shape[1] > 1 else v[:, 0], taps.vocals.read_count - len(v))
            y = y[:0]  # the output holds the microphone too: not a source of the vocals
        if len(y):
            ym = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
            if y_start != self._pending_start + len(self._pending):
                self._pending = np.zeros(0, dtype=np.float32)
                self._pending_start = y_start
            self._pending = np.concatenate((self._pending, ym)) if len(self._pending) else ym
            self._out_pos = y_start + len(y)
        self._derive_vocals()
        self._read_vad()
        self.now = self._in_pos
        self.spec_in.redraw(self.now)
        self.spec_out.redraw(self.now)
        self.vad_item.sync(self._vad_dirty)
        self._vad_dirty = None

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
        samples = times + self.time_offset
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

    def _vad_column_x(self, c: int) -> float:
        return ((c + 0.5) * self.vad_hop - self.now) / self.host.sample_rate

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

    def strip_pixels(self, times_s, level: float = 0.5) -> tuple[np.ndarray, int]:
        """Window pixel x of each time (s relative to now) on the vocal-activity strip, and
        the window pixel y of ``level`` (0..1) there: for checks of a screenshot."""
        vb = self.vad_plot.getViewBox()
        top = self.graphics.window()
        xs = []
        y = 0
        for t in np.atleast_1d(times_s):
            sp = vb.mapViewToScene(QtCore.QPointF(float(t), float(level)))
            vp = self.graphics.mapFromScene(sp)
            wp = self.graphics.viewport().mapTo(top, vp)
            xs.append(wp.x())
            y = wp.y()
        return np.array(xs), y

    def teardown(self) -> None:
        self.graphics.viewport().removeEventFilter(self.paint_counter)
        self.graphics.teardown()
