"""The latency budget (rtsep.latency_budget) and the streaming U-Net as a live processor
(rtsep.unet.live): budget parsing and selection, the true delay by cross-correlation at 44.1 and
48 kHz, block-size independence, silence until the pipeline fills, live path == file mode, a
late worker counted and covered, no allocation in the audio path, the commands, and a live run
on a JACK server at 128-frame blocks beside a passthrough host."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rtsep.errors import RtsepError
from rtsep.latency_budget import choose, parse_budget, separator_for_latency
from rtsep.unet import exchange as X
from rtsep.unet import worker_process
from rtsep.unet.ladder import points
from rtsep.unet.live import LiveUNet
from allocation import peak_allocated_bytes

ODD_BLOCKS = (37, 128, 1000, 1, 511, 4096, 64)


def _noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((int(seconds * rate), 2))).astype(np.float32)


def _music(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A voice-like harmonic line (on and off) over noise and a bass note, stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 220 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 8)) * (np.sin(2 * np.pi * t) > 0)
    bed = 0.05 * rng.standard_normal((len(t), 2)) + 0.2 * np.sin(2 * np.pi * 55 * t)[:, None]
    return (0.2 * voice[:, None] * np.array([0.8, 0.6]) + bed).astype(np.float32)


def _stream(sep, x: np.ndarray, sizes=ODD_BLOCKS) -> np.ndarray:
    """``sep.process`` over ``x`` in blocks cycling through ``sizes``; the outputs joined."""
    out = np.zeros_like(x)
    i = k = 0
    while i < len(x):
        n = min(sizes[k % len(sizes)], len(x) - i)
        sep.process(x[i:i + n], out=out[i:i + n])
        i += n
        k += 1
    return out


def _budget_for(point) -> str:
    """A budget (ms) that the ladder point fits at 44.1 kHz, and no longer point does."""
    return f"{point.true_delay_ms + 0.05:.2f}ms"


@pytest.fixture(scope="module")
def s4():
    """The shortest ladder point that advances 4 frames per step (fewer network calls per second)."""
    return next(p for p in points() if p.step_frames >= 4)


# --- the budget ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("150ms", 0.15), ("0.25s", 0.25), ("1s", 1.0), (" 300 MS ", 0.3),
                                           (".5s", 0.5), ("2.s", 2.0)])
def test_time_budgets_parse(text, seconds):
    b = parse_budget(text)
    assert b.is_time and b.name is None and b.seconds == pytest.approx(seconds)


def test_named_budgets_and_numbers_from_python():
    assert parse_budget("low").name == "low" and parse_budget("Quality").name == "quality"
    assert parse_budget(0.3).seconds == pytest.approx(0.3)  # the Python API also takes seconds


@pytest.mark.parametrize("text", ["0.3", "fast", "", "1e3s", "3 minutes", "-1s", "0s", "0ms", "__import__('os')",
                                  "1s; rm -rf /", "61s", "nan s", "inf s", "1,5s"])
def test_bad_budgets_are_one_line(text):
    with pytest.raises(RtsepError) as e:
        parse_budget(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--latency"), msg


def test_bad_budget_types_are_one_line():
    for value in (None, True, [1], float("nan")):
        with pytest.raises(RtsepError):
            parse_budget(value)


def test_budget_picks_the_best_separator_whose_true_delay_fits():
    sr = 44100
    assert choose("low", sr).operating_point == "low"
    assert choose("quality", sr).operating_point == "quality"
    assert choose("12ms", sr).operating_point == "low"     # 11.95 ms at 44.1 kHz
    ladder = points()
    shortest = ladder[0]
    below = choose(f"{shortest.true_delay_ms - 1:.1f}ms", sr)
    assert below.kind == "recurrent" and below.operating_point == "quality"  # below the U-Net: 111.94 ms
    for p in ladder:
        c = choose(_budget_for(p), sr)
        assert c.is_unet and c.point == p, (p.name, c.describe())
        assert c.true_delay_samples <= parse_budget(_budget_for(p)).seconds * sr
        assert c.true_delay_samples == c.stream.latency_samples + c.allowance_samples
        assert c.allowance_samples == p.compute_samples_44k
    with pytest.raises(RtsepError, match="no separator is that fast"):
        choose("5ms", sr)


def test_budget_at_48k_fits_the_resampled_delay():
    c = choose("0.5s", 48000)
    assert c.is_unet and c.true_delay_samples <= 0.5 * 48000
    assert c.describe()["delay_ms"] <= 500.0


# --- the processor --------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [44100, 48000])
def test_true_delay_by_cross_correlation_odd_blocks_and_silence_before_fill(rate, s4):
    """Noise in, mix out: the correlation peaks at exactly ``latency_samples`` (algorithmic +
    compute allowance), odd blocks give the fixed-block output, the output is silent before."""
    sep = separator_for_latency(_budget_for(s4), rate, 2, mode="mix")  # files: waits for its worker
    try:
        assert isinstance(sep, LiveUNet)
        D = sep.latency_samples
        assert D == sep.algorithmic_samples + sep.allowance_samples
        x = _noise(1.5, rate)
        x = np.concatenate([x, np.zeros((D, 2), np.float32)])
        y = _stream(sep, x)
        assert not y[:D].any()  # silence until the pipeline has filled ...
        assert np.abs(y[D:D + rate // 10]).max() > 0.01  # ... and sound right after
        n = 1 << int(2 * len(x)).bit_length()
        xc = np.fft.irfft(np.fft.rfft(y.sum(1), n) * np.conj(np.fft.rfft(x.sum(1), n)), n)
        assert int(np.argmax(xc[:len(x)])) == D
        sep.reset()
        fixed = _stream(sep, x, (128,))
        np.testing.assert_allclose(fixed, y, atol=1e-6, rtol=0)
        assert sep.deadline_misses == 0
    finally:
        sep.close()


def test_live_path_equals_file_mode(s4):
    """The processor over odd blocks (its worker kept up) == file mode (``separate_array`` with
    the same budget, the streaming U-Net's own stems) delayed by the true delay."""
    from rtsep.filemode import separate_array

    rate, budget = 44100, _budget_for(s4)
    x = _music(2.0, rate)
    res = separate_array(x, rate, latency=budget)
    assert res.extra["choice"]["separator"] == "unet-stream"
    whole_v, whole_a = choose(budget, rate).stream.separate(x)
    np.testing.assert_array_equal(res.vocals, whole_v)  # file mode streams the same StreamingUNet.separate
    np.testing.assert_array_equal(res.accompaniment, whole_a)
    for mode, stem in (("karaoke", res.accompaniment), ("vocals", res.vocals)):
        sep = separator_for_latency(budget, rate, 2, mode=mode)
        try:
            D = sep.latency_samples
            assert D == res.extra["true_delay_samples"]
            y = _stream(sep, np.concatenate([x, np.zeros((D, 2), np.float32)]))
            np.testing.assert_allclose(y[D:], stem, atol=1e-6, rtol=0)
            assert np.abs(stem).max() > 0.01
        finally:
            sep.close()


class _SlowStream:
    """The real stream, each push ``delay_s`` late: a worker that cannot keep up."""

    def __init__(self, stream, delay_s):
        self.stream, self.delay_s = stream, delay_s

    def push(self, block):
        time.sleep(self.delay_s)
        return self.stream.push(block)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def test_late_worker_is_a_deadline_miss_and_plays_the_dry_input(s4):
    from rtsep.host.stats import StreamStats

    rate, B = 44100, 512
    c = choose(_budget_for(s4), rate)
    stats = StreamStats(rate, B)
    sep = LiveUNet(s4, rate, 2, mode="karaoke", blocking=False, realtime=False, stream=_SlowStream(c.stream, 0.05),
                   stats=stats)
    try:
        D = sep.latency_samples
        x = _noise(2.0, rate)
        y = np.zeros_like(x)
        for i in range(0, len(x), B):  # far faster than real time: the worker falls behind
            sep.process(x[i:i + B], out=y[i:i + B])
        assert not y[:D].any()  # before the pipeline fills nothing is due: silence, no miss
        assert sep.deadline_misses > 0 and stats.deadline_misses == sep.deadline_misses
        assert stats.fallback_blocks >= stats.deadline_misses
        late = slice(len(x) - B, len(x))  # the last block: stems long overdue, the dry input instead
        np.testing.assert_allclose(y[late], x[late.start - D:late.stop - D], atol=1e-7)
    finally:
        sep.close()


def test_audio_path_allocates_nothing(s4):
    rate, B = 48000, 128
    c = choose(_budget_for(s4), rate)
    sep = LiveUNet(s4, rate, 2, blocking=False, stream=c.stream, start_worker=False, max_block=1024)
    x = _noise(B / rate, rate, seed=3)
    out = np.zeros_like(x)
    for _ in range(20):
        sep.process(x, out=out)
    sep.mode = "mix"  # a ramped change on the way
    peak = peak_allocated_bytes(lambda: sep.process(x, out=out), 300)
    sep.close()
    assert peak < 1024, f"{peak} bytes allocated in 300 blocks"


@pytest.mark.timeout(120)
def test_audio_path_page_faults_nothing(s4):
    """The rings and buffers the callback writes and reads are mapped when the processor is
    built. Made by ``np.zeros``, the 4 MB input ring (a fresh mapping, for which numpy asks
    huge pages) faulted in the audio thread at its 2 MB boundaries over the first lap, each
    fault zeroing 2 MB there."""
    import resource

    from rtsep.host.realtime import fix_mmap_threshold

    fix_mmap_threshold()  # as after any stream: buffers of 1 MB and more are fresh mappings
    rate = 44100
    c = choose(_budget_for(s4), rate)
    sep = LiveUNet(s4, rate, 2, blocking=False, stream=c.stream, start_worker=False, max_block=1024)
    x = _noise(0.01, rate)[:128]
    out = np.zeros_like(x)
    sep.process(x, out=out)  # the first call's own setup aside
    ex = sep._ex
    blocks = ex.in_frames // 128 + 64  # past one whole lap of the input ring
    faults = 0
    for _ in range(blocks):
        f0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        sep.process(x, out=out)
        faults += resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - f0
        ex.counters[X.IN_READ] = ex.counters[X.IN_WRITTEN]  # the worker's part: keep the ring from filling
    sep.close()
    # the rings unmapped: 513; a stray one or two (the interpreter's own allocator taking a new arena)
    # came in a whole-suite run
    assert faults <= 8, f"{faults} page faults in {blocks} blocks of the audio path"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["process", "thread"])
