"""The classic separators (rtsep.methods) on synthetic cases where each one's assumption holds.

SDRs are plain ``10 log10(|s|^2 / |s - s_hat|^2)`` (``sdr`` below), cross-checked against
``mir_eval.separation.bss_eval_sources`` on the REPET-SIM case. No external data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rtsep.errors import RtsepError
from rtsep.methods import (BENCHMARK_METHODS, LIVE_METHODS, METHODS, ideal_mask, make_plugin,
                           separate_method)
from rtsep.methods.rpca import ialm_rpca

SR = 16000


# ---------------------------------------------------------------- synthetic signals
def drum_loop(seconds: float, period: float = 0.5, seed: int = 1) -> np.ndarray:
    """A loop repeated exactly every ``period`` s: kick, hats, snare and a held chord."""
    rng = np.random.default_rng(seed)
    n = int(period * SR)
    t = np.arange(n) / SR
    bar = np.sin(2 * np.pi * (60 * t + 40 * (1 - np.exp(-t * 30)))) * np.exp(-t * 18)
    m = int(0.05 * SR)
    for k in range(4):
        s = k * n // 4
        bar[s:s + m] += 0.3 * rng.standard_normal(m) * np.exp(-np.arange(m) / SR * 60)
    m = int(0.12 * SR)
    bar[n // 2:n // 2 + m] += 0.5 * rng.standard_normal(m) * np.exp(-np.arange(m) / SR * 25)
    bar += 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 330 * t)
    return np.tile(bar, int(np.ceil(seconds / period)))[:int(seconds * SR)]


def glide(seconds: float, f0: float = 300.0, f1: float = 900.0) -> np.ndarray:
    """A never-repeating voice-like tone: exponential glide with vibrato, 4 harmonics."""
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (f1 / f0) ** (t / seconds) + 40 * np.sin(2 * np.pi * 5 * t)
    ph = 2 * np.pi * np.cumsum(f) / SR
    return sum(np.sin(h * ph) / h for h in range(1, 5))


def chords(seconds: float, period: float = 1.0) -> np.ndarray:
    """Two sustained chords alternating every ``period / 2``: a magnitude spectrogram of rank ~2."""
    t = np.arange(int(seconds * SR)) / SR
    on = ((t // (period / 2)) % 2 == 0).astype(float)
    on = np.convolve(on, np.ones(160) / 160, mode="same")  # 10 ms crossfades
    c1 = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    c2 = sum(np.sin(2 * np.pi * f * t) for f in (246.9, 311.1, 392.0))
    return on * c1 + (1 - on) * c2


def blips(seconds: float, n: int = 12, seed: int = 3) -> np.ndarray:
    """Short notes at random times and pitches: a sparse magnitude spectrogram."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR))
    m = int(0.12 * SR)
    w = np.hanning(m)
    tt = np.arange(m) / SR
    for _ in range(n):
        s = rng.integers(0, len(y) - m)
        f = rng.uniform(500, 2500)
        y[s:s + m] += w * (np.sin(2 * np.pi * f * tt) + 0.5 * np.sin(4 * np.pi * f * tt))
    return y


def at_level(x: np.ndarray, ref: np.ndarray, db: float = 0.0) -> np.ndarray:
    return x / np.std(x) * np.std(ref) * 10 ** (db / 20)


def sdr(ref, est) -> float:
    ref = np.asarray(ref, np.float64).ravel()
    est = np.asarray(est, np.float64).ravel()
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - est) ** 2), 1e-300)))


def stream(plugin, x: np.ndarray, rng, max_len: int) -> np.ndarray:
    """Feed ``x`` in random block sizes (1..max_len); returns the concatenated output."""
    plugin.reset()
    out = np.empty_like(x)
    i = 0
    while i < len(x):
        n = int(rng.integers(1, max_len + 1))
        blk = np.ascontiguousarray(x[i:i + n])
        out[i:i + len(blk)] = plugin.process(blk)
        i += len(blk)
    return out


# ---------------------------------------------------------------- API
def test_method_lists():
    assert METHODS == ("net", "repet", "rpca", "center")
    assert LIVE_METHODS == ("net", "repet", "center")
    assert BENCHMARK_METHODS == ("repet", "rpca", "center")


def test_make_plugin_errors():
    with pytest.raises(RtsepError, match=r"^method 'rpca' works on files only$"):
        make_plugin("rpca", SR, 1)
    with pytest.raises(RtsepError, match="unknown method"):
        make_plugin("nmf", SR, 1)
    with pytest.raises(RtsepError, match="network"):
        make_plugin("net", SR, 1)
    with pytest.raises(RtsepError, match="mode"):
        make_plugin("repet", SR, 1, mode="instrumental")
    with pytest.raises(RtsepError, match="unknown method"):
        separate_method("nmf", np.zeros((100, 1), np.float32), SR)


