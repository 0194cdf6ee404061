"""What a live host reports: its latency breakdown and the summary ``rtsep live --json`` prints."""

from __future__ import annotations


def latency(host) -> dict:
    """A host's latency breakdown in samples and ms (device figures as PortAudio reports them)."""
    sr = host.sample_rate
    d_in = int(round(host.device_latency[0] * sr))
    d_out = int(round(host.device_latency[1] * sr))
    total = host.algorithmic_latency + host.handoff_latency + d_in + d_out
    ms = lambda n: round(1000.0 * n / sr, 3)  # noqa: E731
    out = {"algorithmic_samples": host.algorithmic_latency, "handoff_samples": host.handoff_latency,
           "device_input_samples": d_in, "device_output_samples": d_out,
           "total_samples": total, "total_ms": ms(total),
           "algorithmic_ms": ms(host.algorithmic_latency), "handoff_ms": ms(host.handoff_latency),
           "device_ms": ms(d_in + d_out), "operating_point": host.operating_point,
           "engine": host.engine.name}
    if host.mic is not None:
        out["mic_latency_samples"] = host.mic.latency_samples
        out["mic_latency_ms"] = ms(host.mic.latency_samples)
    return out


def summary(host, skip: int = 8) -> dict:
    """A host's stats plus what its parts add (engine, ahead, microphone, score): ``--json``."""
    s = host.stats.summary(skip=skip)
    s.update({"sample_rate": host.sample_rate, "blocksize": host.blocksize, "mode": host.mode,
              "engine": host.engine.name, "worker": host.worker, "latency": host.latency(),
              "notes": host.notes, "realtime": dict(host.rt_status, worker=host.engine.rt_status),
              "gc": host.interpreter.summary()})
    if host.ahead is not None:
        a = host.ahead
        s.update({"ahead_s": None if a.min_ahead_s is None else round(a.min_ahead_s, 3),
                  "ahead_model": a.producer.name, "ahead_speed_x": round(a.producer.speed_x, 1)})
    if host.mic is not None:
        s["mic_latency_samples"] = host.mic.latency_samples
        s["voice_chain_latency_samples"] = int(host.voice_chain.latency_samples)
    if host.karaoke is not None:
        s.update(host.karaoke.summary())
    elif host.mic is not None:
        s["score"] = None
    return s
