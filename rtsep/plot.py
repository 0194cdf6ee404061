"""Spectrogram pictures of a separation, drawn with pyqtgraph and its PNG exporter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dsp.logspec import spectrogram_db


def ensure_qt_app():
    """A QApplication; offscreen when there is no display (servers, CI)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg

    return pg.mkQApp("rtsep")


def log_freq_ticks(freqs: np.ndarray) -> list[tuple[float, str]]:
    """Axis ticks (row index, label) at round frequencies for a log-frequency image."""
    ticks = []
    for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000):
        if freqs[0] <= f <= freqs[-1]:
            row = np.interp(np.log(f), np.log(freqs), np.arange(len(freqs)))
            ticks.append((float(row), f"{f // 1000}k" if f >= 1000 else str(f)))
    return ticks


def plot_spectrograms(signals: dict[str, np.ndarray], sample_rate: int, path: str | os.PathLike,
                      vad: np.ndarray | None = None, vad_times_s: np.ndarray | None = None,
                      vad_threshold: float = 0.5, title: str = "", width: int = 1200) -> Path:
    """Write a PNG with one log-frequency dB spectrogram per signal (top to bottom) and,
    if given, a vocal-activity strip under them."""
    ensure_qt_app()
    import pyqtgraph as pg
    import pyqtgraph.exporters

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    win = pg.GraphicsLayoutWidget()
    if title:
        win.addLabel(title, row=0, col=0, colspan=2, size="12pt")
    cmap = pg.colormap.get("inferno")
    levels = (-90.0, -10.0)
    row = 1
    first_plot = None
    duration = 0.0
    for name, audio in signals.items():
        db, times, freqs = spectrogram_db(audio, sample_rate)
        duration = max(duration, len(audio) / sample_rate)
        p = win.addPlot(row=row, col=0, title=name)
        img = pg.ImageItem(db)
        img.setColorMap(cmap)
        img.setLevels(levels)
        # x in seconds, y in log-frequency rows.
        img.setRect(0, 0, times[-1] + (times[1] - times[0] if len(times) > 1 else 0), len(freqs))
        p.addItem(img)
        p.getAxis("left").setTicks([log_freq_ticks(freqs)])
        p.setLabel("left", "Hz")
        p.setXRange(0, duration, padding=0)
        if first_plot is None:
            first_plot = p
            bar = pg.ColorBarItem(values=levels, colorMap=cmap, label="dB", interactive=False)
            bar.setImageItem(img)
            win.addItem(bar, row=row, col=1, rowspan=len(signals))
        else:
            p.setXLink(first_plot)
        row += 1
    if vad is not None and len(vad):
        p = win.addPlot(row=row, col=0, title=f"vocal activity (threshold {vad_threshold:g})")
        p.plot(vad_times_s, vad, pen=pg.mkPen("#1f77b4", width=1.5))
        active = (vad >= vad_threshold).astype(float)
        p.plot(vad_times_s, active, pen=None, fillLevel=0, brush=(255, 140, 0, 90))
        p.setYRange(0, 1.05, padding=0)
        p.setXRange(0, duration, padding=0)
        p.setLabel("bottom", "time", units="s")
        p.setMaximumHeight(140)
        if first_plot is not None:
            p.setXLink(first_plot)
    win.resize(width, 220 * len(signals) + (160 if vad is not None else 0) + 40)
    win.show()
    pg.QtWidgets.QApplication.processEvents()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    exporter = pg.exporters.ImageExporter(win.scene())
    exporter.parameters()["width"] = width
    exporter.export(str(tmp))
    os.replace(tmp, path)
    win.close()
    return path


def plot_separation(input_path, outs: dict[str, Path], res, png_path) -> Path:
    """The ``--plot`` picture of ``rtsep separate``: mixture, stems, vocal activity."""
    from .io.audiofile import read_audio

    mix, sr = read_audio(input_path)
    signals = {"mixture": mix}
    for stem, p in outs.items():
        signals[stem], _ = read_audio(p)
    return plot_spectrograms(signals, sr, png_path, res.vad, res.vad_times_s, res.vad_threshold,
                             title=Path(input_path).name)