def test_make_plugin_latency_and_modes():
    p = make_plugin("repet", 48000, 2, mode="vocals", max_block=512)
    assert p.mode == "vocals" and p.max_block == 512
    assert p.latency_samples == p.setup.synthesis_len - 1 == 2047  # 2048/512 frames at 48 kHz
    c = make_plugin("center", 48000, 2)
    assert c.latency_samples == 0 and c.mode == "karaoke"
    with pytest.raises(ValueError):
        c.mode = "both"


# ---------------------------------------------------------------- REPET-SIM
def test_repet_separates_loop_from_glide():
    """Repeating loop + non-repeating glide at 0 dB: vocal SDR goes from 0 dB to > 4 dB."""
    import mir_eval

    a = drum_loop(6.0)
    v = at_level(glide(6.0), a)
    x = (a + v).astype(np.float32)[:, None]
    ve, ae = separate_method("repet", x, SR)
    assert ve.shape == ae.shape == x.shape and ve.dtype == np.float32
    np.testing.assert_allclose(ve + ae, x, atol=1e-5)
    s = slice(2 * SR, None)  # after 2 s of history (the method is online)
    assert abs(sdr(v[s], x[s, 0])) < 0.5
    assert sdr(v[s], ve[s, 0]) > 5.0
    assert sdr(a[s], ae[s, 0]) > 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        bss, _, _, _ = mir_eval.separation.bss_eval_sources(np.stack([v[s], a[s]]), np.stack([ve[s, 0], ae[s, 0]]),
                                                            compute_permutation=False)
    assert bss[0] > 4.0 and bss[1] > 8.0


@pytest.mark.parametrize("mode", ["karaoke", "vocals"])
def test_repet_streams_random_blocks_like_offline(mode):
    rng = np.random.default_rng(7)
    a = drum_loop(3.0)
    v = at_level(glide(3.0), a, -3)
    x = np.stack([a + v, 0.5 * a + v], axis=1).astype(np.float32)  # stereo, mono analysis
    ve, ae = separate_method("repet", x, SR)
    p = make_plugin("repet", SR, 2, mode=mode, max_block=700)
    y = stream(p, x, rng, 700)
    lat = p.latency_samples
    ref = ae if mode == "karaoke" else ve
    np.testing.assert_allclose(y[lat:], ref[:len(x) - lat], atol=1e-5)
    # the live plugin's two modes add up to the delayed input
    p.mode = "karaoke" if mode == "vocals" else "vocals"
    y2 = stream(p, x, np.random.default_rng(7), 700)
    np.testing.assert_allclose(y[lat:] + y2[lat:], x[:len(x) - lat], atol=1e-5)


def test_repet_realtime_48k_stereo():
    """Well under real time at 48 kHz stereo, in 256-frame blocks (generous bound: shared CPU)."""
    import time

    p = make_plugin("repet", 48000, 2, max_block=256)
    x = (0.1 * np.random.default_rng(0).standard_normal((48000 * 6, 2))).astype(np.float32)
    p(x[:48000], 48000, blocksize=256)  # compile + fill the buffer
    t = time.perf_counter()
    p(x, 48000, reset=False, blocksize=256)
    assert (time.perf_counter() - t) / 6.0 < 0.8


# ---------------------------------------------------------------- RPCA
def test_ialm_recovers_low_rank_plus_sparse():
    rng = np.random.default_rng(0)
    m, n, r = 120, 100, 3
    L0 = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    S0 = np.zeros((m, n))
    idx = rng.random((m, n)) < 0.05
    S0[idx] = rng.choice([-10.0, 10.0], idx.sum())
    L, S, it = ialm_rpca(L0 + S0)
    assert it < 100
    assert np.linalg.norm(L - L0) / np.linalg.norm(L0) < 1e-4
    assert np.linalg.norm(S - S0) / np.linalg.norm(S0) < 1e-4


def test_rpca_separates_sparse_notes_from_chords():
    """Rank-2 chord bed + sparse short notes at 0 dB (mixture SDR ~0 dB).

    Huang's binary mask (gain 1) also lets the chords' small sparse residue (window
    side-lobes, crossfades) into the vocals: > 2 dB; a stricter gain (2) or the soft
    mask: > 4 dB."""
    from rtsep.methods._offline import apply_vocal_mask
    from rtsep.methods.rpca import decompose, mask_from_parts

    a = chords(3.0)
    v = at_level(blips(3.0, n=9), a)
    x = (a + v).astype(np.float32)[:, None]
    assert abs(sdr(v, x[:, 0])) < 0.5
    ve, ae = separate_method("rpca", x, SR)  # binary mask, gain 1
    assert ve.shape == x.shape
    np.testing.assert_allclose(ve + ae, x, atol=1e-5)
    assert sdr(v, ve[:, 0]) > 2.0 and sdr(a, ae[:, 0]) > 2.0
    setup, L, S = decompose(x, SR)
    assert L.shape == S.shape and L.shape[1] == setup.n_fft // 2 + 1
    for options, bound in [({"gain": 1.0}, 2.0), ({"gain": 2.0}, 5.0), ({"soft": True}, 4.0)]:
        ve, ae = apply_vocal_mask(x, setup, mask_from_parts(L, S, **options))
        assert sdr(v, ve[:, 0]) > bound and sdr(a, ae[:, 0]) > bound, options


