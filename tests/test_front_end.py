"""File mode's split network: features in Numba, the rest of the graph in its own session,
and the fast FFT lengths at other rates."""

from pathlib import Path

import numpy as np
import pytest

from rtsep import Separator
from rtsep.dsp.windows import _smooth, fast_fft_size
from rtsep.model.onnx_model import MaskModel

MODELS = Path(__file__).resolve().parents[1] / "models"
RECURRENT = ["release-low.onnx", "mir1k-protocol.onnx", "release-quality.onnx"]


def test_fast_fft_size_is_the_nearest_smooth_even_length():
    assert fast_fft_size(1024) == 1024 and fast_fft_size(3072) == 3072
    assert fast_fft_size(1024 * 44100 / 16000) == 2816  # 2,822 = 2 * 17 * 83
    for target in (100.3, 777.7, 2822.4, 5644.8, 12345.0):
        n = fast_fft_size(target)
        assert n % 2 == 0 and _smooth(n) and abs(n / target - 1) < 0.01
        closer = [m for m in range(2, 2 * int(target), 2) if _smooth(m) and abs(m - target) < abs(n - target)]
        assert closer == []


@pytest.mark.parametrize("name", RECURRENT)
def test_the_cut_network_gives_the_whole_graphs_outputs(name, rng):
    """MaskModel.enable_core: the cut graphs (encoder, then the rest) fed the Numba features
    equal the whole graph (it checks itself on load; here on other spectra, carrying state
    across two calls)."""
    from rtsep.dsp.features import mid_side_features, mono_features
    from rtsep.dsp.masking import downmix_for_model
    from rtsep.dsp.midside import mid_side_for_model

    m = MaskModel(MODELS / name)
    core = m.enable_core()
    assert core is not None, "the shipped models have a known front end"
    f, frames = m.n_bins, 200
    mag = 10.0 ** rng.uniform(-5, 0, (frames, 2, 700))  # more stream bins than model bins
    spec = (mag * np.exp(2j * np.pi * rng.random((frames, 2, 700)))).astype(np.complex64)
    spec[50:60] = 0  # digital silence
    spec[80:90, 1] = spec[80:90, 0]  # centred (side = 0)
    whole_in = np.zeros((frames, f, 2), np.float32)
    feats = np.zeros((frames, core.n_features), np.float32)
    if m.stereo:
        side = np.zeros_like(whole_in)
        mid_side_for_model(spec, frames, whole_in, side, 0.3)
        mid_side_features(spec, frames, 0.3, core.mean, core.std, feats)
        whole = [np.concatenate([np.array(a) for a in parts]) for parts in
                 zip(m.run_stereo(whole_in[:120], side[:120]), m.run_stereo(whole_in[120:], side[120:]))]
    else:
        downmix_for_model(spec, frames, whole_in, 0.3)
        mono_features(spec, frames, 0.3, core.mean, core.std, feats)
        whole = [np.concatenate([np.array(a) for a in parts])
                 for parts in zip(m.run(whole_in[:120]), m.run(whole_in[120:]))]
    m.reset()
    encoded = np.zeros((frames, core.n_encoded), np.float32)
    m.encode(feats[120:], encoded[120:])  # stateless: any order
    m.encode(feats[:120], encoded)
    cut = [np.concatenate([np.array(a) for a in parts])
           for parts in zip(m.run_encoded(encoded[:120]), m.run_encoded(encoded[120:]))]
    for a, b in zip(whole, cut):
        np.testing.assert_allclose(b, a, atol=5e-5)


@pytest.mark.parametrize("name,rate,channels", [("release-low.onnx", 44100, 2), ("release-low.onnx", 8000, 2),
                                                ("release-low.onnx", 44100, 1), ("release-low.onnx", 48000, 3),
                                                ("release-quality.onnx", 44100, 2)])
def test_file_mode_with_the_cut_network_matches_the_whole_graph(name, rate, channels, rng, monkeypatch):
    """The separator's file mode on the cut network against the same separator on the whole
    graph (stereo cues of a mid/side model stay zero on other channel counts; a stream rate
    below the model's leaves model bins empty)."""
    x = (0.1 * rng.standard_normal((rate * 2, channels))).astype(np.float32)
    x[:, 0] += 0.2 * np.sin(2 * np.pi * 330 * np.arange(len(x)) / rate).astype(np.float32)
    kw = dict(sample_rate=rate, channels=channels, mode="mix", vocals_db=-6.0, max_block=4096)
    fast = Separator(MODELS / name, **kw)
    assert fast._core is not None
    got_out, got_v, got_a = (a.copy() for a in fast.process_stems(x))
    got_vad = fast.vad[:fast.vad_frames].copy()
    monkeypatch.setattr(MaskModel, "enable_core", lambda self, threads=1: None)
    slow = Separator(MODELS / name, **kw)
    assert slow._core is None
    ref_out, ref_v, ref_a = slow.process_stems(x)
    np.testing.assert_allclose(got_v, ref_v, atol=2e-5)
    np.testing.assert_allclose(got_a, ref_a, atol=2e-5)
    np.testing.assert_allclose(got_out, ref_out, atol=2e-5)
    np.testing.assert_allclose(got_vad, slow.vad[:slow.vad_frames], atol=1e-4)
    assert np.std(got_v) > 1e-3


def test_models_without_a_known_front_end_keep_the_whole_graph(placeholder_model, tmp_path):
    """The placeholder has no feature metadata; a model whose metadata claims the mono front
    end but whose graph computes something else fails the load-time check."""
    import onnx

    assert MaskModel(placeholder_model).enable_core() is None
    model = onnx.load(str(MODELS / "release-quality.onnx"))
    for node in model.graph.node:
        if node.op_type == "Log":  # square root instead of log power
            node.op_type = "Sqrt"
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    m = MaskModel(bad)
    assert m.enable_core() is None
    sep = Separator(bad, sample_rate=16000, channels=1)
    assert sep._core is None
    y = sep.process(np.ones((4000, 1), np.float32))
    assert np.all(np.isfinite(y))  # the whole graph still runs
