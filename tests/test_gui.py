"""The live GUI (``rtsep gui``): display maths without devices, then the window on a live
stream from a private dummy-backend JACK server (offscreen Qt)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from rtsep.dsp.logspec import spectrogram_db  # noqa: E402
from rtsep.gui.spectrogram import ColumnRing, IncrementalSpectrogram  # noqa: E402

from jack_server import jack_server, run_cli  # noqa: E402,F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = str(ROOT / "models" / "placeholder.onnx")
TRAINED = ROOT / "models" / "release-low.onnx"
RATE = 48000


# --- device-free ------------------------------------------------------------------------------

def test_incremental_spectrogram_equals_offline_for_any_chunking():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(RATE)).astype(np.float32)
    a = IncrementalSpectrogram(RATE, n_rows=120)
    cols, frames, i = [], [], 0
    while i < len(x):
        k = int(rng.integers(1, 3000))
        c, f = a.feed(x[i:i + k])
        cols.append(c)
        frames.append(f)
        i += k
    cols, frames = np.concatenate(cols), np.concatenate(frames)
    ref, _, _ = spectrogram_db(x, RATE, a.n_fft, a.hop, 120, floor_db=-120.0)
    assert cols.shape == ref.shape
    assert np.array_equal(frames, np.arange(len(ref)))
    assert np.abs(cols - ref).max() < 1e-3


def test_column_ring_is_contiguous_and_blanks_gaps():
    r = ColumnRing(5, 2, fill=-1.0)
    r.write(0, np.arange(6, dtype=np.float32).reshape(3, 2))
    assert r.view().flags.c_contiguous and r.view()[:, 0].tolist() == [-1, -1, 0, 2, 4]
    r.write(5, np.array([[9.0, 9.0]], np.float32))  # columns 3 and 4 never came
    assert r.view()[:, 0].tolist() == [2, 4, -1, -1, 9] and r.last == 5
    assert r.column(0) is None and r.column(5).tolist() == [9, 9]


def test_gui_command_takes_the_live_options_and_checks_its_own():
    from rtsep.cli import build_parser

    args = build_parser().parse_args(["gui", "--source", "x.wav", "--mode", "vocals", "--vocals-db", "-6",
                                      "--blocksize", "128", "--samplerate", "48000", "--duration", "2",
                                      "--json", "--screenshot", "a.png", "-i", "1", "-o", "2", "--inline"])
    assert (args.source, args.mode, args.vocals_db, args.blocksize, args.screenshot) == \
        ("x.wav", "vocals", -6.0, 128, "a.png")
    proc = run_cli(["gui", "--source", "x.wav", "--screenshot", "a.png"])
    assert proc.returncode == 2 and "--screenshot needs --duration" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- live ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_wav(tmp_path_factory):
    from rtsep.demo_clip import make_demo_clip

    clip = make_demo_clip(RATE, seconds=7.0)
    path = tmp_path_factory.mktemp("gui") / "demo.wav"
    sf.write(path, clip["mixture"], RATE)
    return path, clip["vocal_active"]


def _pump(app, seconds):
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        app.processEvents()
        time.sleep(0.002)


def _rgb(img, x, y):
    c = img.pixelColor(int(x), int(y))
    return c.red(), c.green(), c.blue()


def test_window_streams_draws_measures_and_closes_cleanly(jack_server, demo_wav, tmp_path):  # noqa: F811
    from rtsep.plot import ensure_qt_app

    app = ensure_qt_app()
    from rtsep.gui.window import HostSpec, LiveWindow

    wav, truth = demo_wav
    model = str(TRAINED) if TRAINED.is_file() else PLACEHOLDER
    spec = HostSpec(source=str(wav), samplerate=RATE, blocksize=256, model=model)
    win = LiveWindow(spec, fps=60)
    host = win.host
    win.show()
    _pump(app, 1.0)
    assert host.running, win.errors
    before = win.view.spec_in.image_columns().copy()
    blits = win.view.spec_in.item.blits
    _pump(app, 4.0)

    # The pictures moved and show sound; the timer ran and Qt repainted.
    after = win.view.spec_in.image_columns()
    assert not np.array_equal(before, after)
    assert (after[-300:] > -100).mean() > 0.3  # the last 3 s hold sound
    assert win.view.spec_out.columns_drawn > 100 and win.view.spec_in.item.blits > blits
    assert win.fps > 10 and win.paint_counter.count > 20, (win.fps, win.paint_counter.count)
    assert win.summary()["fps_mean"] > 10
    assert win.karaoke.isHidden()  # no microphone: no karaoke room
    # The test server is not real-time (jackd --no-realtime): a real-time GUI thread would
    # outrank it, so the window stays at normal priority.
    assert host.rt_status["callback"].startswith("SCHED_FIFO") or "normal" in host.rt_status["callback"]
    assert win.gui_sched == "normal (audio server not real-time)", (win.gui_sched, host.rt_status)

    # The vocal strip is the per-column mean of the vad values the window received.
    centres, mean = win.view.vad_strip()
    got = np.array(win.view.vad_received)
    assert len(got) > 100
    cols = (got[:, 0] // win.view.vad_hop).astype(np.int64)
    col_idx = (centres // win.view.vad_hop).astype(np.int64)
    checked = 0
    for c, m in zip(col_idx[-300:], mean[-300:]):
        sel = got[cols == c, 1]
        if len(sel):
            assert m == pytest.approx(sel.mean(), abs=1e-9)
            checked += 1
    assert checked > 100

    # Controls reach the host.
    win.controls.mode_combo.setCurrentText("vocals")
    assert host.mode == "vocals"
    win.controls.bypass_box.setChecked(True)
    assert host.mode == "bypass"
    win.controls.bypass_box.setChecked(False)
    win.controls.mode_combo.setCurrentText("mix")
    win.controls.vocals_slider.setValue(-12)
    assert host.mode == "mix" and host.vocals_db == -12.0
    _pump(app, 0.3)

    # Screenshot: not blank, and the strip is lit exactly where the received vad reaches
    # the threshold (amber) and blue where it does not.
    png = win.screenshot(tmp_path / "gui.png")
    from pyqtgraph.Qt import QtGui

    img = QtGui.QImage(str(png))
    assert img.width() >= 1000 and img.height() >= 700
    arr = np.frombuffer(img.convertToFormat(QtGui.QImage.Format.Format_RGB32).constBits(), np.uint8)
    assert arr.reshape(img.height(), -1)[:, 0::4].std() > 20  # not a blank picture
    centres, mean = win.view.vad_strip()
    now = win.view.now
    t = (centres - now) / host.sample_rate
    ok = np.isfinite(mean)
    level = 0.2  # above the axis ticks, which reach 5 px into the strip
    lit = np.where(ok, mean >= win.view.vad_threshold, False)
    filled = np.where(ok, mean >= level, False)
    expect = np.where(lit, 2, np.where(filled, 1, 0))
    rgb = (win.view.VAD_BG_RGB, win.view.VAD_DIM_RGB, win.view.VAD_LIT_RGB)
    xs, y = win.view.strip_pixels(t, level=level)
    n_lit = n_dim = 0
    for i in range(3, len(t) - 3):
        if not ok[i - 3:i + 4].all() or len(set(expect[i - 3:i + 4])) != 1 or t[i] > -0.2:
            continue  # only columns whose neighbours agree (a pixel of slack), settled ones
        colour = _rgb(img, xs[i], y)
        assert colour == rgb[expect[i]], (i, t[i], mean[i], colour)
        n_lit += bool(lit[i])
        n_dim += not lit[i]
    assert n_lit + n_dim > 100
    if model != PLACEHOLDER:  # a trained model's activity follows the demo's singing
        x_sample = centres[ok].astype(int) - win.view.time_offset
        inside = (x_sample >= 0) & (x_sample < len(truth))
        sings = truth[np.minimum(x_sample[inside], len(truth) - 1)]
        agree = (lit[ok][inside] == sings).mean()
        assert agree > 0.75, agree

    # Choosing another input (the JACK capture device instead of the file) reopens the
    # stream on a new host; the old one is stopped.
    assert win.controls.input_combo.count() >= 2
    win.controls.input_combo.setCurrentIndex(1)
    _pump(app, 1.0)
    new = win.host
    assert new is not host and not host.running and new.running and new.source is None, win.errors
    assert host.error is None and host.stats.callbacks > 100

    # Closing the window stops the audio cleanly.
    win.close()
    app.processEvents()
    assert not new.running and new.error is None and not win.errors
    assert new.stats.callbacks > 50
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the GUI thread's priority was restored


def test_gui_command_headless_screenshot(jack_server, demo_wav, tmp_path):  # noqa: F811
    wav, _ = demo_wav
    png = tmp_path / "shot.png"
    proc = run_cli(["gui", "--source", str(wav), "--duration", "3", "--screenshot", str(png), "--json",
                    "--model", PLACEHOLDER], server=jack_server, timeout=90,
                   env={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    assert s["stopped"] == "duration" and s["callbacks"] > 100
    assert s["gui"]["fps_mean"] and s["gui"]["fps_mean"] > 10
    assert png.is_file() and png.stat().st_size > 20000


def test_none_survives_many_void_qt_calls():
    """PySide6 6.12 on Python 3.11 loses a reference to None per void call (see
    rtsep.gui.qtcompat); a window must survive far more calls than None has references."""
    import subprocess
    import sys

    code = ("import os; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
            "from rtsep.plot import ensure_qt_app; ensure_qt_app()\n"
            "from rtsep.gui.qtcompat import protect_none, none_leaks_per_call\n"
            "leak = none_leaks_per_call(); protect_none()\n"
            "from pyqtgraph.Qt import QtGui\n"
            "img = QtGui.QImage(4, 4, QtGui.QImage.Format.Format_RGB32); p = QtGui.QPainter(img)\n"
            "[p.resetTransform() for _ in range(200000)]\n"
            "p.end(); print('ok', leak)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-500:]


def test_operating_point_switch_from_the_window(jack_server, demo_wav, tmp_path):  # noqa: F811
    """A switchable host: the Model control changes the operating point mid-stream and the
    latency stays the same (both models run aligned)."""
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.model.placeholder import build_placeholder
    from rtsep.plugins.switch import OperatingPointSwitch

    from rtsep.plot import ensure_qt_app

    app = ensure_qt_app()
    models = tmp_path / "models"
    models.mkdir()
    import shutil
    shutil.copy(ROOT / "models" / "placeholder.onnx", models / "release-low.onnx")
    build_placeholder(str(models / "release-quality.onnx"), n_fft=1024, hop=256, synthesis_len=1024,
                      lookahead_frames=3)
    from rtsep.model import registry
    old = registry.MODELS_DIR
    registry.MODELS_DIR = models
    try:
        spec = HostSpec(source=str(demo_wav[0]), blocksize=256, samplerate=RATE, extra={"switchable": True})
        host = spec.build()
        assert isinstance(host.separator, OperatingPointSwitch) and host.operating_point == "quality"
        win = LiveWindow(spec, host, fps=30)
        lat = host.latency()["algorithmic_samples"]
        win.show()
        _pump(app, 1.0)
        assert host.running and win.controls.point_combo.isEnabled()
        box = win.controls.point_combo
        assert [box.itemData(i) for i in range(box.count())] == ["low", "quality"]
        names = {p: getattr(host.separator, p).card.name for p in ("low", "quality")}  # the models' own names
        assert box.currentText() == f"{names['quality']} (quality) · {host.latency()['algorithmic_ms']:.1f} ms"
        assert box.itemText(box.findData("low")).startswith(f"{names['low']} (low)")
        box.setCurrentIndex(box.findData("low"))
        _pump(app, 0.5)
        assert host.operating_point == "low" and host.latency()["algorithmic_samples"] == lat
        win.close()
        _pump(app, 0.2)
        assert not host.running
    finally:
        registry.MODELS_DIR = old


# --- readouts and the Model box on stand-in hosts (no device) ---------------------------------

class _Described:
    """A stand-in separator that describes itself like the recurrent ones (a model dict), or
    with top-level keys (``top``) like the streaming U-Net."""

    def __init__(self, name=None, top=None, **model):
        self.d = dict(top or {}, **({"model": {"name": name, **model}} if name else {}))

    def describe(self):
        return self.d


def _stand_in_host(*, separator=None, ahead=None, worker=True, jack=True, algorithmic_ms=0.0, blocksize=128):
    from types import SimpleNamespace

    from rtsep.host.stats import StreamStats

    lat = {"algorithmic_ms": algorithmic_ms, "handoff_ms": 0.0, "device_ms": 0.0, "total_ms": algorithmic_ms}
    return SimpleNamespace(
        stats=StreamStats(RATE, blocksize, history=1 << 12), latency=lambda: lat, sample_rate=RATE,
        blocksize=blocksize, running=True, jack_ports={"in": [], "out": ["PortAudio:out_0"] if jack else []},
        mode="karaoke", vocals_db=0.0, accompaniment_db=0.0, separator=separator, plugin=separator,
        ahead=ahead, worker=worker, taps=SimpleNamespace(vad=SimpleNamespace(latest=lambda: None)),
        source=None, input_device=None, output_device=None)


def _callbacks(stats, loads, flagged=()):
    """Record one callback per load (fraction of the block period); PortAudio's xrun flags
    (output underflow, input overflow: what PortAudio raises after JACK's xrun notification)
    on the callbacks whose index is in ``flagged``."""
    for i, load in enumerate(loads):
        if i in flagged:
            stats.flags(0x4 | 0x2)
        stats.record(load * stats.period_s, stats.blocksize)


def test_gui_priority_follows_the_audio_servers():
    from rtsep.host.realtime import audio_server_realtime

    assert audio_server_realtime("not started") is None
    assert audio_server_realtime("already real-time (priority 70)") is True
    assert audio_server_realtime("SCHED_FIFO 60") is False  # rtsep had to raise it: the server is not
    assert audio_server_realtime("normal priority (PermissionError)") is False


def test_readout_tells_server_xruns_from_rtsep_misses():
    _qt()
    from rtsep.gui.readout import ReadoutPanel

    panel = ReadoutPanel()
    host = _stand_in_host(separator=_Described("release-low", lookahead_frames=0), algorithmic_ms=12.0)
    st = host.stats
    _callbacks(st, [0.1] * 200, flagged={10, 50, 51})  # the server's xruns; our callbacks all in time
    panel.show_host(host, 0.5)
    v, k = panel.values, panel.keys
    assert (k["xruns"].text(), v["xruns"].text(), v["misses"].text()) == ("server xruns", "3", "0")
    assert not v["xruns"].property("bad") and not v["misses"].property("bad")  # nothing of ours: not red

    _callbacks(st, [0.1, 1.5, 0.2, 1.2])  # two callbacks of ours past their period
    st.deadline_misses += 2  # and two blocks the worker had not ready
    panel.show_host(host, 0.5)
    assert (v["xruns"].text(), v["misses"].text()) == ("3", "4") and v["misses"].property("bad")
    assert v["misses"].toolTip() == "2 blocks not ready in time, 2 callbacks past their period"
    assert not v["xruns"].property("bad")
    _callbacks(st, [0.1] * 10)  # counted once: later refreshes add only new late callbacks
    panel.show_host(host, 0.5)
    assert v["misses"].text() == "4"

    # Inline (no worker): a callback past its period is already one of the stats' deadline
    # misses (the host counts it), so it is not added twice.
    inline = _stand_in_host(separator=_Described("release-low"), worker=False, jack=False)
    _callbacks(inline.stats, [0.1, 1.5, 0.1], flagged={2})
    inline.stats.deadline_misses += 1
    panel.show_host(inline, 0.5)  # another host: the late count starts again from its stats
    assert (k["xruns"].text(), v["xruns"].text(), v["misses"].text()) == ("device xruns", "1", "1")


def test_model_box_and_readout_name_what_separates():
    """The Model box and the readout read the separator's describe(), or the ahead producer:
    a song ahead of the playhead names the producer's model, a streaming separator its own
    name and the engine's delay, also for a separator the window has never heard of."""
    from types import SimpleNamespace

    _qt()
    from rtsep.gui.controls import ControlsPanel
    from rtsep.gui.hostspec import HostSpec
    from rtsep.gui.readout import ReadoutPanel

    producer = SimpleNamespace(name="unet", speed_x=12.0)
    ahead = SimpleNamespace(producer=producer, ahead_s=20.0, min_ahead_s=11.0)
    hosts = {
        "unet (ahead)": _stand_in_host(ahead=ahead),
        "release-low · 12.0 ms": _stand_in_host(
            separator=_Described("release-low", path="/m/release-low.onnx", lookahead_frames=0), algorithmic_ms=12.0),
        "unet-stream · 302.5 ms": _stand_in_host(
            separator=_Described(top={"separator": "unet-stream", "ladder_point": "128/4/4", "latency_ms": 290.0,
                                      "lookahead_frames": 4}), algorithmic_ms=302.5),
    }
    controls, panel = ControlsPanel(), ReadoutPanel()
    for label, host in hosts.items():
        controls.bind(host, HostSpec())
        box = controls.point_combo
        assert (box.count(), box.currentText(), box.isEnabled()) == (1, label, False)
        panel.show_host(host, 0.5)
        assert panel.values["model"].text() == {"unet (ahead)": "unet (ahead)", "release-low · 12.0 ms":
                                                "release-low [low]"}.get(label, "unet-stream [128/4/4]")
    placeholder = _stand_in_host(separator=_Described("my-model", placeholder=True, lookahead_frames=3),
                                 algorithmic_ms=112.0)
    panel.show_host(placeholder, 0.5)
    assert panel.values["model"].text() == "my-model (untrained) [quality]" and panel.values["model"].property("bad")


# --- karaoke widgets on stand-in data (no host) ------------------------------------------------

def _qt():
    from rtsep.plot import ensure_qt_app
    from rtsep.gui.qtcompat import protect_none

    app = ensure_qt_app()
    protect_none()
    return app


def _melody(seconds=20.0, hop_s=0.01):
    """A stand-in reference: a scale of 0.8 s notes from A3 with 0.2 s rests."""
    t = np.arange(0.0, seconds, hop_s)
    steps = np.array([0, 2, 4, 5, 7, 5, 4, 2])
    f = 220.0 * 2 ** (steps[(t // 1).astype(int) % len(steps)] / 12)
    f[(t % 1.0) >= 0.8] = 0.0
    return t, f


def _colour(img, point):
    c = img.pixelColor(point.x(), point.y())
    return c.red(), c.green(), c.blue()


def test_pitch_lane_draws_reference_singer_error_and_score():
    app = _qt()
    from pyqtgraph.Qt import QtCore

    from rtsep.gui.pitchlane import PitchLane, hz_to_midi

    lane = PitchLane(past_s=6.0, ahead_s=3.0)
    lane.resize(900, 320)
    t, f = _melody()
    lane.set_reference(t, f)
    # The singer: an octave below the melody until 7 s (right: octave-folded), then a
    # semitone sharp (wrong), silent in the melody's rests.
    ts = t[t < 10.0]
    fs = np.where(ts < 7.0, f[:len(ts)] / 2, f[:len(ts)] * 2 ** (1 / 12))
    lane.add_singer(ts, fs)
    lane.show()
    lane.redraw(10.0)
    app.processEvents()

    v = lane.visible()
    # Reference: exactly the frames from 6 s before to 3 s after the playhead, in semitones.
    sel = (t >= 4.0) & (t < 13.0)
    assert np.allclose(v["ref_x"], t[sel] - 10.0) and np.allclose(v["ref_y"], hz_to_midi(f[sel]), equal_nan=True)
    x, ref_y = lane.ref_curve.getData()
    assert np.allclose(x, t[sel] - 10.0) and np.allclose(ref_y, hz_to_midi(f[sel]), equal_nan=True)
    # Singer: drawn on the melody where an octave off (on), a semitone above it where sharp (off).
    voiced = np.isfinite(v["singer_y"])
    octave = voiced & (v["singer_x"] < -3.0)
    sharp = voiced & (v["singer_x"] >= -3.0)
    ref_at = lane.reference_at(v["singer_x"] + 10.0)
    assert octave.sum() > 150 and sharp.sum() > 150
    assert np.allclose(v["singer_y"][octave], ref_at[octave]) and v["on"][octave].all()
    assert np.allclose(v["error_cents"][sharp], 100.0, atol=1e-6) and v["off"][sharp].all()
    assert np.allclose(v["singer_y"][sharp], ref_at[sharp] + 1.0)
    on_y = lane.singer_curves["on"].getData()[1]
    off_y = lane.singer_curves["off"].getData()[1]
    assert np.isfinite(on_y[octave]).all() and np.isnan(on_y[sharp]).all()
    assert np.isfinite(off_y[sharp]).all() and np.isnan(off_y[octave]).all()
    assert np.allclose(lane.err_curve.getData()[1][sharp], 100.0)
    assert lane.note_label.text().endswith("+100 ¢")

    # The picture: the melody ahead of the playhead is blue, the singer green/red on it.
    img = lane.grab().toImage()
    ahead = np.flatnonzero((v["ref_x"] > 0.3) & np.isfinite(v["ref_y"]))[5]
    at = lane.pixel_of(v["ref_x"][ahead], v["ref_y"][ahead])
    r, g, b = _colour(img, at)
    assert b > r + 60 and b > g, (r, g, b)
    # ... as a band 9 px high (one-pixel strokes, rtsep.gui.strokes), not beyond
    dpr = img.devicePixelRatio()
    for dy, inside in ((-4, True), (4, True), (-7, False), (7, False)):
        r, g, b = _colour(img, at + QtCore.QPoint(0, round(dy / dpr)))
        assert (b > r + 60 and b > g) == inside, (dy, r, g, b)
    i_on = np.flatnonzero(octave)[40]
    r, g, b = _colour(img, lane.pixel_of(v["singer_x"][i_on], v["singer_y"][i_on]))
    assert g > r + 60 and g > b, (r, g, b)
    i_off = np.flatnonzero(sharp)[40]
    r, g, b = _colour(img, lane.pixel_of(v["singer_x"][i_off], v["singer_y"][i_off]))
    assert r > g + 60 and r > b, (r, g, b)

    # Score label follows the score; the lane scrolls with the playhead.
    lane.set_score(73.4)
    assert lane.score_label.text() == "score 73 %"
    lane.set_score(None)
    assert lane.score_label.text() == "score –"
    lane.redraw(12.0)
    assert np.allclose(lane.ref_curve.getData()[0], t[(t >= 6.0) & (t < 15.0)] - 12.0)
    # A rewound song starts a new trace.
    lane.add_singer([1.0, 1.01], [220.0, 220.0])
    assert len(lane.visible()["singer_x"]) == 0
    lane.redraw(1.02)
    assert len(lane.visible()["singer_x"]) == 2
    lane.teardown()


def test_mic_panel_meter_reacts_and_drives_the_mic_and_voice_chain():
    app = _qt()
    from types import SimpleNamespace

    from rtsep.gui.meters import to_db
    from rtsep.gui.mic import MicPanel
    from rtsep.plugins.chain import Chain
    from rtsep.plugins.gain import Gain

    gain = Gain(-3.0, channels=2)
    mic = SimpleNamespace(gain_db=0.0, muted=False, channel=0, latency_samples=128)
    panel = MicPanel(Chain([gain]))
    panel.set_mic(mic)
    panel.resize(270, 300)
    panel.show()
    app.processEvents()
    assert panel.meter.rms_db == panel.meter.min_db
    panel.set_levels(0.5, 0.9)
    assert panel.meter.rms_db == pytest.approx(to_db(0.5)) and panel.meter.hold_db == pytest.approx(to_db(0.9))
    time.sleep(0.2)
    panel.set_levels(0.0, 0.0)  # silence: the bar falls (20 dB/s), it does not jump
    assert to_db(0.5) - 8 < panel.meter.rms_db < to_db(0.5) - 2
    panel.gain_slider.setValue(6)
    panel.mute_box.setChecked(True)
    assert mic.gain_db == 6.0 and mic.muted
    s = panel.controls.slider("gain_db")
    s.slider.setValue(s.slider.maximum())
    assert gain.gain_db == 12.0
    block = np.full((64, 2), 0.25, np.float32)
    gain.process(block)  # the ramp block
    assert np.allclose(gain.process(block), 0.25 * 10 ** (12 / 20))


def test_voice_chain_sliders_set_lv2_and_pedalboard_parameters():
    _qt()
    from rtsep.plugins import lv2_lilv

    if not lv2_lilv.available():
        pytest.skip("liblilv-0-0 not installed")
    try:
        lv2_lilv.describe("http://plugin.org.uk/swh-plugins/gverb")
    except lv2_lilv.Lv2Error:
        pytest.skip("swh-lv2 (gverb) not installed")
    from rtsep.gui.voicechain import VoiceChainControls, chain_parameters
    from rtsep.plugins.spec import parse_chain

    chain = parse_chain('lv2("http://plugin.org.uk/swh-plugins/gverb", roomsize=20, revtime=1.5), '
                        'reverb(room_size=0.3)', RATE, 2, 256, live=True)
    names = [p.name for p in chain_parameters(chain)]
    assert names[:2] == ["roomsize", "revtime"] and "room_size" in names
    controls = VoiceChainControls(chain)
    room = controls.slider("roomsize")
    assert (room.param.minimum, room.param.maximum) == (1.0, 300.0)
    assert room.slider.value() == room._position(20.0)
    room.slider.setValue(room.slider.maximum())
    assert chain[0].get("roomsize") == pytest.approx(300.0)
    controls.slider("revtime").slider.setValue(0)
    assert chain[0].get("revtime") == pytest.approx(0.1)
    pb = controls.slider("room_size")
    pb.slider.setValue(pb.slider.maximum() // 2)
    assert chain[1].effect.room_size == pytest.approx(0.5, abs=1e-3)
    assert chain.process(np.zeros((256, 2), np.float32)).shape == (256, 2)


class _StandInKaraoke:
    """What the host's ``karaoke`` offers the GUI, from fixed data."""

    def __init__(self, t, f, singer_t, singer_f):
        self.t, self.f, self.st, self.sf = t, f, singer_t, singer_f
        self.score = None
        self.now = 0.0

    def melody(self):
        return self.t, self.f

    def singer_track(self, seconds=10.0):
        keep = (self.st <= self.now) & (self.st >= self.now - seconds)
        return self.st[keep], self.sf[keep]


def test_karaoke_view_reads_a_stand_in_host():
    app = _qt()
    from types import SimpleNamespace

    from rtsep.gui.karaoke import KaraokeView, has_karaoke
    from rtsep.plugins.chain import Chain
    from rtsep.plugins.gain import Gain

    t, f = _melody()
    k = _StandInKaraoke(t, f, t, f)
    mic = SimpleNamespace(gain_db=-2.0, muted=False, channel=1, latency_samples=128)
    host = SimpleNamespace(karaoke=k, mic=mic, voice_chain=Chain([Gain(0.0)]), song_position_s=5.0,
                           sample_rate=RATE, running=True)
    assert has_karaoke(host) and not has_karaoke(SimpleNamespace(mic=None, karaoke=k))
    view = KaraokeView()
    view.resize(1200, 300)
    view.show()
    k.now, k.score = 5.0, 61.0
    view.bind(host)
    app.processEvents()
    lane = view.lane
    assert len(lane.ref_times_s) == len(t) and lane.score_label.text() == "score 61 %"
    v = lane.visible()
    assert v["on"].sum() > 300 and not v["off"].any()  # sung exactly: all on the line
    assert view.mic_panel.gain_slider.value() == -2 and "channel 2" in view.mic_panel.info.text()
    assert "128 samples" in view.mic_panel.info.text()
    levels = np.zeros((3, 6))
    levels[:, 4], levels[:, 5] = 0.1, 0.3
    view.update_levels(levels)
    assert view.mic_panel.meter.rms_db == pytest.approx(-20.0)
    k.now, k.score, host.song_position_s = 8.0, 64.5, 8.0
    view.update_from_host(force=True)
    assert lane.score_label.text() == "score 64 %" and lane.now_s == 8.0
    view.teardown()


def _sing_into(port, voice, server, tmp_path, host):
    """Play ``voice`` (the song's own vocal, song-aligned) into JACK ``port`` from a process of
    its own (a second JACK client in the GUI's process can dead-lock its deactivation against
    PortAudio's), from the song's playhead once its client is up, until a line on its stdin."""
    import subprocess
    import sys

    np.save(tmp_path / "voice.npy", voice.astype(np.float32))
    code = ("import sys, time, numpy as np\n"
            "from rtsep.host.jack import JackPlayer\n"
            "v = np.load(sys.argv[1])\n"
            "p = JackPlayer(v, [sys.argv[2]], name='gui-test-singer').start()\n"
            "print('ready', flush=True)\n"
            "p.signal = np.ascontiguousarray(v[int(sys.stdin.readline()):])\n"
            "p.play(); sys.stdin.readline(); p.stop()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "voice.npy"), port],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JACK_DEFAULT_SERVER": server})
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    proc.stdin.write(f"{int(host.song_position_s * RATE)}\n")
    proc.stdin.flush()
    return proc


def test_window_with_karaoke_mic_pitch_lane_and_voice_chain(jack_server, tmp_path):  # noqa: F811
    """``--source SONG --mic``: the karaoke room appears; the lane gets the song's melody and
    the singer (the song's own voice played into the stream's input port); the mic meter
    moves; the voice chain's slider reaches its plugin."""
    app = _qt()
    from test_karaoke import KnownStems

    from rtsep.demo_clip import make_demo_clip
    from rtsep.gui.window import HostSpec, LiveWindow

    clip = make_demo_clip(RATE, seconds=40.0)
    wav = tmp_path / "song.wav"
    sf.write(wav, clip["mixture"], RATE)
    spec = HostSpec(source=str(wav), samplerate=RATE, blocksize=256,
                    extra={"mic": True, "voice_chain": "gain(-3)",
                           "stems": KnownStems(clip["vocals"], clip["accompaniment"])})
    host = spec.build()
    if host.karaoke is None:
        pytest.skip(f"no pitch guide in this build: {host.notes}")
    win = LiveWindow(spec, host, fps=30)
    win.show()
    _pump(app, 1.0)
    assert host.running and not win.karaoke.isHidden() and not win.karaoke.lane.isHidden(), win.errors
    assert "stem at the playhead" in win.view.spec_out.plot.titleLabel.text
    assert win.controls.point_combo.currentText() == f"{host.ahead.producer.name} (ahead)"  # not "low": stems play
    singer = _sing_into(host.jack_ports["in"][0], clip["vocals"].mean(axis=1), jack_server.name, tmp_path, host)
    lane, panel = win.karaoke.lane, win.karaoke.mic_panel
    try:  # the melody is computed ahead in a process of its own: wait for it and the singer
        t_end = time.monotonic() + 30.0
        while time.monotonic() < t_end and (np.isfinite(lane.ref_midi).sum() < 50
                                            or np.isfinite(lane.visible()["singer_y"]).sum() < 100):
            _pump(app, 0.5)
    finally:
        singer.communicate("stop\n", timeout=30)
    assert singer.returncode == 0, singer.stderr
    assert np.isfinite(lane.ref_midi).sum() > 50, "no reference melody reached the lane"  # the song's melody
    v = lane.visible()
    assert np.isfinite(v["singer_y"]).sum() > 20, "no singer pitch drawn"
    assert v["on"].sum() > v["off"].sum(), (v["on"].sum(), v["off"].sum())  # the singer sings the melody
    assert panel.meter.hold_db > -40, panel.meter.hold_db  # the mic meter saw the voice
    assert "256 samples" in panel.info.text()  # one block, the gain adds none
    assert lane.score_label.text() != "score –", lane.score_label.text()
    assert len(win.view._hist) == 0  # the stem tap keeps no dry input (it grew 192 kB/s, without end)
    s = panel.controls.slider("gain_db")
    s.slider.setValue(s.slider.minimum())
    assert host.voice_chain[0].gain_db == -40.0
    win.close()
    _pump(app, 0.2)
    assert not host.running and not win.errors, win.errors
