"""The streaming STFT: block-size independence, exact latency, perfect reconstruction."""

import numpy as np
import pytest

from rtsep.dsp.stft import StreamingStft
from rtsep.dsp.windows import design_windows

SETUPS = [(1024, 96, 192), (1024, 256, None), (3072, 288, 576), (2822, 264, 528), (512, 128, 256)]


def random_blocks(n_total, rng, max_block=8192):
    sizes = []
    while sum(sizes) < n_total:
        sizes.append(int(rng.choice([1, 2, 3, 17, 64, 127, 128, 500, 1000, 4096, max_block])))
    return sizes


def stream_identity(stft, x, sizes):
    y = np.zeros_like(x)
    i = 0
    for b in sizes:
        blk = x[i:i + b]
        if not len(blk):
            break
        n = stft.analyze(blk)
        stft.synthesize(stft.spec, n)
        stft.read(y[i:i + len(blk)], len(blk))
        i += len(blk)
    return y


@pytest.mark.parametrize("setup", SETUPS)
def test_identity_is_a_pure_delay(setup, rng):
    stft = StreamingStft.from_setup(*setup, channels=2)
    x = rng.standard_normal((30000, 2)).astype(np.float32)
    y = stream_identity(stft, x, random_blocks(len(x), rng))
    d = stft.latency_samples
    assert d == (setup[2] or setup[0]) - 1
    assert np.max(np.abs(y[d:] - x[:-d])) < 1e-6
    assert np.max(np.abs(y[:d])) < 1e-6


def test_impulse_delay_equals_reported_latency():
    stft = StreamingStft.from_setup(1024, 96, 192, channels=1)
    x = np.zeros((4000, 1), np.float32)
    x[1234] = 1.0
    y = stream_identity(stft, x, [333] * 13)
    assert int(np.argmax(np.abs(y[:, 0]))) - 1234 == stft.latency_samples == 191


def test_streaming_spectra_equal_offline_frames(rng):
    """Frames emitted for random block sizes equal a direct windowed FFT of the signal."""
    w = design_windows(1024, 96, 192)
    stft = StreamingStft(w, channels=1)
    x = rng.standard_normal((5000, 1)).astype(np.float32)
    frames = []
    i = 0
    for b in random_blocks(len(x), rng, 2000):
        blk = x[i:i + b]
        i += len(blk)
        n = stft.analyze(blk)
        frames.extend(stft.spec[:n, 0].copy())
        if i >= len(x):
            break
    padded = np.concatenate([np.zeros(1024), x[:, 0].astype(np.float64)])
    for k, frame in enumerate(frames):
        end = (k + 1) * 96  # frame k ends at sample (k+1)*hop - 1
        ref = np.fft.rfft(padded[end:end + 1024] * w.analysis)
        np.testing.assert_allclose(frame, ref, atol=1e-9)


def test_windows_reconstruct_perfectly():
    for setup in SETUPS:
        w = design_windows(*setup)
        prod = w.analysis * w.synthesis
        cola = np.zeros(w.hop)
        for k in range(0, w.n_fft, w.hop):
            seg = prod[k:k + w.hop]
            cola[:len(seg)] += seg
        np.testing.assert_allclose(cola, 1.0, atol=1e-12)
        assert np.all(w.synthesis[:w.n_fft - w.synthesis_len] == 0)


def test_nonfinite_input_is_zeroed_and_counted():
    stft = StreamingStft.from_setup(1024, 96, 192, channels=1)
    x = np.ones((2000, 1), np.float32)
    x[100] = np.nan
    x[200] = np.inf
    y = stream_identity(stft, x, [2000])
    assert np.all(np.isfinite(y))
    assert stft.nonfinite_samples == 2


def test_gain_ramp_is_click_free():
    stft = StreamingStft.from_setup(1024, 96, 192, channels=1)
    x = np.ones((4000, 1), np.float32)
    y = np.zeros_like(x)
    stft.set_gains(1.0, 0.0)
    for i in range(0, 4000, 100):
        n = stft.analyze(x[i:i + 100])
        stft.synthesize(stft.spec, n)
        if i == 2000:
            stft.set_gains(0.0, 1.0, ramp_samples=480)  # wet -> dry: same signal, no step
        stft.read(y[i:i + 100], 100)
    assert np.max(np.abs(np.diff(y[300:, 0]))) < 1e-6


def test_block_larger_than_max_block_is_refused():
    stft = StreamingStft.from_setup(1024, 96, 192, channels=1, max_block=256)
    with pytest.raises(ValueError):
        stft.analyze(np.zeros((257, 1), np.float32))
