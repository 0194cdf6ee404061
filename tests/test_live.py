"""The live host against a real JACK server (dummy backend), plus device-free unit tests."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from rtsep.host.ring import FrameRing, SlotRing, ValueRing
from rtsep.host.handoff import _fallback_mix

from jack_server import (jack_server, free_registry_slot, rtsep_error_lines, run_cli,  # noqa: F401  (fixture)
                         xrun_problems)

from pathlib import Path
from allocation import peak_allocated_bytes

PLACEHOLDER = str(Path(__file__).resolve().parents[1] / "models" / "placeholder.onnx")


def _test_song(seconds=2.0, rate=48000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)))
    bed = 0.05 * rng.standard_normal((len(t), 2))
    x = bed + voice[:, None] * np.array([0.8, 0.6])
    return x.astype(np.float32)


# --- device-free ------------------------------------------------------------------------------

def test_rings_wrap_and_never_block():
    r = FrameRing(8, 1)
    assert r.write(np.arange(6, dtype=np.float32)[:, None]) == 6
    out = np.zeros((4, 1), np.float32)
    assert r.read_into(out) == 4 and out[:, 0].tolist() == [0, 1, 2, 3]
    assert r.write(np.arange(6, 12, dtype=np.float32)[:, None]) == 6  # wraps
    assert r.write(np.ones((5, 1), np.float32)) == 0 and r.overruns == 5  # full: dropped, not waited
    assert r.read_new()[:, 0].tolist() == [4, 5, 6, 7, 8, 9, 10, 11]
    assert r.latest(3)[:, 0].tolist() == [9, 10, 11]
    r.write(np.full((20, 1), 7, np.float32), lossy=True)  # a tap overwrites the oldest
    assert r.read_new()[:, 0].tolist() == [7] * 8
    q = SlotRing(2, 4, 1)
    assert q.push(np.ones((4, 1), np.float32), 5) and q.push(np.ones((4, 1), np.float32), 6)
    assert not q.push(np.ones((4, 1), np.float32), 7)
    assert q.peek_seq() == 5 and q.peek().shape == (4, 1)
    q.pop()
    assert q.peek_seq() == 6
    v = ValueRing(4, 2)
    for k in range(6):
        v.push(k * 10, k, -k)
    t, vals = v.read_new()
    assert t.tolist() == [20, 30, 40, 50] and vals[-1].tolist() == [5, -5]
    assert v.latest()[0] == 50


def test_fallback_is_an_aligned_crossfade_never_silence():
    B, F = 64, 16
    carry_w = np.zeros((F, 1), np.float32)
    carry_d = np.zeros((F, 1), np.float32)
    st = np.array([1.0, 1.0, 0.0])
    out = np.zeros((B, 1), np.float32)
    wet = np.full((B, 1), 1.0, np.float32)
    dry = np.full((B, 1), -1.0, np.float32)
    carry_w[:] = 1.0
    carry_d[:] = -1.0
    ys = []
    for ok in (True, True, False, False, True, True, True):
        _fallback_mix(wet, ok, dry, B, F, carry_w, carry_d, st, out)
        ys.append(out[:, 0].copy())
    y = np.concatenate(ys)
    assert np.all(y[:2 * B] == 1.0)  # all wet: exact
    assert np.max(np.abs(np.diff(y))) <= 2.0 / F + 1e-6  # never a jump: ramps of F samples
    assert np.all(y[3 * B:4 * B] == -1.0)  # the missing blocks play the (aligned) dry signal
    assert np.all(y[-B:] == 1.0)  # and it comes back


def test_no_portaudio_is_one_line(tmp_path):
    fake = tmp_path / "sounddevice.py"
    fake.write_text("raise OSError('PortAudio library not found')\n")
    code = textwrap.dedent("""
        import rtsep, rtsep.host.stream, rtsep.commands.live  # importable without PortAudio
        from rtsep.cli import main
        raise SystemExit(main(['devices']))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "libportaudio2" in p.stderr and len(p.stderr.strip().splitlines()) == 1


# --- on JACK ---------------------------------------------------------------------------------

def test_duplex_10s_no_dropouts(jack_server):
    from rtsep.host.stream import LiveHost

    # Up to three 10 s runs, as VM preemption can also stretch a single callback: a
    # systematic fault fails all three (see xrun_problems).
    for attempt in range(3):
        host = LiveHost(model=PLACEHOLDER, blocksize=256, mode="karaoke")
        assert "JACK" in __import__("rtsep.host.audio", fromlist=["x"]).device_info(host.output_device)["hostapi"]
        seen = []
        before = jack_server.xrun_counts()
        reason = host.run(10.0, on_tick=lambda h: seen.append(h.taps.levels.latest()))
        s = host.stats.summary()
        assert reason == "duration"
        problems = xrun_problems(jack_server, before, s)
        if not problems:
            break
    assert not problems, (problems, s, jack_server.read_log()[-2000:])
    assert abs(s["callbacks"] - 10 * 48000 / 256) < 0.05 * 10 * 48000 / 256, s
    assert s["callback_pct_p99"] < 100
    assert any(x is not None for x in seen)  # the GUI taps were fed while streaming
    assert host.latency()["total_samples"] >= host.algorithmic_latency + 256