# ---------------------------------------------------------------- centre cancellation
def _panned_scene(seconds=2.0):
    """A dead-centre voice over a wide accompaniment: guitar hard left, keys hard right
    (equal power, uncorrelated)."""
    rng = np.random.default_rng(5)
    v = glide(seconds)
    t = np.arange(len(v)) / SR
    guitar = np.sin(2 * np.pi * 196 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    keys = at_level(rng.standard_normal(len(v)), guitar)
    return v, np.stack([guitar, keys], axis=1)


def test_center_cancels_centre_voice():
    v, acc = _panned_scene()
    x = (acc + v[:, None]).astype(np.float32)
    ve, ae = separate_method("center", x, SR)
    side = (acc[:, 0] - acc[:, 1]) / 2
    # the voice is gone from the accompaniment: SDR against the voice-free side signal
    assert sdr(side, ae[:, 0]) > 80.0 and sdr(side, ae[:, 1]) > 80.0
    _, ae_voice_only = separate_method("center", np.stack([v, v], 1).astype(np.float32), SR)
    assert np.abs(ae_voice_only).max() < 1e-6
    # vocals = mid = voice + (guitar + keys) / 2: 3 dB better than either input channel
    assert sdr(v, ve[:, 0]) > max(sdr(v, x[:, 0]), sdr(v, x[:, 1])) + 2.5
    np.testing.assert_allclose(ve[:, 0], x.mean(1), atol=1e-6)


@pytest.mark.parametrize("mode", ["karaoke", "vocals"])
def test_center_streams_random_blocks_like_offline(mode):
    v, acc = _panned_scene(1.0)
    x = (acc + v[:, None]).astype(np.float32)
    ve, ae = separate_method("center", x, SR)
    y = stream(make_plugin("center", SR, 2, mode=mode, max_block=333), x, np.random.default_rng(1), 333)
    np.testing.assert_array_equal(y, ae if mode == "karaoke" else ve)


def test_center_mono_passes_through_with_one_warning():
    x = glide(0.5).astype(np.float32)[:, None]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        p = make_plugin("center", SR, 1)
        y = p(x, SR).copy()
        p(x, SR)
    assert len([m for m in w if "mono" in str(m.message)]) == 1
    np.testing.assert_array_equal(y, x)
    with pytest.warns(RuntimeWarning, match="mono"):
        ve, ae = separate_method("center", x, SR)
    np.testing.assert_array_equal(ae, x)
    assert not ve.any()


# ---------------------------------------------------------------- ideal masks
@pytest.mark.parametrize("kind,bound", [("binary", 12.0), ("ratio", 12.0)])
def test_ideal_masks_high_sdr(kind, bound):
    a = drum_loop(3.0)
    v = at_level(glide(3.0), a)
    x = (a + v).astype(np.float32)
    ve, ae = ideal_mask(kind, x, v, a, SR)
    assert ve.shape == (len(x), 1)
    np.testing.assert_allclose(ve[:, 0] + ae[:, 0], x, atol=1e-5)
    assert sdr(v, ve[:, 0]) > bound and sdr(a, ae[:, 0]) > bound
    # the network's low-latency asymmetric framing works the same way
    ve2, _ = ideal_mask(kind, x, v, a, SR, setup=(1024, 256, 512))
    assert sdr(v, ve2[:, 0]) > bound - 2.0


def test_ideal_mask_per_channel_stereo():
    a = drum_loop(2.0)
    v = at_level(glide(2.0), a)
    A = np.stack([a, 0.3 * a], 1)
    V = np.stack([0.3 * v, v], 1)
    X = (A + V).astype(np.float32)
    mono, _ = ideal_mask("ratio", X, V, A, SR)
    per, _ = ideal_mask("ratio", X, V, A, SR, per_channel=True)
    assert sdr(V, per) > sdr(V, mono) > 0.0


def test_repet_mode_switch_is_a_crossfade():
    """REPET-SIM uses the STFT's ramped stem gains, as the network separator does: switching
    karaoke -> vocals mid-stream fades over 10 ms instead of jumping."""
    from rtsep.methods import make_plugin

    sr = 16000
    t = np.arange(2 * sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 200 * t))[:, None].astype(np.float32)
    p = make_plugin("repet", sr, 1, mode="karaoke")
    out = []
    for k, i in enumerate(range(0, len(x), 128)):
        if k == 150:
            p.mode = "vocals"
        out.append(p.process(x[i:i + 128]).copy())
    y = np.concatenate(out)[:, 0]
    switch = 150 * 128
    # A 200 Hz sine at 0.5 moves at most 0.04 per sample; an instant swap of stems would jump.
    assert np.max(np.abs(np.diff(y[switch - 500:switch + 500]))) < 0.08
