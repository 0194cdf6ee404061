"""The karaoke room of the live window: the pitch lane and the microphone panel, fed from a
host that runs karaoke with a microphone (``rtsep gui --source SONG --mic``).

What it reads from the host (all lock-free, on the GUI thread; see
:class:`~rtsep.host.stream.LiveHost`):

* ``host.karaoke.melody()`` → ``(times_s, f0_hz)``: the reference melody computed so far,
  ahead of the playhead (re-read twice a second: it only grows);
* ``host.karaoke.singer_track(seconds)`` → ``(song_time_s, f0_hz)``: the singer's recent
  pitch, already placed on the song's time line (playhead minus the microphone latency);
* ``host.karaoke.score``: the running score (0..100 or ``None``);
* ``host.song_position_s``: the playhead;
* ``host.mic``: channel, ``gain_db`` and ``muted`` (settable, ramped by the host),
  ``latency_samples``; ``host.voice_chain``: the plugins whose parameters get sliders;
* the ``mic_rms``/``mic_peak`` fields of ``taps.levels`` (the window passes them in).
"""

from __future__ import annotations

import time

import numpy as np
from pyqtgraph.Qt import QtWidgets

from .mic import MicPanel
from .pitchlane import PitchLane

LANE_FPS = 30.0          # the lane moves smoothly at 30 fps; more only costs the audio thread
MELODY_REFRESH_S = 0.5   # how often the (growing) reference melody is re-read


def has_karaoke(host) -> bool:
    """Whether ``host`` mixes a singer's microphone into a song (``--source SONG --mic``):
    then the room is shown; its pitch lane only where the host has a pitch guide."""
    return getattr(host, "mic", None) is not None


class KaraokeView(QtWidgets.QWidget):
    """Pitch lane (stretching) beside the microphone panel (fixed width)."""

    def __init__(self, parent=None, panel_width: int = 270):
        super().__init__(parent)
        self.host = None
        self._row = QtWidgets.QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self.lane = PitchLane()
        self._row.addWidget(self.lane, 1)
        self.mic_panel = MicPanel(None, width=panel_width)
        self._row.addWidget(self.mic_panel)
        self._melody_t = -1.0
        self._melody_len = -1
        self._lane_t = 0.0

    def bind(self, host) -> None:
        """Show ``host``'s karaoke (the voice-chain controls are rebuilt for its chain)."""
        self.host = host
        mic = getattr(host, "mic", None)
        self.mic_panel.set_chain(getattr(host, "voice_chain", None))
        if mic is not None:
            self.mic_panel.set_mic(mic)
        self.lane.setVisible(getattr(host, "karaoke", None) is not None)
        self.lane.clear_singer()
        self.lane.set_reference(np.zeros(0), np.zeros(0))
        self._melody_t, self._melody_len = -1.0, -1
        self.update_from_host(force=True)

    def update_levels(self, levels: np.ndarray) -> None:
        """``levels``: rows of ``taps.levels`` since the last call (mic = columns 4, 5)."""
        if levels.shape[1] >= 6 and len(levels):
            self.mic_panel.set_levels(float(levels[:, 4].max()), float(levels[:, 5].max()))
        elif not len(levels) and not getattr(self.host, "running", False):
            self.mic_panel.set_levels(0.0, 0.0)

    def update_from_host(self, force: bool = False) -> None:
        """Re-read melody, singer and score, and redraw the lane (at most :data:`LANE_FPS`)."""
        host = self.host
        k = getattr(host, "karaoke", None)
        now = time.monotonic()
        if not force and now - self._lane_t < 1.0 / LANE_FPS:
            return
        self._lane_t = now
        if k is not None:
            if force or now - self._melody_t >= MELODY_REFRESH_S:
                self._melody_t = now
                t, f = k.melody()
                if len(t) != self._melody_len:
                    self._melody_len = len(t)
                    self.lane.set_reference(t, f)
            t, f = k.singer_track(self.lane.past_s + 1.0)
            self.lane.set_singer(t, f)
            self.lane.set_score(k.score)
        self.lane.redraw(float(getattr(host, "song_position_s", 0.0) or 0.0))
        mic = getattr(host, "mic", None)
        if mic is not None:
            sr = host.sample_rate
            self.mic_panel.set_info(f"input channel {mic.channel + 1} · latency {mic.latency_samples} samples "
                                    f"= {1000 * mic.latency_samples / sr:.1f} ms (+ device)")

    def teardown(self) -> None:
        self.lane.teardown()