def test_live_karaoke_from_source_equals_file_mode(jack_server, tmp_path):
    from rtsep.filemode import separate_array
    from rtsep.host.jack import JackRecorder
    from rtsep.host.stream import LiveHost

    song = _test_song(2.0)
    path = tmp_path / "song.wav"
    sf.write(path, song, 48000, subtype="FLOAT")
    ref = separate_array(song, 48000, model=PLACEHOLDER).accompaniment
    n = len(ref)
    # A server-wide JACK xrun (loaded CI machine, VM) voids a recording, and VM preemption can
    # stretch a single callback of a 2 s run: up to five tries; a systematic fault fails all five.
    err, voided, problems_seen = None, 0, []
    for attempt in range(5):
        host = LiveHost(source=path, model=PLACEHOLDER, blocksize=256, mode="karaoke")
        host.open()  # ports exist: record PortAudio's output on the JACK side from sample 0
        assert len(host.jack_ports["out"]) == 2, host.jack_ports
        rec = JackRecorder(host.jack_ports["out"], seconds=5.0).start()
        before = jack_server.xrun_counts()
        try:
            reason = host.run(8.0)
        finally:
            live = rec.stop()
        assert reason == "source-ended"
        problems = xrun_problems(jack_server, before, host.stats.summary())
        if problems:
            problems_seen.append((problems, host.stats.summary()))
            continue
        # Align: the live output is the file-mode output delayed by the end-to-end latency.
        c = np.fft.irfft(np.fft.rfft(live[:, 0], 2 * len(live)) * np.conj(np.fft.rfft(ref[:, 0], 2 * len(live))))
        lag = int(np.argmax(c[:len(live) - n + 1]))
        expected = host.algorithmic_latency + host.handoff_latency
        assert lag >= expected, (lag, expected)  # (+ PortAudio/JACK buffering + start-up gap)
        got = live[lag:lag + n]
        assert len(got) == n
        err, voided = float(np.max(np.abs(got - ref))), rec.xruns
        if err < 1e-4 or rec.xruns == 0:
            break
    assert err is not None, problems_seen  # every try had xruns of our making
    if err >= 1e-4 and voided:
        pytest.skip(f"every clean recording was voided by JACK server xruns (last: {voided}); nothing to compare")
    assert err < 1e-4, (err, voided)


def test_cli_live_json_source_resampled_and_ends(jack_server, tmp_path):
    path = tmp_path / "short44k.wav"
    sf.write(path, _test_song(1.0, rate=44100), 44100)  # resampled to the server's 48 kHz
    p = run_cli(["live", "--source", str(path), "--mode", "vocals", "--model", PLACEHOLDER,
                 "--duration", "20", "--json"], jack_server, timeout=60)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert s["stopped"] == "source-ended"
    assert {"callbacks", "dropouts", "deadline_misses"} <= set(s)
    assert s["sample_rate"] == 48000 and s["callbacks"] > 150
    assert s["latency"]["total_samples"] > 0


@pytest.mark.parametrize("args, text", [
    (["--input-device", "no-such-device"], "no input device matches"),
    (["--output-device", "97"], "no audio device with index 97"),
    (["--source", "/nonexistent/song.wav"], "no such file"),
])
def test_missing_device_or_source_is_one_line(jack_server, args, text):
    p = run_cli(["live", "--duration", "1", "--model", PLACEHOLDER, *args], jack_server, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    lines = rtsep_error_lines(p.stderr)
    assert len(lines) == 1 and text in lines[0], p.stderr


def test_unsupported_rate_falls_back_to_device_rate(jack_server):
    from rtsep.host.stream import LiveHost

    host = LiveHost(model=PLACEHOLDER, samplerate=44100, blocksize=256)
    assert host.sample_rate == 48000 and any("44100" in n for n in host.notes)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_jack_server_stopping_mid_stream_is_a_clean_exit(jack_server, how):
    """The JACK server under a running `rtsep live` stops (SIGTERM) or dies (SIGKILL): rtsep
    exits within a few seconds, with one `rtsep:` line, no traceback and no abort (PortAudio
    aborts the process if it is terminated after its server has gone)."""
    import os
    import signal

    from rtsep.host.jack import JackServer

    other = JackServer(rate=48000, period=256).start()  # its own server, to stop or kill
    os.environ["JACK_DEFAULT_SERVER"] = jack_server.name  # start() switched the env; restore
    proc = None
    try:
        proc = subprocess.Popen([sys.executable, "-m", "rtsep", "live", "--duration", "60", "--model",
                                 PLACEHOLDER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "JACK_DEFAULT_SERVER": other.name})
        line = proc.stdout.readline()  # "streaming ..." once the stream runs
        assert line.startswith("streaming"), line + proc.stderr.read()
        time.sleep(1.0)
        if how == "killed":
            other.proc.send_signal(signal.SIGKILL)
        other.stop()  # (reaps the killed server)
        t0 = time.monotonic()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"rtsep live still running 30 s after the server was {how}: {err[-2000:]}")
        exit_s = time.monotonic() - t0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        other.stop()
        if how == "killed":
            free_registry_slot(other.name)
        os.environ["JACK_DEFAULT_SERVER"] = jack_server.name
    # 2 s without callbacks (the watchdog) + at most 2 s for the stream's close + the exit
    assert exit_s < 8, (exit_s, err)
    assert proc.returncode == 2, (proc.returncode, err)  # not 134 (abort) or -6
    assert "Traceback" not in err and "Assertion" not in err, err
    lines = rtsep_error_lines(err)
    assert len(lines) == 1 and "audio stream stopped" in lines[0], err


