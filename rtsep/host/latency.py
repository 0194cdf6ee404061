"""Round-trip latency through a loopback (a cable, or a JACK connection).

Test signal: an exponential (log) sine sweep, detected by cross-correlation with the
emitted sweep (a matched filter). Its energy is spread over time and frequency, so the
correlation peak stands far above noise, hum or a band-limited cable, unlike a click.
The sweep is sent ``repeat`` times with silence between; each gives an estimate with
sub-sample (parabolic) interpolation.

Both ends are counted in the same callback frame counter, so the measured lag is exactly
"frames from writing a sample into PortAudio's output buffer to reading it back from the
input buffer": device/server buffering plus PortAudio's own adaptation buffer.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import DeviceError, RtsepError, one_line
from . import audio


def log_sweep(sample_rate: int, seconds: float = 0.25, f0: float = 100.0, f1: float | None = None,
              level: float = 0.5) -> np.ndarray:
    f1 = f1 or min(16000.0, 0.45 * sample_rate)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    k = np.log(f1 / f0)
    x = np.sin(2 * np.pi * f0 * seconds / k * (np.exp(t / seconds * k) - 1.0))
    fade = max(1, int(0.005 * sample_rate))
    w = np.ones_like(x)
    w[:fade] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    w[-fade:] = w[:fade][::-1]
    return (level * x * w).astype(np.float32)


def find_lag(rec: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[float, float]:
    """Lag of ``ref`` in ``rec`` (sub-sample) and the peak's prominence (peak / RMS of the
    correlation): below ~8 nothing was found."""
    n = len(rec) + len(ref)
    nfft = 1 << (n - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(rec, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)[:max_lag + 1]
    k = int(np.argmax(np.abs(c)))
    a = np.abs(c)
    prominence = float(a[k] / (np.sqrt(np.mean(a ** 2)) + 1e-20))
    frac = 0.0
    if 0 < k < len(c) - 1:
        y0, y1, y2 = a[k - 1], a[k], a[k + 1]
        den = y0 - 2 * y1 + y2
        if den != 0:
            frac = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    return k + frac, prominence


class _Player:
    """Callback that plays ``signal`` once armed and records the input beside it."""

    def __init__(self, signal: np.ndarray, out_channels: int, channel: int = 0):
        self.signal = signal
        self.rec = np.zeros(len(signal), dtype=np.float32)
        self.pos = 0
        self.armed = False
        self.channel = channel
        self.dropouts = 0
        self.callbacks = 0

    def __call__(self, indata, outdata, frames, time_info, status):
        if self.callbacks == 0:
            from .realtime import RT_PRIORITY_CALLBACK, make_realtime

            make_realtime(RT_PRIORITY_CALLBACK)
        self.callbacks += 1
        if status._flags & 0xF:
            self.dropouts += 1
        outdata.fill(0.0)
        if not self.armed:
            return
        p = self.pos
        n = min(frames, len(self.signal) - p)
        if n > 0:
            outdata[:n, self.channel] = self.signal[p:p + n]
            self.rec[p:p + n] = indata[:n, self.channel]
            self.pos = p + n


def measure(input_device=None, output_device=None, blocksize: int = 256, repeat: int = 5,
            jack_loopback: bool = False, samplerate: int | None = None, sweep_s: float = 0.25,
            max_latency_s: float = 0.5, level: float = 0.5) -> dict:
    """Measure the loop ``repeat`` times; returns a JSON-ready dict (see ``rtsep latency``)."""
    if repeat < 1:
        raise RtsepError("--repeat must be >= 1")
    sd = audio.sd()
    in_dev = audio.resolve_device(input_device, "input")
    out_dev = audio.resolve_device(output_device, "output")
    in_info, out_info = audio.device_info(in_dev), audio.device_info(out_dev)
    rate = int(samplerate or out_info["default_samplerate"])
    if jack_loopback and ("JACK" not in in_info["hostapi"] or "JACK" not in out_info["hostapi"]):
        raise DeviceError("--jack-loopback needs JACK devices: no JACK server was found by PortAudio "
                          "(start jackd first; see `rtsep devices`)")
    sweep = log_sweep(rate, sweep_s, level=level)
    slot = len(sweep) + int(max_latency_s * rate)
    signal = np.zeros(slot * repeat + int(max_latency_s * rate), dtype=np.float32)
    for k in range(repeat):
        signal[k * slot:k * slot + len(sweep)] = sweep
    player = _Player(signal, 1)
    cl = None
    before: list[str] = []
    if jack_loopback:
        from . import jack as jk

        cl = jk.client("rtsep-latency")
        before = jk.portaudio_port_names(cl)
    try:
        stream = sd.Stream(device=(in_dev, out_dev), samplerate=rate, blocksize=blocksize,
                           channels=(1, 1), dtype="float32", callback=player, latency="low")
    except Exception as exc:
        raise DeviceError(f"cannot open the audio stream: {one_line(exc)}") from None
    dev_in, dev_out = (float(v) for v in stream.latency)
    jack_info = {}
    try:
        stream.start()
        if jack_loopback:
            new = [p for p in jk.portaudio_port_names(cl) if p not in before]
            jk.connect_loopback(cl, [p for p in new if ":out_" in p], [p for p in new if ":in_" in p], 1)
            jack_info = {"jack_period": cl.blocksize, "jack_rate": cl.samplerate}
            time.sleep(0.05)
        player.armed = True
        t_end = time.monotonic() + len(signal) / rate + 3.0
        while player.pos < len(signal):
            if time.monotonic() > t_end:
                raise DeviceError("the audio stream stopped during the measurement")
            time.sleep(0.02)
    finally:
        try:
            stream.abort()
            stream.close()
        except Exception:
            pass
        if cl is not None:
            cl.close()
    lags, proms = [], []
    max_lag = int(max_latency_s * rate)
    for k in range(repeat):
        seg = player.rec[k * slot:k * slot + slot]
        lag, prom = find_lag(seg, sweep, max_lag)
        proms.append(prom)
        if prom >= 8.0:
            lags.append(lag)
    if not lags:
        raise DeviceError("no test signal came back: is the output connected to the input "
                          "(loopback cable, or --jack-loopback)?")
    lags_a = np.array(lags)
    rt = float(np.median(lags_a))
    dev_total = int(round((dev_in + dev_out) * rate))
    res = {
        "round_trip_samples": round(rt, 2),
        "round_trip_ms": round(1000 * rt / rate, 3),
        "min_samples": round(float(lags_a.min()), 2),
        "max_samples": round(float(lags_a.max()), 2),
        "std_samples": round(float(lags_a.std()), 3),
        "measurements": [round(float(x), 2) for x in lags],
        "failed_measurements": repeat - len(lags),
        "sample_rate": rate,
        "blocksize": blocksize,
        "device_input_latency_samples": int(round(dev_in * rate)),
        "device_output_latency_samples": int(round(dev_out * rate)),
        "device_latency_samples": dev_total,
        "device_latency_ms": round(1000 * dev_total / rate, 3),
        "dropouts": player.dropouts,
        "input_device": in_info["name"], "output_device": out_info["name"], "hostapi": out_info["hostapi"],
        "signal": f"log sweep {sweep_s:g} s, 100 Hz-{min(16000.0, 0.45 * rate):.0f} Hz, matched filter",
    }
    if jack_info:
        period = jack_info["jack_period"]
        extra = blocksize if blocksize else 0
        res.update(jack_info)
        res["jack_loop_cycle_samples"] = period
        res["portaudio_extra_block_samples"] = extra
        res["expected_samples"] = period + extra
    return res
