"""Round-trip latency measurement: the detector offline, and a JACK loop vs jack_iodelay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtsep.host.latency import find_lag, log_sweep

from jack_server import jack_server, rtsep_error_lines, run_cli  # noqa: F401  (fixture)

# A JACK loop is sample-exact; the sweep's correlation peak is found to well under a sample.
TOLERANCE_SAMPLES = 1.0


def test_sweep_detection_is_noise_robust():
    rng = np.random.default_rng(3)
    sweep = log_sweep(48000)
    delay = 1234
    rec = np.zeros(48000, np.float32)
    rec[delay:delay + len(sweep)] = 0.3 * sweep
    rec = np.convolve(rec, np.ones(4) / 4, mode="same")  # a dull cable
    rec += 0.3 * rng.standard_normal(len(rec))  # noise louder than the signal (SNR < 0 dB)
    rec += 0.2 * np.sin(2 * np.pi * 50 * np.arange(len(rec)) / 48000)  # hum
    lag, prominence = find_lag(rec.astype(np.float32), sweep, 24000)
    assert abs(lag - delay) < 1.0, lag  # ("same"-mode 4-tap average: within half a sample)
    assert prominence > 8
    lag0, prom0 = find_lag(rng.standard_normal(48000).astype(np.float32), sweep, 24000)
    assert prom0 < 8  # nothing there → not found


@pytest.mark.parametrize("blocksize", [256, 128])
def test_jack_loop_agrees_with_jack_iodelay(jack_server, blocksize):
    from rtsep.host.jack import run_iodelay
    from rtsep.host.latency import measure

    res = measure(blocksize=blocksize, repeat=3, jack_loopback=True)
    assert res["failed_measurements"] == 0
    assert res["std_samples"] < TOLERANCE_SAMPLES
    iodelay = run_iodelay(2.0)  # a direct JACK loop: one server cycle
    assert abs(iodelay - jack_server.period) <= TOLERANCE_SAMPLES
    # PortAudio adds one block of its own buffering on JACK (fixed blocksize): see docs/live.md
    assert abs(res["round_trip_samples"] - (iodelay + blocksize)) <= TOLERANCE_SAMPLES, (res, iodelay)
    assert res["expected_samples"] == jack_server.period + blocksize


def test_latency_cli_json(jack_server):
    p = run_cli(["latency", "--jack-loopback", "--repeat", "2", "--blocksize", "64", "--json"], jack_server)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["round_trip_samples"] == pytest.approx(256 + 64, abs=TOLERANCE_SAMPLES)
    assert res["round_trip_ms"] == pytest.approx(1000 * 320 / 48000, abs=0.05)
    assert res["chain"]["algorithmic_samples"] > 0


def test_no_loopback_is_one_line(jack_server):
    # The dummy backend's capture is silent: nothing comes back without a loop.
    p = run_cli(["latency", "--repeat", "1"], jack_server)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = rtsep_error_lines(p.stderr)
    assert len(lines) == 1 and "no test signal came back" in lines[0], p.stderr
