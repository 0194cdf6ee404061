"""The queue room of the live window: the evening's songs, next / skip, key and tempo.

Shown when the host plays a queue of songs (:class:`~rtsep.host.queue.QueueSource`: ``rtsep gui
--source`` with a song separated ahead). What it reads and sets, on the GUI thread, never waiting
for the audio thread:

* ``host.source.queue.songs``: title, duration, state, score of each song (the producer keeps
  them up to date), ``queue.current``: the song at the playhead;
* ``queue.next()`` and ``queue.skip(i)``: the producer re-renders from just ahead of the playhead
  (crossfaded) or leaves the song out when its turn comes;
* ``queue.controls.set(key=, tempo=)``: the accompaniment's key and tempo, re-rendered ahead of
  the playhead within about a second (:mod:`rtsep.host.evening`).
"""

from __future__ import annotations

import time

from pyqtgraph.Qt import QtCore, QtWidgets

from ..host.keytempo import KEY_MAX, KEY_MIN, TEMPO_MAX, TEMPO_MIN

REFRESH_S = 0.25
_MARK = {"playing": "▶", "played": "✓", "queued": " ", "skipped": "–", "failed": "✗"}


def _mmss(seconds) -> str:
    if seconds is None:
        return "-:--"
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def song_line(i: int, song) -> str:
    """One row of the list: mark, number, title, position / length, score (or why it is not played)."""
    mark = _MARK.get(song.state, " ")
    text = f"{mark} {i + 1:2d}. {song.title}  {_mmss(song.duration_s)}"
    if song.state == "playing":
        text = f"{mark} {i + 1:2d}. {song.title}  {_mmss(song.played_s)} / {_mmss(song.duration_s)}"
    if song.score is not None:
        text += f"  · score {song.score:.0f}"
    if song.error:
        text += f"  · {song.error.removeprefix(song.path + ': ')}"
    return text


class QueuePanel(QtWidgets.QFrame):
    """Song list (stretching) beside the transport and the key/tempo controls."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.queue = None
        self._t = 0.0
        self.setStyleSheet("QFrame { background: #1c1c22; } QLabel { color: #c8c8cd; }")
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 4, 6, 4)
        self.list = QtWidgets.QListWidget()
        self.list.setStyleSheet("QListWidget { background: #141418; color: #d0d0d5; font-family: monospace; }"
                                "QListWidget::item:selected { background: #2d4a6a; }")
        row.addWidget(self.list, 1)
        side = QtWidgets.QGridLayout()
        self.next_button = QtWidgets.QPushButton("Next »")
        self.next_button.setToolTip("end this song now and play the next one")
        self.next_button.clicked.connect(self._next)
        self.skip_button = QtWidgets.QPushButton("Skip")
        self.skip_button.setToolTip("leave the selected song out (again: put it back)")
        self.skip_button.clicked.connect(self._skip)
        side.addWidget(self.next_button, 0, 0)
        side.addWidget(self.skip_button, 0, 1)
        side.addWidget(QtWidgets.QLabel("Key"), 1, 0)
        self.key = QtWidgets.QSpinBox()
        self.key.setRange(int(KEY_MIN), int(KEY_MAX))
        self.key.setSuffix(" st")
        self.key.setToolTip("semitones: the accompaniment and the pitch guide move together")
        self.key.valueChanged.connect(self._key_changed)
        side.addWidget(self.key, 1, 1)
        side.addWidget(QtWidgets.QLabel("Tempo"), 2, 0)
        self.tempo = QtWidgets.QDoubleSpinBox()
        self.tempo.setRange(TEMPO_MIN, TEMPO_MAX)
        self.tempo.setSingleStep(0.05)
        self.tempo.setDecimals(2)
        self.tempo.setSuffix(" x")
        self.tempo.valueChanged.connect(self._tempo_changed)
        side.addWidget(self.tempo, 2, 1)
        self.info = QtWidgets.QLabel("")
        side.addWidget(self.info, 3, 0, 1, 2)
        row.addLayout(side)
        self.setMaximumHeight(170)

    # --- binding -----------------------------------------------------------------------------
    def bind(self, host) -> None:
        """Show ``host``'s queue (hidden when it plays no queue)."""
        self.queue = getattr(getattr(host, "source", None), "queue", None)
        self.setVisible(self.queue is not None)
        if self.queue is None:
            return
        c = self.queue.controls
        for box, value in ((self.key, int(round(c.key))), (self.tempo, c.tempo)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.list.clear()
        for i, song in enumerate(self.queue.songs):
            self.list.addItem(song_line(i, song))
        self.update_from_host(force=True)

    def update_from_host(self, force: bool = False) -> None:
        """Re-read the songs' rows (at most every :data:`REFRESH_S`)."""
        q = self.queue
        now = time.monotonic()
        if q is None or (not force and now - self._t < REFRESH_S):
            return
        self._t = now
        for i, song in enumerate(q.songs):
            item = self.list.item(i)
            text = song_line(i, song)
            if item is not None and item.text() != text:
                item.setText(text)
            if item is not None:
                font = item.font()
                if font.bold() != (i == q.current):
                    font.setBold(i == q.current)
                    item.setFont(font)
        c = q.controls
        self.info.setText(f"song {(q.current or 0) + 1} of {len(q)} · key {c.key:+g} · tempo {c.tempo:g}")

    # --- actions -------------------------------------------------------------------------------
    def _next(self) -> None:
        if self.queue is not None:
            self.queue.next()

    def _skip(self) -> None:
        row = self.list.currentRow()
        if self.queue is not None and row >= 0:
            song = self.queue.songs[row]
            self.queue.skip(row, not song.skipped)
            self.update_from_host(force=True)

    def _key_changed(self, value: int) -> None:
        if self.queue is not None:
            self.queue.controls.set(key=value)

    def _tempo_changed(self, value: float) -> None:
        if self.queue is not None:
            self.queue.controls.set(tempo=round(value, 2))

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt name)
        return QtCore.QSize(800, 150)
