"""The streaming U-Net (rtsep.unet.streaming): block-size independence, exact latency, the same
windows as a direct computation, the dynamic-T model, NaN handling."""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.unet.dynamic import dynamic_session
from rtsep.unet.ladder import LadderPoint, best_within, points
from rtsep.unet.model import UNetModel, ratio_masks
from rtsep.unet.separator import unet_model_path
from rtsep.unet.stft import HOP, N_FFT, analyse, overlap_add, synthesise
from rtsep.unet.streaming import StreamingUNet

SR = 44100
PLAIN = LadderPoint(64, 1, 2, 2 * HOP, 0.0, 0.0)
MIRROR = LadderPoint(64, 0, 2, 2 * HOP, 0.0, 0.0, future="mirror", future_frames=4, full_band=True,
                     extend_vocals=True)
VOCAL = LadderPoint(128, 2, 3, 3 * HOP, 0.0, 0.0, full_band=True, extend_vocals=True, mask="vocal")


@pytest.fixture(scope="module")
def session():
    return dynamic_session(unet_model_path(), threads=1)


def _music(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A stereo test signal with a voice-like harmonic line over noise and a bass note."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 220 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 8))
    bed = 0.1 * rng.standard_normal((len(t), 2)) + 0.3 * np.sin(2 * np.pi * 55 * t)[:, None]
    return (0.2 * voice[:, None] * np.array([0.8, 0.6]) + bed).astype(np.float32)


def test_vocal_only_model_equals_the_vocal_output(session):
    x = np.abs(np.random.default_rng(6).standard_normal((1, 64, 1024, 2))).astype(np.float32)
    half = dynamic_session(unet_model_path(), threads=1, vocals_only=True)
    assert [o.name for o in half.get_outputs()] == ["vocals"]
    np.testing.assert_allclose(half.run(None, {"magnitude": x})[0], session.run(["vocals"], {"magnitude": x})[0],
                               atol=1e-6)


def test_dynamic_model_equals_fixed_file_and_frees_t(session):
    fixed = UNetModel(unet_model_path(), threads=1)
    x = np.abs(np.random.default_rng(1).standard_normal((512, 1024, 2))).astype(np.float32)
    want = fixed.run(x)
    got = session.run(["vocals", "accompaniment"], {"magnitude": x[None]})
    for w, g in zip(want, got):
        np.testing.assert_allclose(g[0], w, atol=1e-5)
    for t in (64, 128, 192):
        v, a = session.run(["vocals", "accompaniment"], {"magnitude": x[None, :t]})
        assert v.shape == a.shape == (1, t, 1024, 2)


def _direct(point: LadderPoint, audio: np.ndarray, session) -> tuple[np.ndarray, np.ndarray]:
    """The scheme written out on the whole signal: STFT with the n_fft zero prefix, one window per
    step K (multiples of S), masks of frames K-L-S+1..K-L, inverse STFT of the whole."""
    w, lk, s, p = point.window_frames, point.lookahead_frames, point.step_frames, point.future_frames
    r = w - p
    n = len(audio)
    n_frames = (n + N_FFT) // HOP + lk + s + 4
    padded = np.zeros(((n_frames + 3) * HOP, 2), np.float32)
    padded[N_FFT:N_FFT + n] = audio
    spec = analyse(padded, n_frames)                          # (2, frames, 2049); frame 0: zeros
    mag = np.abs(spec[:, :, :1024]).transpose(1, 2, 0)
    mask = np.zeros((2, n_frames, 1024), np.float32)
    for k in range(s, n_frames, s):
        x = np.zeros((w, 1024, 2), np.float32)
        lo = k - r + 1
        x[max(0, -lo):r] = mag[max(lo, 0):k + 1]
        if p:
            x[r:] = x[r - 2:r - 2 - p:-1]
        v, a = session.run(["vocals", "accompaniment"], {"magnitude": x[None]})
        if point.mask == "vocal":  # the vocal U-Net's sigmoid: its output over its input
            m = np.clip(np.divide(v[0], x, out=np.zeros_like(x), where=x > 0), 0, 1)
        else:
            m = ratio_masks(v[0], a[0], 2.0, 1e-10, first_only=True)   # (W, F, 2)
        for j in range(s):
            f = k - lk - s + 1 + j
            if f >= 0:
                mask[:, f] = m[r - lk - s + j].T
    vocals = np.zeros_like(spec)
    vocals[:, :, :1024] = mask * spec[:, :, :1024]
    if point.extend_vocals:
        vocals[:, :, 1024:] = mask[:, :, -128:].mean(axis=-1, keepdims=True) * spec[:, :, 1024:]
    mix = spec.copy()
    if not point.full_band:
        mix[:, :, 1024:] = 0
    y = overlap_add(synthesise(np.stack([vocals, mix - vocals]))).reshape(2, 2, -1)[:, :, N_FFT:N_FFT + n]
    return y[0].T, y[1].T


@pytest.mark.parametrize("point", [PLAIN, MIRROR, VOCAL], ids=["plain", "mirror", "vocal-mask"])
def test_file_mode_equals_direct_computation(point, session):
    audio = _music(1.5)
    got = StreamingUNet(point, SR, 2, session=session).separate(audio)
    want = _direct(point, audio, session)
    for g, w in zip(got, want):
        assert g.shape == audio.shape
        np.testing.assert_allclose(g, w, atol=2e-5)
    assert np.abs(got[0]).max() > 0.01


def test_output_independent_of_block_sizes(session):
    audio = _music(1.2, seed=2)
    su = StreamingUNet(PLAIN, SR, 2, session=session)
    whole = su.push(audio)
    su.reset()
    rng = np.random.default_rng(3)
    parts, pos = [], 0
    while pos < len(audio):
        n = int(rng.choice([1, 7, 128, 333, 1024, 5000]))
        parts.append(su.push(audio[pos:pos + n]))
        pos += n
    for i in range(2):
        cut = np.concatenate([p[i] for p in parts])
        assert cut.shape == whole[i].shape == audio.shape
        np.testing.assert_array_equal(cut, whole[i])
    assert su.late_samples == 0


@pytest.mark.parametrize("rate", [44100, 48000])
def test_latency_is_exact(rate, session):
    """White noise in, vocals + accompaniment out (full band: the stems sum to the delayed input):
    the cross-correlation peaks at latency_samples."""
    point = LadderPoint(64, 0, 2, 2 * HOP, 0.0, 0.0, full_band=True)
    su = StreamingUNet(point, rate, 2, session=session)
    noise = np.random.default_rng(4).standard_normal((int(1.5 * rate), 2)).astype(np.float32) * 0.1
    out = [su.push(noise[i:i + 512]) for i in range(0, len(noise), 512)]
    mix = np.concatenate([v + a for v, a in out])[:, 0]
    d = su.latency_samples
    assert mix[:d - 1].std() < 1e-6  # silence until the pipeline has filled
    lags = np.arange(d - 300, d + 301)
    seg = noise[:, 0]
    scores = [np.dot(mix[lag:], seg[:len(mix) - lag]) for lag in lags]
    assert lags[int(np.argmax(scores))] == d
    if rate == SR:
        assert d == point.delay_samples_44k
        np.testing.assert_allclose(mix[d:], seg[:len(mix) - d], atol=1e-4)
    assert su.late_samples == 0


def test_mono_odd_channels_and_nonfinite(session):
    audio = _music(0.8, seed=5)
    mono = StreamingUNet(PLAIN, SR, 1, session=session)
    v, a = mono.separate(audio[:, 0])
    assert v.shape == a.shape == (len(audio),)
    three = StreamingUNet(PLAIN, SR, 3, session=session)
    block = np.concatenate([audio, audio[:, :1]], axis=1)
    block[100:110, 1] = np.nan
    block[200, 2] = np.inf
    v3, a3 = three.push(block)
    assert v3.shape == (len(audio), 3) and np.isfinite(v3).all() and np.isfinite(a3).all()
    assert three.nonfinite_samples == 11


def test_ladder_ordered_and_budget_selection():
    pts = points()
    delays = [p.true_delay_samples_44k for p in pts]
    assert delays == sorted(delays)
    for p in pts:
        assert p.delay_samples_44k == (3 + p.lookahead_frames + p.step_frames) * HOP - 1
        assert p.true_delay_samples_44k > p.delay_samples_44k
    assert best_within(delays[0] - 1) is None
    assert best_within(delays[-1]) == pts[-1]