def test_worker_stays_at_normal_priority_even_when_started_from_a_realtime_thread(s4, kind):
    """The worker and the network's own threads run at normal priority (real-time network threads
    on two cores preempted the host's lock holders: the callback waited for them), even when the
    separator is made on a real-time thread, whose policy a new thread or process inherits."""
    import os
    import threading

    from rtsep.host.realtime import make_realtime

    if kind == "process" and not worker_process.available():
        pytest.skip("this OS cannot share the worker's memory with a process (no memfd)")
    made: list = []

    def build():
        made.append(make_realtime(10))
        try:
            made.append(LiveUNet(s4, 44100, 2, blocking=False, worker=kind))
        except BaseException as exc:
            made.append(exc)

    t = threading.Thread(target=build)
    t.start()
    t.join(100)
    status, sep = made
    if isinstance(sep, BaseException):
        raise sep
    try:
        assert sep.worker_kind == kind and sep.rt_status.startswith("normal priority")
        tids = sep.worker_tids()
        assert len(tids) >= 2, "the network's threads were not found"  # threads=2: one pool thread
        pid = os.getpid()
        assert all(os.path.exists(f"/proc/{pid}/task/{t}") == (kind == "thread") for t in tids)
        x = _noise(0.5, 44100)
        out = np.zeros_like(x)
        for i in range(0, len(x), 1024):
            sep.process(x[i:i + 1024], out=out[i:i + 1024])
        time.sleep(0.3)
        assert sep.pushes > 0
        assert {os.sched_getscheduler(t) for t in tids} == {os.SCHED_OTHER}, status
    finally:
        sep.close()


