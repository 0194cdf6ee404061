"""Production-style vocals for training: a dry mono voice becomes a mixed stereo vocal.

Produced songs carry their voice through a chain the MIR-1K recordings never saw: EQ,
compression, saturation, doubled takes and harmonies panned around a centred lead, delays
and stereo reverb (rooms and plates, with pre-delay). :func:`produce_vocal` draws such a
chain at random with Spotify's ``pedalboard`` (the effects) and ``soxr`` (detuned doubles)
and returns the whole stereo vocal: it is the separation target, as a song's vocal stem
includes its effects.

Arrays: ``voice`` ``(samples,)`` float32 mono; results ``(2, samples)`` float32 (L, R).
"""

from __future__ import annotations

import numpy as np

SR = 16000


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law scaled so that the centre (``pan = 0``) gives unit gains;
    ``pan`` in [-1 (left), 1 (right)]."""
    theta = (pan + 1.0) * np.pi / 4.0
    return float(np.sqrt(2.0) * np.cos(theta)), float(np.sqrt(2.0) * np.sin(theta))


def place(mono: np.ndarray, pan: float) -> np.ndarray:
    """``(samples,)`` -> ``(2, samples)`` panned."""
    gl, gr = pan_gains(pan)
    return np.stack([gl * mono, gr * mono]).astype(np.float32)


def _shift(x: np.ndarray, samples: int) -> np.ndarray:
    """Delay ``x`` (last axis) by ``samples`` (>= 0), same length, zeros in front."""
    if samples <= 0:
        return x
    out = np.zeros_like(x)
    out[..., samples:] = x[..., :-samples]
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def detuned_copy(voice: np.ndarray, cents: float, delay_samples: int) -> np.ndarray:
    """A "doubled take": the voice resampled by ``cents`` (pitch and timing drift slightly,
    as a second performance does) and delayed; same length."""
    import soxr

    r = 2.0 ** (cents / 1200.0)
    y = soxr.resample(voice, SR * r, SR, quality="LQ")
    y = np.pad(y, (0, max(0, len(voice) - len(y))))[:len(voice)]
    return _shift(y.astype(np.float32), delay_samples)


def plate_ir(rng: np.random.Generator, rt60_s: float, brightness: float) -> np.ndarray:
    """Stereo plate-like impulse response ``(2, samples)``: dense decorrelated noise with an
    exponential decay reaching -60 dB at ``rt60_s``, low-passed by ``brightness`` in (0, 1]."""
    from scipy.signal import lfilter

    n = int(rt60_s * SR)
    t = np.arange(n) / SR
    env = 10 ** (-3.0 * t / rt60_s)
    noise = rng.standard_normal((2, n)) * env
    a = 1.0 - brightness  # one-pole smoothing: darker tails for small brightness
    ir = lfilter([1 - a], [1, -a], noise, axis=-1)
    return (ir / (np.sqrt(np.sum(ir ** 2) / 2) + 1e-12)).astype(np.float32)


class VocalProducer:
    """Random production chains for single voices (one instance per data stream).

    Args:
        seed: random seed (or pass ``rng``).
        double_prob, harmony_prob, reverb_prob, delay_prob, comp_prob, sat_prob, eq_prob:
            how often each stage is drawn.
    """

    def __init__(self, rng: np.random.Generator, double_prob: float = 0.35, harmony_prob: float = 0.15,
                 reverb_prob: float = 0.8, delay_prob: float = 0.25, comp_prob: float = 0.7,
                 sat_prob: float = 0.3, eq_prob: float = 0.8):
        self.rng = rng
        self.p = dict(double=double_prob, harmony=harmony_prob, reverb=reverb_prob, delay=delay_prob,
                      comp=comp_prob, sat=sat_prob, eq=eq_prob)

    def _on(self, stage: str) -> bool:
        return bool(self.rng.random() < self.p[stage])

    def _insert_chain(self, voice: np.ndarray) -> np.ndarray:
        """EQ, compression and saturation on the mono voice."""
        import pedalboard as pb

        rng = self.rng
        fx = []
        if self._on("eq"):
            fx.append(pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(60, 200))))
            fx.append(pb.PeakFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(300), np.log(5000)))),
                                    gain_db=float(rng.uniform(-6, 6)), q=float(rng.uniform(0.5, 2.0))))
            fx.append(pb.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(3000, 6500)),
                                         gain_db=float(rng.uniform(-4, 6))))
        if self._on("comp"):
            # threshold relative to the voice's own level, so every take is compressed
            level_db = 20 * np.log10(_rms(voice))
            fx.append(pb.Compressor(threshold_db=float(level_db - rng.uniform(0, 15)), ratio=float(rng.uniform(2, 8)),
                                    attack_ms=float(rng.uniform(1, 15)), release_ms=float(rng.uniform(40, 250))))
        if self._on("sat"):
            fx.append(pb.Distortion(drive_db=float(rng.uniform(2, 15))))
        if not fx:
            return voice
        y = pb.Pedalboard(fx)(voice[None].astype(np.float32), SR)[0]
        return (y * (_rms(voice) / _rms(y))).astype(np.float32)

    def _pitch_shifted(self, voice: np.ndarray, semitones: float) -> np.ndarray:
        import pedalboard as pb

        return pb.PitchShift(semitones=semitones)(voice[None].astype(np.float32), SR)[0]

    def __call__(self, voice: np.ndarray) -> np.ndarray:
        """``(samples,)`` dry voice -> ``(2, samples)`` produced stereo vocal with the dry
        voice's per-channel RMS (so mixing levels keep their meaning)."""
        import pedalboard as pb

        rng = self.rng
        n = len(voice)
        lead = self._insert_chain(voice)
        # the lead sits in the centre, give or take a little
        out = place(lead, float(np.clip(rng.normal(0, 0.06), -0.15, 0.15)))
        if self._on("double"):
            # one or two doubled takes, quieter and panned apart
            pans = [float(rng.uniform(0.3, 1.0))]
            pans = pans + [-pans[0]] if rng.random() < 0.6 else [pans[0] * rng.choice([-1, 1])]
            for pan in pans:
                d = detuned_copy(lead, float(rng.uniform(-25, 25)), int(rng.uniform(0.008, 0.04) * SR))
                out += float(10 ** (rng.uniform(-12, -4) / 20)) * place(d, pan)
        if self._on("harmony"):
            semis = float(rng.choice([-12, -5, -4, -3, 3, 4, 5, 7]))
            h = self._pitch_shifted(lead, semis)
            out += float(10 ** (rng.uniform(-14, -6) / 20)) * place(h, float(rng.uniform(-0.7, 0.7)))
        if self._on("delay"):
            # echoes (slap-back or timed), different on the two sides for a ping-pong width
            t_s = float(rng.uniform(0.08, 0.45))
            fb, mix = float(rng.uniform(0.0, 0.45)), float(rng.uniform(0.08, 0.3))
            wet = np.stack([pb.Delay(delay_seconds=t_s * f, feedback=fb, mix=1.0)(out[c:c + 1], SR)[0]
                            for c, f in ((0, 1.0), (1, float(rng.uniform(0.75, 1.33))))])
            out = out + mix * wet[:, :n]
        if self._on("reverb"):
            pre = int(rng.uniform(0.0, 0.06) * SR)  # pre-delay keeps the voice in front of its room
            if rng.random() < 0.5:
                wet = pb.Reverb(room_size=float(rng.uniform(0.2, 0.95)), damping=float(rng.uniform(0.1, 0.9)),
                                wet_level=1.0, dry_level=0.0, width=float(rng.uniform(0.6, 1.0)))(out, SR)
            else:  # plate: dense, bright, decorrelated sides
                ir = plate_ir(rng, float(rng.uniform(0.6, 2.5)), float(rng.uniform(0.3, 0.9)))
                wet = np.stack([pb.Convolution(ir[c][:, None].T.copy(), 1.0, SR)(out[c:c + 1], SR)[0]
                                for c in range(2)])
            wet = _shift(wet[:, :n], pre)
            out = out + float(10 ** (rng.uniform(-18, -6) / 20)) * wet * (_rms(out) / _rms(wet))
        out *= _rms(voice) / (_rms(out) / 1.0)
        return out.astype(np.float32)
