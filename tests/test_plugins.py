"""Chain, Gain and the latency-compensated dry/wet bypass."""

import numpy as np

from rtsep import Chain, DryWet, Gain, Separator
from rtsep.dsp.delay import DelayLine


def test_chain_is_list_like_and_sums_latency(placeholder_model):
    sep = Separator(placeholder_model, sample_rate=48000, channels=2)
    g = Gain(-6.0, channels=2)
    chain = Chain([g])
    chain.append(sep)
    chain.insert(0, Gain(0.0, channels=2))
    assert len(chain) == 3 and chain.index(sep) == 2 and chain[1] is g
    assert chain.latency_samples == sep.latency_samples == 575
    chain.remove(g)
    assert len(chain) == 2
    out = chain.process(np.zeros((128, 2), np.float32))
    assert out.shape == (128, 2)


def test_gain_scales_and_ramps():
    g = Gain(0.0, channels=1)
    x = np.ones((100, 1), np.float32)
    assert np.allclose(g.process(x), 1.0)
    g.gain_db = -20.0
    y = g.process(x).copy()
    assert np.all(np.diff(y[:, 0]) <= 0) and abs(y[-1, 0] - 0.1) < 1e-6
    assert np.allclose(g.process(x), 0.1)


def test_delay_line_delays_exactly(rng):
    d = DelayLine(37, channels=2, max_block=64)
    x = rng.standard_normal((1000, 2)).astype(np.float32)
    y = np.concatenate([d.process(x[i:i + 50]).copy() for i in range(0, 1000, 50)])
    assert np.array_equal(y[37:], x[:-37]) and not y[:37].any()


def test_drywet_bypass_is_aligned_and_click_free(placeholder_model):
    """Toggling bypass on a separator in mix 0/0 (= delayed input) changes nothing at all:
    the dry path is delayed by exactly the separator's latency."""
    sep = Separator(placeholder_model, sample_rate=16000, channels=1, mode="mix")
    dw = DryWet(sep, channels=1, sample_rate=16000, fade_ms=5)
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 220 * t))[:, None].astype(np.float32)
    out = []
    for k, i in enumerate(range(0, len(x), 160)):
        if k in (20, 40, 60):
            dw.bypass = not dw.bypass
        out.append(dw.process(x[i:i + 160]).copy())
    y = np.concatenate(out)
    d = dw.latency_samples
    assert np.max(np.abs(y[d:] - x[:-d])) < 1e-5


def test_drywet_crossfade_is_gradual(placeholder_model):
    sep = Separator(placeholder_model, sample_rate=16000, channels=1, mode="karaoke")
    dw = DryWet(sep, channels=1, sample_rate=16000, fade_ms=10)
    x = np.ones((4000, 1), np.float32)
    y1 = dw.process(x[:2000]).copy()
    dw.bypass = True
    y2 = dw.process(x[2000:]).copy()
    y = np.concatenate([y1, y2])[400:]
    assert np.max(np.abs(np.diff(y[:, 0]))) < 0.05  # a 160-sample fade, no jump
    assert abs(y[-1, 0] - 1.0) < 1e-5  # fully dry at the end
