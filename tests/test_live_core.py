"""The live host's network calls: features outside the graph, one bound frame per call, the
dense layers in int8 (rtsep.model.int8) unless ``precision="float32"``."""

from pathlib import Path

import numpy as np
import pytest

from rtsep import Separator
from rtsep.errors import ModelError
from rtsep.model.onnx_model import MaskModel

MODELS = Path(__file__).resolve().parents[1] / "models"


def _song(rate, channels, seconds, rng):
    """Noise and a tone panned off centre (so that a stereo model's side cues are not zero)."""
    t = np.arange(int(rate * seconds)) / rate
    x = 0.05 * rng.standard_normal((len(t), channels))
    x[:, 0] += 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 0.7 * t))
    return x.astype(np.float32)


def _stream(sep, x, block):
    return np.concatenate([np.array(sep.process(x[i:i + block])) for i in range(0, len(x), block)])


def _snr_db(ref, est):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((est - ref).astype(np.float64) ** 2))


@pytest.mark.parametrize("name,rate,channels", [("release-low.onnx", 48000, 2), ("release-low.onnx", 44100, 1),
                                                ("mir1k-protocol-quality.onnx", 48000, 2)])
def test_live_network_against_file_mode(name, rate, channels, rng):
    """float32: the live calls give file mode's output (1e-5); int8 (the default): the same
    separation within quantisation noise (vocals > 30 dB above the difference)."""
    x = _song(rate, channels, 2.0, rng)
    kw = dict(sample_rate=rate, channels=channels, mode="vocals", max_block=256)
    ref = Separator(MODELS / name, **dict(kw, max_block=4096)).process(x).copy()
    exact = Separator(MODELS / name, live=True, precision="float32", **kw)
    assert exact.describe()["network_precision"] == "float32" and exact._live_core is not None
    np.testing.assert_allclose(_stream(exact, x, 256), ref, atol=1e-5)
    fast = Separator(MODELS / name, live=True, **kw)
    assert fast.describe()["network_precision"] == "int8 dense layers"
    got = _stream(fast, x, 256)
    assert np.std(ref) > 1e-3
    assert 30.0 < _snr_db(ref, got) < 120.0  # close, and not the float path by mistake


def test_int8_live_output_does_not_depend_on_the_block_size(rng):
    """Each frame is its own call (its own input scale), so blocks of 128 and of 2048 frames
    (7 model frames) give the same output."""
    x = _song(48000, 2, 1.5, rng)
    outs = [_stream(Separator(MODELS / "release-low.onnx", sample_rate=48000, channels=2, live=True,
                              max_block=block), x, block) for block in (128, 2048)]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_quantisation_that_fails_its_check_keeps_the_float_graph(rng, monkeypatch):
    """The load-time check compares the int8 network with the whole graph; a model that
    fails it runs its network in float32."""
    import rtsep.model.onnx_model as onnx_model

    monkeypatch.setattr(onnx_model, "INT8_TOLERANCE", (0.0, 0.0))
    m = MaskModel(MODELS / "release-low.onnx")
    assert m.enable_live(int8=True) is None and m.live_precision is None
    assert m.enable_live(int8=False) is not None and m.live_precision == "float32"
    x = _song(48000, 2, 1.0, rng)
    sep = Separator(MODELS / "release-low.onnx", sample_rate=48000, channels=2, max_block=128, live=True)
    assert sep._live_core is not None and sep.describe()["network_precision"] == "float32"
    ref = Separator(MODELS / "release-low.onnx", sample_rate=48000, channels=2, max_block=4096).process(x)
    np.testing.assert_allclose(_stream(sep, x, 128), ref, atol=1e-5)


def test_placeholder_and_bad_precision(placeholder_model):
    sep = Separator(placeholder_model, sample_rate=48000, channels=2, live=True)
    assert sep._live_core is None  # no known front end: the whole graph
    with pytest.raises(ModelError, match="precision"):
        Separator(placeholder_model, sample_rate=48000, channels=2, live=True, precision="int4")


def test_chain_spec_and_live_host_pass_the_precision_on():
    from rtsep.host.chain_engine import build_processor
    from rtsep.plugins.spec import parse_chain

    model = str(MODELS / "release-low.onnx")
    chain = parse_chain(f'separator(model="{model}", precision="float32")', 48000, 2, 256, live=True)
    assert chain[0].describe()["network_precision"] == "float32"
    chain = parse_chain(f'separator(model="{model}")', 48000, 2, 256, live=True)
    assert chain[0].describe()["network_precision"] == "int8 dense layers"
    _, sep = build_processor(48000, 2, 128, mode="karaoke", vocals_db=0.0, accompaniment_db=0.0, model=model,
                             operating_point="low", method="net", switchable=False, precision="float32")
    assert sep.describe()["network_precision"] == "float32"