@pytest.mark.parametrize("api", ["rtsep", "sounddevice"])
def test_process_exit_after_the_server_died_does_not_abort(jack_server, api):
    """PortAudio opened its JACK client on a server that is gone by the time the process exits:
    sounddevice's exit handler would terminate PortAudio and abort (status 134). rtsep's exit
    (an atexit handler; sounddevice imported directly is adopted too) leaves it alone."""
    import os

    from rtsep.host.jack import JackServer

    other = JackServer(rate=48000, period=256).start()
    os.environ["JACK_DEFAULT_SERVER"] = jack_server.name
    first = ("from rtsep.host import audio; audio.list_devices()" if api == "rtsep" else
             "import sounddevice; sounddevice.query_devices(); import rtsep.host.audio")
    code = textwrap.dedent(f"""
        import sys
        {first}
        print("jack" if any("JACK" in h["name"] for h in sys.modules["sounddevice"].query_hostapis())
              else "no-jack", flush=True)
        sys.stdin.readline()  # the server is stopped meanwhile
    """)
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "JACK_DEFAULT_SERVER": other.name})
        assert proc.stdout.readline().strip() == "jack", proc.stderr.read()
        other.stop()
        out, err = proc.communicate("\n", timeout=30)
    finally:
        other.stop()
        os.environ["JACK_DEFAULT_SERVER"] = jack_server.name
    assert proc.returncode == 0, (proc.returncode, err)
    assert "Assertion" not in err, err


def test_callback_does_not_allocate_buffers(jack_server):
    """Run the real callback 300 times by hand: the traced memory peak stays below one
    block (512 frames x 2 ch x 4 B = 4 KiB), i.e. no array is ever allocated."""
    from rtsep.host.stream import LiveHost

    class Flags:
        _flags = 0

    for worker in (False, True):
        host = LiveHost(model=PLACEHOLDER, blocksize=512, worker=worker)
        if worker:  # the hand-off path without a thread: every block is a (dry) fallback
            host.engine.worker.start(thread=False)
        indata = (0.1 * np.random.default_rng(0).standard_normal((512, 2))).astype(np.float32)
        outdata = np.zeros((512, 2), np.float32)
        for _ in range(20):  # warm caches
            host._callback_duplex(indata, outdata, 512, None, Flags())
        peak = peak_allocated_bytes(lambda: host._callback_duplex(indata, outdata, 512, None, Flags()), 300)
        if worker:
            host.engine.worker.stop()
        assert host.error is None, host.error
        assert peak < 3 * 1024, (worker, peak, host.stats.summary())


def test_live_classic_method_runs(jack_server, tmp_path):
    """`rtsep live --method center` streams a file through the centre-cancellation plugin."""
    sr = 48000
    t = np.arange(sr) / sr
    x = (0.2 * np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1)).astype(np.float32)
    sf.write(tmp_path / "c.wav", x, sr)
    p = run_cli(["live", "--source", str(tmp_path / "c.wav"), "--method", "center", "--duration", "1",
                 "--json"], jack_server, timeout=60)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["callbacks"] > 0


def test_jack_xrun_counts_split_late_clock_from_late_clients():
    from rtsep.host.jack import JackServer

    srv = JackServer()  # not started: parse a recorded log
    srv.log = b"""JACK server starting in non-realtime mode
JackTimedDriver::Process XRun = 42 usec
JackEngine::XRun: client = PortAudio was not finished, state = Triggered
JackEngine::XRun: client = PortAudio was not finished, state = Running
self-connect-mode is "Don't restrict self connect requests"
JackEngine::XRun: client = PortAudio was not finished, state = Running
JackTimedDriver::Process XRun = 29 usec
"""
    # two late wake-ups of the server's clock; one client overrun that no late wake-up explains
    assert srv.xrun_counts() == (2, 1)