def test_chain_spec_takes_a_budget():
    from rtsep.plugins.spec import ChainSpecError, parse_chain

    chain = parse_chain('separator(latency="0.35s", mode="vocals"), gain(-3)', 44100, 2)
    sep = next(iter(chain))
    assert isinstance(sep, LiveUNet) and sep.mode == "vocals" and sep.blocking
    assert chain.latency_samples == choose("0.35s", 44100).true_delay_samples
    sep.close()
    assert type(next(iter(parse_chain('separator(latency="0.12s")', 44100, 2)))).__name__ == "Separator"
    with pytest.raises(ChainSpecError) as e:
        parse_chain('separator(latency="soon")', 44100, 2)
    assert "\n" not in str(e.value) and "latency" in str(e.value)


# --- commands ---------------------------------------------------------------------------------

def _rtsep(*args, timeout=240, env=None):
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_info_latency_json_says_what_was_chosen():
    p = _rtsep("info", "--latency", "0.35s", "--samplerate", "44100", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    c = choose("0.35s", 44100)
    assert d["separator"] == "unet-stream" and d["ladder_point"] == c.point.name
    assert (d["window_frames"], d["lookahead_frames"], d["step_frames"]) == \
        (c.point.window_frames, c.point.lookahead_frames, c.point.step_frames)
    assert d["delay_samples"] == c.true_delay_samples and d["delay_ms"] <= 350.0
    assert d["delay_samples"] == d["algorithmic_samples"] + d["allowance_samples"]
    assert d["cpu"]["load"] > 0 and "measured now" in d["cpu"]["method"]
    p = _rtsep("info", "--latency", "soonish")
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith("rtsep: error: --latency")


def test_separate_with_a_budget_writes_the_live_stems(tmp_path, s4):
    from rtsep.filemode import separate_array

    x = _music(2.5, 44100, seed=1)
    sf.write(tmp_path / "song.wav", x, 44100, subtype="FLOAT")
    budget = _budget_for(s4)
    p = _rtsep("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--latency", budget, "--quiet")
    assert p.returncode == 0, p.stderr
    acc, sr = sf.read(tmp_path / "out" / "song" / "accompaniment.wav", dtype="float32")
    voc, _ = sf.read(tmp_path / "out" / "song" / "vocals.wav", dtype="float32")
    assert sr == 44100 and acc.shape == x.shape
    want = separate_array(x, 44100, latency=budget)
    np.testing.assert_allclose(acc, want.accompaniment, atol=1e-6)
    np.testing.assert_allclose(voc, want.vocals, atol=1e-6)
    p = _rtsep("separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out2"), "--latency", "1 minute")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and "rtsep: error:" in p.stderr
    assert not (tmp_path / "out2" / "song").exists()


