"""Scrolling log-frequency spectrograms for the live GUI.

Two parts, both used on the GUI thread only:

* :class:`IncrementalSpectrogram` turns a stream of samples into dB columns on a
  log-frequency axis, analysing only the frames that the new samples complete (NumPy, a
  few FFTs per timer tick).
* :class:`ColumnRing` keeps the last ``n_cols`` columns of any width in a doubled buffer,
  so the newest ``n_cols`` are always one contiguous view (no copy per frame), each column
  with its stream time.
* :class:`PixelRingItem` draws a ``ColumnRing`` into a ViewBox as a ring of *screen
  pixels*, one pixel column per data column, rendering only the new columns and painting
  with two unscaled blits (see below).
* :class:`ScrollingSpectrogram` is a pyqtgraph ``PlotItem`` showing a spectrogram that way,
  with x = seconds relative to now and y labelled in Hz.

Why pixel rings: Qt for Python keeps the GIL while Qt paints, and a scaled
``QPainter.drawImage`` of a spectrogram (what ``pg.ImageItem`` does) takes milliseconds on a
loaded machine, during which the audio callback cannot run Python. Here the colour lookup
of a new column is a few hundred NumPy element operations, and each repaint is a plain
copy of pixels (~10 µs).
"""

from __future__ import annotations

import numpy as np

from ..dsp.logspec import log_frequency_matrix


FRAMES_PER_FFT = 4  # frames per numpy FFT call in IncrementalSpectrogram.feed (~0.1 ms each)


def display_fft_size(sample_rate: float) -> tuple[int, int]:
    """``(n_fft, hop)`` for a display spectrogram: ~43 ms frames, 4x overlap."""
    n_fft = 1 << int(round(np.log2(max(256.0, 0.0427 * sample_rate))))
    return n_fft, n_fft // 4


