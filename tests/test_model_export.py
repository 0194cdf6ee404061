"""The torch STFT matches the engine's, and exported ONNX models follow the model contract."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rtsep.dsp.stft import StreamingStft  # noqa: E402
from rtsep.dsp.windows import design_windows  # noqa: E402

N_FFT, HOP, M = 1024, 96, 192


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _engine(x, process=None):
    """Run ``x`` (N,) through StreamingStft in odd-sized blocks; returns spectra and output."""
    eng = StreamingStft(design_windows(N_FFT, HOP, M), 1, max_block=1000)
    specs, out = [], np.zeros(len(x))
    pos = 0
    rng = np.random.default_rng(1)
    while pos < len(x):
        n = int(min(len(x) - pos, rng.integers(1, 1000)))
        block = np.ascontiguousarray(x[pos:pos + n, None], dtype=np.float32)
        k = eng.analyze(block)
        specs.append(eng.spec[:k, 0].copy())
        if process is not None:
            eng.spec[:k] = process(eng.spec[:k])
        eng.synthesize(eng.spec, k)
        o = np.zeros((n, 1), np.float32)
        eng.read(o, n)
        out[pos:pos + n] = o[:, 0]
        pos += n
    return np.concatenate(specs), out


def test_torch_stft_matches_engine():
    from rtsep.train.model import EngineStft

    x = np.random.default_rng(0).standard_normal(HOP * 120).astype(np.float32)
    st = EngineStft(N_FFT, HOP, M).double()
    spec_t = st.analysis(torch.from_numpy(x.astype(np.float64))[None])[0].numpy()
    spec_e, out_e = _engine(x)
    assert spec_t.shape == spec_e.shape == (120, N_FFT // 2 + 1)
    np.testing.assert_allclose(spec_t, spec_e, atol=1e-5, rtol=0)

    # mask 1: torch synthesis is the input (aligned); the engine gives it 191 samples late
    y = st.synthesis(st.analysis(torch.from_numpy(x.astype(np.float64))[None]))[0].numpy()
    valid = len(x) - (M - HOP)
    np.testing.assert_allclose(y[:valid], x[:valid], atol=1e-5)
    lat = M - 1
    np.testing.assert_allclose(out_e[lat:], y[:len(x) - lat], atol=1e-5)
    np.testing.assert_allclose(out_e[:lat], 0.0, atol=1e-12)


def test_torch_synthesis_matches_engine_with_mask():
    from rtsep.train.model import EngineStft

    rng = np.random.default_rng(2)
    x = rng.standard_normal(HOP * 80)
    mask = rng.uniform(0, 1, size=(80, N_FFT // 2 + 1))
    st = EngineStft(N_FFT, HOP, M).double()
    X = st.analysis(torch.from_numpy(x)[None])
    y = st.synthesis(X * torch.from_numpy(mask)[None])[0].numpy()
    state = {"k": 0}

    def proc(spec):
        k = state["k"]
        state["k"] += spec.shape[0]
        return spec * mask[k:k + spec.shape[0], None, :]

    _, out_e = _engine(x, proc)
    lat = M - 1
    np.testing.assert_allclose(out_e[lat:], y[:len(x) - lat], atol=1e-5)


def _tiny(seed=0):
    from rtsep.train.model import MaskNet

    torch.manual_seed(seed)
    net = MaskNet(N_FFT // 2 + 1, enc=8, hidden=12, layers=2).eval()
    with torch.no_grad():
        net.feat_mean.uniform_(-5, 0)
        net.feat_std.uniform_(1, 3)
    return net


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from rtsep.train.export import export_onnx

    net = _tiny()
    path = tmp_path_factory.mktemp("m") / "tiny.onnx"
    export_onnx(net, str(path), name="tiny", description="test net", vad_threshold=0.4,
                license="test", training={"steps": 0})
    return net, path


def test_onnx_matches_torch_and_streams(exported):
    net, path = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    spec = (rng.standard_normal((2, 17, N_FFT // 2 + 1, 2)) * 3).astype(np.float32)
    h0 = (rng.standard_normal((2, 2, 12)) * 0.1).astype(np.float32)
    with torch.no_grad():
        m_t, v_t, s_t = net(torch.from_numpy(spec), torch.from_numpy(h0))
    m, v, s = sess.run(["mask", "vad", "state_0_out"], {"spec": spec, "state_0": h0})
    assert m.shape == (2, 17, 513) and v.shape == (2, 17) and s.shape == (2, 2, 12)
    np.testing.assert_allclose(m, m_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(v, v_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(s, s_t.numpy(), atol=1e-5)
    assert m.min() >= 0 and m.max() <= 1
    # frame by frame with the state carried == whole sequence at once
    state = h0
    ms, vs = [], []
    for t in range(17):
        mt, vt, state = sess.run(["mask", "vad", "state_0_out"], {"spec": spec[:, t:t + 1], "state_0": state})
        ms.append(mt)
        vs.append(vt)
    np.testing.assert_allclose(np.concatenate(ms, 1), m, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(vs, 1), v, atol=1e-5)
    np.testing.assert_allclose(state, s, atol=1e-5)


def test_onnx_metadata_and_mask_model(exported):
    from rtsep.model.onnx_model import MaskModel

    net, path = exported
    mm = MaskModel(path)
    c = mm.card
    assert (c.sample_rate, c.n_fft, c.hop, c.synthesis_len, c.lookahead_frames) == (16000, N_FFT, HOP, M, 0)
    assert c.placeholder is False and c.name == "tiny" and c.vad_threshold == pytest.approx(0.4)
    assert c.latency_samples == 191 and c.latency_ms == pytest.approx(11.9375)
    assert c.extra["rtsep.format"] == "1" and c.extra["license"] == "test"
    assert int(c.extra["params"]) == net.n_params()
    assert json.loads(c.extra["training"]) == {"steps": 0}
    import onnx

    model = onnx.load(str(path))
    assert any(o.domain in ("", "ai.onnx") and o.version == 17 for o in model.opset_import)
    # the engine's runner: T=1 calls equal one call over the whole sequence
    rng = np.random.default_rng(4)
    spec = rng.standard_normal((9, 513, 2)).astype(np.float32)
    whole_m, whole_v = (a.copy() for a in mm.run(spec))
    mm.reset()
    for t in range(9):
        mt, vt = mm.run(spec[t:t + 1])
        np.testing.assert_allclose(mt[0], whole_m[t], atol=1e-5)
        np.testing.assert_allclose(vt[0], whole_v[t], atol=1e-5)