# --- live, on a JACK server -------------------------------------------------------------------

LIVE_S = 20.0  # the benchmark runs 60 s (benchmarks/live.py --latency 0.3s)
LIVE_RATE = 44100  # the U-Net's own rate: no resampling (at 48 kHz soxr's lag adds ~46 ms to the delay)


@pytest.fixture(scope="module")
def jack128():
    """A dummy-backend JACK server at 44.1 kHz with 128-frame periods (PortAudio closed with a
    bounded wait before it stops: tests/jack_server.py)."""
    from jack_server import private_jack_server

    with private_jack_server(rate=LIVE_RATE, period=128) as srv:
        yield srv


@pytest.mark.timeout(600)
def test_live_budget_on_jack_keeps_time_beside_a_passthrough_host(jack128, tmp_path):
    """``rtsep live --latency 0.3s`` at 128-frame blocks: no deadline misses, and no more dropouts
    than a passthrough host (the separator bypassed: an empty chain) in the same server session."""
    from jack_server import run_cli, xrun_problems
    from rtsep.host.source import FileSource
    from rtsep.host.stream import LiveHost
    from rtsep.plugins import Chain

    song = _music(LIVE_S + 10.0, LIVE_RATE)  # longer than the run: it ends by --duration
    sf.write(tmp_path / "song.wav", song, LIVE_RATE, subtype="FLOAT")
    attempts = []
    for attempt in range(3):  # a VM's scheduling can void a run (see xrun_problems); a fault fails all three
        src = FileSource.from_array(song, LIVE_RATE, 2)
        src.loop = True
        bypass = LiveHost(Chain([]), worker=False, source=src, keep_input=True, blocksize=128)
        bypass.run(LIVE_S, stop_at_source_end=False)
        sb = bypass.stats.summary(skip=16)
        before = jack128.xrun_counts()
        p = run_cli(["live", "--source", str(tmp_path / "song.wav"), "--latency", "0.3s", "--blocksize", "128",
                     "--duration", str(LIVE_S), "--json"], jack128, timeout=LIVE_S + 120)
        assert p.returncode == 0, p.stderr
        s = json.loads(p.stdout.strip().splitlines()[-1])
        problems = xrun_problems(jack128, before, s)
        # the worker never late (late stems play dry: fallback blocks); callback overruns only where
        # the server's own late cycles explain them; dropouts no more than the passthrough's, or
        # all of them the server's late cycles
        ok = {"worker_on_time": s["fallback_blocks"] == 0,
              "misses": s["deadline_misses"] == 0 or not problems,
              "dropouts": s["dropouts"] <= sb["dropouts"] or not problems}
        attempts.append({k: s[k] for k in ("dropouts", "deadline_misses", "fallback_blocks", "unet_worker")}
                        | {"passthrough_dropouts": sb["dropouts"], "problems": problems, "ok": ok})
        if all(ok.values()):
            break
    assert s["engine"] == "chain" and not s["worker"]  # the U-Net's own worker; the callback only mixes
    assert s["latency"]["operating_point"] == "0.3s" and s["latency"]["algorithmic_samples"] >= 0.15 * LIVE_RATE
    assert any("streaming U-Net" in n for n in s["notes"]), s["notes"]
    assert s["realtime"]["worker"].startswith("normal priority"), s["realtime"]
    assert abs(s["callbacks"] - LIVE_S * LIVE_RATE / 128) < 0.1 * LIVE_S * LIVE_RATE / 128, s
    assert all(attempts[-1]["ok"].values()), attempts