class IncrementalSpectrogram:
    """Streaming log-frequency dB spectrogram of a mono signal.

    ``feed(x)`` appends samples and returns the ``(k, n_rows)`` dB columns of the frames
    they complete together with the index of each frame (frame ``j`` starts at sample
    ``j * hop`` of the stream). ``skip_to(sample)`` restarts after a gap.
    """

    def __init__(self, sample_rate: float, n_fft: int | None = None, hop: int | None = None,
                 n_rows: int = 160, f_min_hz: float = 40.0, floor_db: float = -120.0):
        d_fft, d_hop = display_fft_size(sample_rate)
        self.sample_rate = float(sample_rate)
        self.n_fft = int(n_fft or d_fft)
        self.hop = int(hop or (self.n_fft // 4 if n_fft else d_hop))
        self.n_rows = int(n_rows)
        m, self.freqs = log_frequency_matrix(self.n_fft // 2 + 1, sample_rate, n_rows, f_min_hz)
        self._mT = np.ascontiguousarray(m.T)  # (bins, rows)
        win = np.hanning(self.n_fft).astype(np.float32)
        self._win = win
        # Power of a full-scale sine -> 0 dB (same scaling as dsp.logspec.spectrogram_db).
        self._scale = np.float32(4.0 / float(win.sum()) ** 2)
        self._floor = np.float32(10 ** (floor_db / 10))
        self._buf = np.zeros(0, dtype=np.float32)
        self.next_frame = 0          # index of the next frame to produce
        self._buf_start = 0          # stream sample index of _buf[0]

    def skip_to(self, sample: int) -> None:
        """Forget buffered samples; the next ``feed`` starts at stream sample ``sample``."""
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = int(sample)
        self.next_frame = -(-int(sample) // self.hop)  # first frame starting at or after it

    def feed(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        buf = np.concatenate((self._buf, x)) if len(self._buf) else x
        start = self.next_frame * self.hop - self._buf_start  # offset of the next frame in buf
        if start < 0:  # (only after skip_to with a partial hop) pad with silence
            buf = np.concatenate((np.zeros(-start, np.float32), buf))
            self._buf_start -= -start
            start = 0
        avail = len(buf) - start
        k = 0 if avail < self.n_fft else 1 + (avail - self.n_fft) // self.hop
        cols = np.zeros((k, self.n_rows), dtype=np.float32)
        # A few frames per FFT call: numpy's FFT keeps the interpreter lock, which the audio
        # callback needs every block; after a stalled GUI tick there may be dozens of frames.
        for j0 in range(0, k, FRAMES_PER_FFT):
            j = np.arange(j0, min(k, j0 + FRAMES_PER_FFT))
            idx = start + np.arange(self.n_fft)[None, :] + self.hop * j[:, None]
            spec = np.fft.rfft(buf[idx] * self._win, axis=1)
            power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32) * self._scale
            rows = power @ self._mT
            np.maximum(rows, self._floor, out=rows)
            np.log10(rows, out=rows)
            np.multiply(rows, 10.0, out=cols[j0:j0 + len(j)])
        frames = np.arange(self.next_frame, self.next_frame + k, dtype=np.int64)
        self.next_frame += k
        keep_from = self.next_frame * self.hop - self._buf_start  # next frame's first sample
        keep_from = max(0, min(keep_from, len(buf)))
        self._buf = buf[keep_from:].copy()
        self._buf_start += keep_from
        return cols, frames

    def frame_center_sample(self, frame: np.ndarray | int):
        return np.asarray(frame) * self.hop + self.n_fft / 2.0


class ColumnRing:
    """The newest ``n_cols`` columns (``width`` values each) as one contiguous view.

    Each column is written twice (at ``i`` and ``i + n_cols``) so ``view()`` is a slice.
    Columns are addressed by an absolute index (e.g. the STFT frame number); writing
    column ``j`` after column ``i < j - 1`` fills the gap with ``fill``.
    """

    def __init__(self, n_cols: int, width: int, fill: float = 0.0, dtype=np.float32):
        self.n_cols = int(n_cols)
        self.width = int(width)
        self.fill = fill
        self._buf = np.full((2 * self.n_cols, self.width), fill, dtype=dtype)
        self.last = -1  # absolute index of the newest column written

    def reset(self) -> None:
        self._buf[:] = self.fill
        self.last = -1

    def write(self, first: int, cols: np.ndarray) -> None:
        """Write ``cols`` (k, width) as columns ``first .. first + k - 1``."""
        k = len(cols)
        if k == 0:
            return
        n = self.n_cols
        if self.last >= 0 and first > self.last + 1:  # gap: blank what was skipped
            gap = min(first - self.last - 1, n)
            self._put(first - gap, np.full((gap, self.width), self.fill, dtype=self._buf.dtype))
        if k > n:
            cols, first = cols[k - n:], first + k - n
        self._put(first, cols)
        self.last = max(self.last, first + len(cols) - 1)

    def _put(self, first: int, cols: np.ndarray) -> None:
        n = self.n_cols
        k = len(cols)
        i = first % n
        a = min(k, n - i)
        self._buf[i:i + a] = cols[:a]
        self._buf[i + n:i + n + a] = cols[:a]
        if a < k:
            self._buf[:k - a] = cols[a:]
            self._buf[n:n + k - a] = cols[a:]

    def view(self) -> np.ndarray:
        """``(n_cols, width)``: oldest column first, newest (index ``last``) last."""
        s = (self.last + 1) % self.n_cols
        return self._buf[s:s + self.n_cols]

    def column(self, index: int) -> np.ndarray | None:
        """Column ``index`` if still held, else ``None``."""
        if index > self.last or index <= self.last - self.n_cols or index < 0:
            return None
        return self._buf[index % self.n_cols]



def _pack_lut(cmap, n: int = 256) -> np.ndarray:
    """``(n,)`` uint32 0xAARRGGBB colours of a pyqtgraph ColorMap."""
    rgb = np.asarray(cmap.getLookupTable(nPts=n, mode="byte", alpha=False), dtype=np.uint32)
    return (np.uint32(0xFF000000) | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype(np.uint32)


def _qimage(buf: np.ndarray):
    from pyqtgraph.Qt import QtGui

    h, w = buf.shape
    img = QtGui.QImage(buf, w, h, 4 * w, QtGui.QImage.Format.Format_RGB32)
    img._keep = buf  # the QImage does not own the pixels: keep them alive with it
    return img


try:
    import pyqtgraph as _pg

    _GraphicsObject = _pg.GraphicsObject
except Exception:  # pragma: no cover - pyqtgraph is a dependency
    _GraphicsObject = object


class PixelRingItem(_GraphicsObject):
    """Shows the columns of a :class:`ColumnRing` in a ViewBox, one screen pixel per column.

    ``renderer(cols (k, width), height_px) -> (height_px, k) uint32`` turns data columns
    into pixel columns (top row first). ``column_x(j)`` gives the x (view coordinates) of
    column ``j``'s centre; the owner sets the view's x range to one column per pixel.
    ``sync()`` renders new (and ``dirty_from``) columns; ``paint`` only blits.
    """

    def __init__(self, ring: ColumnRing, renderer, column_x, y_range: tuple[float, float]):
        super().__init__()
        self.ring = ring
        self.renderer = renderer
        self.column_x = column_x
        self.y0, self.y1 = float(y_range[0]), float(y_range[1])
        self.W = self.H = 0
        self._buf = np.zeros((1, 1), dtype=np.uint32)
        self._img = None
        self._drawn = -1       # newest column rendered into the pixel ring
        self._want = (0, 0)    # pixel size seen by the last paint
        self.renders = 0
        self.blits = 0

    def boundingRect(self):  # noqa: N802 (Qt name)
        from pyqtgraph.Qt import QtCore

        vb = self.getViewBox()
        if vb is None:
            return QtCore.QRectF()
        r = vb.viewRect()
        return QtCore.QRectF(r.left(), self.y0, r.width(), self.y1 - self.y0)

    def _resize(self, w: int, h: int) -> None:
        self.W, self.H = max(1, w), max(1, h)
        self._buf = np.zeros((self.H, self.W), dtype=np.uint32)
        self._img = _qimage(self._buf)
        self._drawn = -1
        self.invalidate()

    def invalidate(self) -> None:
        """Re-render everything at the next sync (colours or size changed)."""
        self._drawn = -1

    def sync(self, dirty_from: int | None = None) -> None:
        """Render the columns not yet drawn (and those from ``dirty_from``) into the ring."""
        w, h = self._want
        if (w, h) != (self.W, self.H) and w > 0 and h > 0:
            self._resize(w, h)
        last = self.ring.last
        if last < 0 or self._img is None:
            return
        first = self._drawn + 1 if self._drawn >= 0 else last - self.W + 1
        if dirty_from is not None:
            first = min(first, dirty_from)
        first = max(first, last - self.W + 1, last - self.ring.n_cols + 1, 0)
        if first <= last:
            view = self.ring.view()
            cols = view[len(view) - (last - first + 1):]
            px = self.renderer(cols, self.H)  # (H, k)
            slots = np.arange(first, last + 1) % self.W
            self._buf[:, slots] = px
            self.renders += last - first + 1
        self._drawn = last
        self.update()

    def paint(self, p, *args):
        from pyqtgraph.Qt import QtCore

        tr = p.transform()
        top = tr.map(QtCore.QPointF(0.0, self.y1)).y()
        bottom = tr.map(QtCore.QPointF(0.0, self.y0)).y()
        vb = self.getViewBox()
        r = vb.viewRect() if vb is not None else None
        if r is None:
            return
        left = tr.map(QtCore.QPointF(r.left(), 0.0)).x()
        right = tr.map(QtCore.QPointF(r.right(), 0.0)).x()
        want = (int(round(right - left)) + 2, int(round(abs(bottom - top))))
        if want != self._want:
            self._want = want
            QtCore.QTimer.singleShot(0, self.sync)  # re-render at the new size, outside paint
        last = self._drawn
        if self._img is None or last < 0:
            return
        W, H = self.W, self.H
        x_last = tr.map(QtCore.QPointF(self.column_x(last), 0.0)).x()
        x0 = round(x_last - (W - 1) - 0.5)       # device x of the oldest slot's left edge
        y0 = round(min(top, bottom))
        s0 = (last + 1) % W                     # slot of the oldest column
        p.save()
        p.resetTransform()
        img = self._img
        p.drawImage(QtCore.QPointF(x0, y0), img, QtCore.QRectF(s0, 0, W - s0, H))
        if s0:
            p.drawImage(QtCore.QPointF(x0 + W - s0, y0), img, QtCore.QRectF(0, 0, s0, H))
        p.restore()
        self.blits += 1


class ScrollingSpectrogram:
    """A pyqtgraph plot of a scrolling log-frequency dB spectrogram (a :class:`PixelRingItem`).

    ``time_offset`` (samples) places the columns of a delayed signal at their *input*
    time: the separated vocals come out of the host ``D`` samples after their input,
    so their column ``j`` is drawn at ``(j * hop + n_fft / 2 - D) / sr``.
    """

    MAX_COLS = 4096

    def __init__(self, plot_item, sample_rate: float, *, levels=(-90.0, -10.0), cmap=None,
                 n_rows: int = 160, time_offset: int = 0):
        import pyqtgraph as pg

        from ..plot import log_freq_ticks

        self.plot = plot_item
        self.analyzer = IncrementalSpectrogram(sample_rate, n_rows=n_rows)
        a = self.analyzer
        self.sample_rate = float(sample_rate)
        self.n_rows = int(n_rows)
        self.n_cols = self.MAX_COLS
        self.ring = ColumnRing(self.n_cols, n_rows, fill=-200.0)
        self.time_offset = int(time_offset)
        self.now = 0
        self._lut = _pack_lut(cmap or pg.colormap.get("inferno"))
        self.levels = tuple(levels)
        self._row_map = np.zeros(0, dtype=np.intp)
        self.item = PixelRingItem(self.ring, self._render, self.column_x, (0.0, float(n_rows)))
        self.plot.addItem(self.item)
        self.plot.getAxis("left").setTicks([log_freq_ticks(a.freqs)])
        self.plot.setLabel("left", "Hz")
        self.plot.setYRange(0, n_rows, padding=0)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.columns_drawn = 0
        self.updates = 0

    @property
    def hop(self) -> int:
        return self.analyzer.hop

    @property
    def seconds_per_column(self) -> float:
        return self.analyzer.hop / self.sample_rate

    def column_x(self, j: int) -> float:
        a = self.analyzer
        return (j * a.hop + a.n_fft / 2.0 - self.time_offset - self.now) / self.sample_rate

    def set_levels(self, levels) -> None:
        self.levels = (float(levels[0]), float(levels[1]))
        self.item.invalidate()
        self.item.sync()

    def _render(self, cols: np.ndarray, height: int) -> np.ndarray:
        if len(self._row_map) != height:
            y = self.n_rows * (1.0 - (np.arange(height) + 0.5) / height)
            self._row_map = np.clip(y.astype(np.intp), 0, self.n_rows - 1)
        lo, hi = self.levels
        v = cols[:, self._row_map].T  # (height, k), top row = highest frequency
        q = np.clip((v - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
        return self._lut[q]

    def reset(self, at_sample: int = 0) -> None:
        self.ring.reset()
        self.analyzer.skip_to(at_sample)
        self.item.invalidate()

    def feed(self, mono: np.ndarray, start_sample: int | None = None) -> int:
        """Analyse new samples (``start_sample``: their stream index, to detect gaps).
        Returns the number of new columns."""
        a = self.analyzer
        if start_sample is not None:
            expected = a._buf_start + len(a._buf)
            if start_sample != expected:
                a.skip_to(start_sample)
        cols, frames = a.feed(mono)
        if len(cols):
            self.ring.write(int(frames[0]), cols)
            self.columns_drawn += len(cols)
        return len(cols)

    def redraw(self, now_sample: int) -> None:
        """Scroll so that input time ``now_sample`` is at x = 0; render new columns."""
        self.now = int(now_sample)
        self.item.sync()
        self.updates += 1

    def image_columns(self) -> np.ndarray:
        """The dB data of the newest columns (oldest first): what the picture shows."""
        return self.ring.view()