# --- the worker as a process of its own -------------------------------------------------------

def _keep_up(sep, x: np.ndarray, block: int = 1000) -> np.ndarray:
    """A live (non-blocking) processor over ``x``, each block only once its worker has pushed all
    input so far (a worker that keeps up, whatever this machine's load)."""
    c = sep._ex.counters
    y = np.zeros_like(x)
    for i in range(0, len(x), block):
        deadline = time.monotonic() + 30
        while int(c[X.IN_DONE]) < sep._in_pos and time.monotonic() < deadline:
            time.sleep(0.0005)
        sep.process(x[i:i + block], out=y[i:i + block])
    return y


@pytest.mark.timeout(180)
@pytest.mark.skipif(not worker_process.available(), reason="no memfd: the worker is a thread here")
def test_worker_process_output_equals_file_mode_and_resets(s4):
    """A live processor's worker is a process of its own (its Python never holds the callback's
    interpreter lock); when it keeps up its output is file mode's, delayed by the true delay,
    again after a reset; it ends with ``close``."""
    rate = 44100
    c = choose(_budget_for(s4), rate)
    sep = LiveUNet(s4, rate, 2, mode="karaoke", blocking=False, stream=c.stream, allowance_samples=c.allowance_samples)
    try:
        assert sep.worker_kind == "process" and sep.unet is None
        D = sep.latency_samples
        x = _music(2.0, rate, seed=2)
        x = np.concatenate([x, np.zeros((D, 2), np.float32)])
        _, want = c.stream.separate(x[:-D])
        y = _keep_up(sep, x)
        np.testing.assert_allclose(y[D:], want, atol=1e-6, rtol=0)
        assert not y[:D].any() and sep.deadline_misses == 0 and sep.error is None
        load = sep.compute_load()
        assert load["worker"] == "process" and load["pushes"] > 0 and 0 < load["busy_share"]
        sep.reset()
        np.testing.assert_allclose(_keep_up(sep, x, 777)[D:], want, atol=1e-6, rtol=0)
        proc = sep._worker._proc
    finally:
        sep.close()
    assert proc.poll() is not None  # ended, and reaped


@pytest.mark.timeout(180)
@pytest.mark.skipif(not worker_process.available(), reason="no memfd: the worker is a thread here")
def test_worker_process_ends_with_its_host_and_reports_a_broken_model(s4, tmp_path):
    """A host killed outright leaves no worker behind (the wake-up pipe's end closes); a broken
    model file is one line from the worker, and no process is left."""
    import os
    import signal

    code = ("import sys, time\n"
            "from rtsep.unet.ladder import points\n"
            "from rtsep.unet.live import LiveUNet\n"
            "p = next(p for p in points() if p.step_frames >= 4)\n"
            "sep = LiveUNet(p, 44100, 2, blocking=False)\n"
            "print(sep._worker._proc.pid, flush=True)\n"
            "time.sleep(600)\n")
    host = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(host.stdout.readline())
        assert os.path.exists(f"/proc/{child}")
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        with open(f"/proc/{child}/stat") as fh:  # an orphan is reaped by init: a zombie counts as ended
            if fh.read().split(") ", 1)[1].startswith("Z"):
                break
        time.sleep(0.1)
    else:
        assert not os.path.exists(f"/proc/{child}"), "the worker process outlived its host"

    bad = tmp_path / "unet.onnx"
    bad.write_bytes(b"not a model" * 100)
    before = set(os.listdir("/proc"))
    with pytest.raises(RtsepError) as e:
        LiveUNet(s4, 44100, 2, blocking=False, model=str(bad))
    assert "worker process failed" in str(e.value) and "\n" not in str(e.value)
    assert not [d for d in set(os.listdir("/proc")) - before if d.isdigit() and _is_worker(d)]


def _is_worker(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"rtsep.unet.worker_process" in fh.read()
    except OSError:
        return False
