"""Stereo-aware training: produced stereo voices, the mid/side network, its ONNX file and resumable runs."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("pedalboard")
sf = pytest.importorskip("soundfile")

from test_train import _tiny_args, fake_data  # noqa: E402,F401  (shared synthetic MIR-1K)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SR = 16000


def _voice(seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    v = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) / k for k in range(1, 6))
    return (0.1 * v * (np.sin(2 * np.pi * 0.8 * t) > -0.3)).astype(np.float32)


def _mid_side_energy(x):
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    return float(np.sum(mid.astype(np.float64) ** 2)), float(np.sum(side.astype(np.float64) ** 2))


def test_produced_voice_is_stereo_centred_and_keeps_its_level():
    from rtsep.train.augment import VocalProducer

    voice = _voice()
    rms = np.sqrt(np.mean(voice.astype(np.float64) ** 2))
    every = VocalProducer(np.random.default_rng(1), double_prob=1, harmony_prob=1, reverb_prob=1, delay_prob=1,
                          comp_prob=1, sat_prob=1, eq_prob=1)
    for _ in range(3):
        y = every(voice)
        assert y.shape == (2, len(voice)) and y.dtype == np.float32 and np.isfinite(y).all()
        assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(rms, rel=1e-3)
        mid, side = _mid_side_energy(y)
        # doubles, harmonies and reverb spread it, but the energy stays in the centre
        assert 0.005 * mid < side < 0.5 * mid
        left, right = (float(np.sum(c.astype(np.float64) ** 2)) for c in y)
        assert abs(10 * np.log10(left / right)) < 3.0
    dry = VocalProducer(np.random.default_rng(1), double_prob=0, harmony_prob=0, reverb_prob=0, delay_prob=0,
                        comp_prob=0, sat_prob=0, eq_prob=0)(voice)
    mid, side = _mid_side_energy(dry)
    assert side < 0.02 * mid  # a dry lead is only nudged off the centre
    assert not np.allclose(dry, y, atol=1e-3)


def _extra_dir(tmp_path):
    """Stereo 'music': a different tone on each side."""
    d = tmp_path / "extra"
    d.mkdir()
    t = np.arange(4 * SR) / SR
    x = np.stack([0.2 * np.sin(2 * np.pi * 110 * t), 0.2 * np.sin(2 * np.pi * 170 * t)], 1)
    sf.write(d / "music.wav", x, SR)
    return d


def test_stereo_mixer_mono_and_stereo_mixtures(fake_data, tmp_path):  # noqa: F811
    from rtsep.train.data import load_extra_accompaniment, load_mir1k, Mixer
    from rtsep.train.stereo import StereoMixer

    d = load_mir1k(fake_data, tmp_path / "cache", workers=1, progress=False)
    extra = load_extra_accompaniment(_extra_dir(tmp_path), tmp_path / "cache", stereo=True)
    assert extra.ndim == 2 and extra.shape[1] == 2 and not np.allclose(extra[:, 0], extra[:, 1])
    names = ["abjones_2_01", "amy_3_01"]
    mono = StereoMixer(Mixer(d, names, 1.0, seed=2), extra, mono_prob=1.0)
    v, a, lab = mono.batch(3)
    assert v.shape == a.shape == (3, 2, SR) and lab.shape == (3, SR)
    np.testing.assert_array_equal(v[:, 0], v[:, 1])
    np.testing.assert_array_equal(a[:, 0], a[:, 1])
    st = StereoMixer(Mixer(d, names, 1.0, seed=2), extra, mono_prob=0.0, produce_prob=1.0, stereo_music_prob=1.0)
    v, a, _ = st.batch(3)
    assert np.isfinite(v).all() and np.abs(v + a).max() <= 0.9
    for vi, ai in zip(v, a):
        assert not np.allclose(ai[0], ai[1])  # the stereo music
        mid, side = _mid_side_energy(vi)
        assert side < 0.5 * mid


def _stereo_net(seed=0):
    from rtsep.train.model import StereoMaskNet

    torch.manual_seed(seed)
    net = StereoMaskNet(513, 16, 16, 2)
    with torch.no_grad():  # random stereo weights, so the side mask differs from the mid mask
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.eval()


def test_stereo_net_on_mono_input_gives_equal_channels_and_the_mono_path():
    from rtsep.train.model import EngineStft
    from rtsep.train.train import separate_batch

    net, stft = _stereo_net(), EngineStft()
    x = torch.randn(2, 96 * 30)
    with torch.no_grad():
        yv, ym, vad, k = separate_batch(net, stft, torch.stack([x, x], 1))
        assert yv.shape == (2, 2, 96 * 30) and k == 30
        assert torch.equal(yv[:, 0], yv[:, 1])
        y_mono, _, vad_mono, _ = separate_batch(net, stft, x)
        assert torch.allclose(yv[:, 0], y_mono, atol=1e-6) and torch.allclose(vad, vad_mono)
        # a real stereo input is separated per side: the channels differ
        yv2, _, _, _ = separate_batch(net, stft, torch.stack([x, 0.3 * torch.randn_like(x)], 1))
        assert not torch.allclose(yv2[:, 0], yv2[:, 1])


def test_warm_start_from_a_mono_onnx_model(tmp_path):
    from rtsep.train.export import export_onnx
    from rtsep.train.model import MaskNet, spec_to_ri
    from rtsep.train.warmstart import mono_config, mono_state_dict

    torch.manual_seed(3)
    mono = MaskNet(513, 16, 24, 2).eval()
    path = tmp_path / "mono.onnx"
    export_onnx(mono, str(path), name="m", description="d")
    sd = mono_state_dict(str(path))
    assert mono_config(sd) == dict(enc=16, hidden=24, layers=2)
    for k, v in mono.state_dict().items():
        assert torch.allclose(sd[k], v, atol=1e-6), k
    from rtsep.train.model import StereoMaskNet

    st = StereoMaskNet(513, 16, 24, 2).eval()
    st.init_from_mono(sd)
    spec = spec_to_ri(torch.randn(1, 12, 513, dtype=torch.complex64))
    side = spec_to_ri(torch.randn(1, 12, 513, dtype=torch.complex64))
    with torch.no_grad():
        m, vad, _ = mono(spec, mono.zero_state(1))
        m2, ms2, vad2, _ = st(spec, side, st.zero_state(1))  # zero stereo weights: the side is ignored
    assert torch.allclose(m, m2, atol=1e-6) and torch.allclose(m, ms2, atol=1e-6) and torch.allclose(vad, vad2)


def test_warm_start_from_a_stereo_onnx_model(tmp_path):
    """A shipped stereo model reads back into a StereoMaskNet (so a later run can continue from
    models/release-low.onnx itself), and a mono net refuses it."""
    from rtsep.train.export import export_onnx
    from rtsep.train.model import MaskNet, StereoMaskNet
    from rtsep.train.warmstart import init_from_onnx, mono_state_dict

    torch.manual_seed(4)
    st = StereoMaskNet(513, 16, 24, 2).eval()
    with torch.no_grad():
        for p in st.parameters():
            p.add_(0.01 * torch.randn_like(p))  # not the mono init: every weight distinct
    path = tmp_path / "stereo.onnx"
    export_onnx(st, str(path), name="s", description="d")
    sd = mono_state_dict(str(path))
    for k, v in st.state_dict().items():
        assert torch.allclose(sd[k], v, atol=1e-6), k
    cfg = dict(enc=16, hidden=24, layers=2, n_fft=1024, hop=96, synthesis_len=192)
    again = StereoMaskNet(513, 16, 24, 2)
    init_from_onnx(again, str(path), cfg)
    for k, v in st.state_dict().items():
        assert torch.allclose(again.state_dict()[k], v, atol=1e-6), k
    with pytest.raises(SystemExit, match="stereo model"):
        init_from_onnx(MaskNet(513, 16, 24, 2), str(path), cfg)


def test_stereo_onnx_frame_by_frame_equals_block_and_torch(tmp_path):
    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.export import export_onnx

    net = _stereo_net(1)
    path = tmp_path / "st.onnx"
    export_onnx(net, str(path), name="st", description="d")
    rng = np.random.default_rng(0)
    spec = rng.standard_normal((20, 513, 2)).astype(np.float32)
    side = (0.5 * rng.standard_normal((20, 513, 2))).astype(np.float32)
    with torch.no_grad():
        m_t, ms_t, vad_t, _ = net(torch.from_numpy(spec)[None], torch.from_numpy(side)[None], net.zero_state(1))
    mm = MaskModel(path)
    assert mm.stereo and mm.card.input_channels == 2 and "mid-side" in mm.card.extra["features"]
    m_b, ms_b, vad_b = (np.array(x) for x in mm.run_stereo(spec, side))
    mm.reset()
    frames = [tuple(np.array(x) for x in mm.run_stereo(spec[t:t + 1], side[t:t + 1])) for t in range(20)]
    m_f, ms_f, vad_f = (np.concatenate(x) for x in zip(*frames))
    for a, b in ((m_b, m_f), (ms_b, ms_f), (vad_b, vad_f)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(m_b, m_t[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ms_b, ms_t[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(vad_b, vad_t[0].numpy(), atol=1e-5)
    assert not np.allclose(m_b, ms_b, atol=1e-3)
    # run() (mono callers) is the mid mask with a zero side, frame by frame or in a block
    mm.reset()
    m_mono = np.concatenate([np.array(mm.run(spec[t:t + 1])[0]) for t in range(20)])
    mm.reset()
    m_zero = np.array(mm.run_stereo(spec, np.zeros_like(side))[0])
    np.testing.assert_allclose(m_mono, m_zero, atol=1e-5)
    mm.reset()
    np.testing.assert_allclose(np.array(mm.run(spec)[0]), m_zero, atol=1e-5)


def test_stereo_training_one_state_file_resumes_and_exports(fake_data, tmp_path):  # noqa: F811
    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.train import main

    from rtsep.train.export import export_onnx
    from rtsep.train.model import MaskNet

    parent = tmp_path / "parent.onnx"
    export_onnx(MaskNet(513, 16, 16, 2), str(parent), name="parent", description="d",
                training=dict(steps=7, minutes=1.5))
    state = tmp_path / "state" / "run.pt"
    common = _tiny_args(fake_data, tmp_path, "--stereo", "--state", str(state), "--val-every", "0",
                        "--extra-accompaniment", str(_extra_dir(tmp_path)), "--mono-prob", "0.3",
                        "--init-from", str(parent))
    main(common + ["--steps", "2"])
    assert state.is_file() and not (tmp_path / "w" / "last.pt").exists() and not (tmp_path / "w" / "best.pt").exists()
    assert [p.name for p in state.parent.iterdir()] == ["run.pt"]  # replaced, never accumulated
    ck = torch.load(state, weights_only=False)
    assert ck["state"]["step"] == 2 and ck["state"]["audio_seconds"] == pytest.approx(2 * 2 * 1.0)
    assert ck["state"]["sessions"] == 1
    # the best weights are stored only when they are not the net's; Adam's moments in bfloat16
    assert (ck["best_net"] is None) == (ck["state"]["best_step"] == 2)
    assert {v.dtype for st in ck["opt"]["state"].values() for k, v in st.items() if k.startswith("exp_avg")} \
        == {torch.bfloat16}
    (tmp_path / "w" / "log.csv").unlink()  # a new machine has only the state file
    parent.unlink()  # a resumed run needs its state file, not its parent
    main([a for a in common if a not in ("--init-from", str(parent))] + ["--steps", "3", "--resume"])
    again = torch.load(state, weights_only=False)
    assert again["state"]["step"] == 3 and again["state"]["sessions"] == 2
    assert any(not torch.equal(again["net"][k], ck["net"][k]) for k in ck["net"])
    card = MaskModel(tmp_path / "m.onnx").card
    assert card.input_channels == 2
    meta = json.loads(card.extra["training"])
    assert meta["steps"] == 3 and meta["sessions"] == 2 and meta["stereo"]["layout"] == "mid-side"
    assert meta["init_from"]["name"] == "parent" and meta["init_from"]["steps"] == 7
    assert meta["audio_hours"] == pytest.approx(round(3 * 2 / 3600, 2))
    assert (tmp_path / "w" / "log.csv").is_file()


def test_old_mono_models_read_as_one_channel(placeholder_model):
    from rtsep.model.onnx_model import MaskModel

    mm = MaskModel(placeholder_model)
    assert mm.card.input_channels == 1 and not mm.stereo


@pytest.fixture(scope="module")
def stereo_model(tmp_path_factory):
    """A tiny mid/side model with random weights (its side mask differs from its mid mask)."""
    from rtsep.train.export import export_onnx

    path = tmp_path_factory.mktemp("stereo") / "st.onnx"
    export_onnx(_stereo_net(2), str(path), name="st", description="tiny stereo")
    return path


def _music(seconds=1.0, rate=48000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(len(t))
    right = 0.2 * np.sin(2 * np.pi * 520 * t) + 0.05 * rng.standard_normal(len(t))
    return np.stack([left, right], 1).astype(np.float32)


def test_separator_feeds_a_stereo_model_both_channels(stereo_model):
    from rtsep.filemode import separate_array
    from rtsep.plugins.separator import Separator

    x = _music()
    mono = x.mean(1, keepdims=True)
    sep = Separator(stereo_model, sample_rate=48000, channels=2, mode="vocals", max_block=4096)
    assert sep.describe()["model_input"] == "mid/side"
    # L = R: both vocal channels equal the mono stream's (the model's mono path)
    both = separate_array(np.repeat(mono, 2, 1), 48000, separator=sep)
    np.testing.assert_allclose(both.vocals[:, 0], both.vocals[:, 1], atol=1e-6)
    one = separate_array(mono, 48000, separator=Separator(stereo_model, sample_rate=48000, channels=1,
                                                          mode="vocals", max_block=4096))
    np.testing.assert_allclose(both.vocals[:, 0], one.vocals[:, 0], atol=1e-5)
    # a real stereo input: the side reaches the model and the channels get their own vocals
    st = separate_array(x, 48000, separator=sep)
    assert not np.allclose(st.vocals[:, 0], st.vocals[:, 1], atol=1e-3)
    lat = st.latency_samples
    np.testing.assert_allclose(st.vocals + st.accompaniment, x, atol=1e-5)
    # live (one bound model call per frame, 128-frame blocks) in float32 gives the file-mode result
    live = Separator(stereo_model, sample_rate=48000, channels=2, mode="vocals", live=True, max_block=128,
                     precision="float32")
    assert live.describe()["network_precision"] == "float32"
    out = np.concatenate([np.array(live.process(x[i:i + 128])) for i in range(0, len(x), 128)])
    np.testing.assert_allclose(out[lat:], st.vocals[:len(x) - lat], atol=1e-5)
    # the live host's default, int8 dense layers: close to it, not equal
    live = Separator(stereo_model, sample_rate=48000, channels=2, mode="vocals", live=True, max_block=128)
    assert live.describe()["network_precision"] == "int8 dense layers"
    out = np.concatenate([np.array(live.process(x[i:i + 128])) for i in range(0, len(x), 128)])
    ref = st.vocals[:len(x) - lat]
    err_db = 10 * np.log10(np.sum(ref ** 2) / np.sum((out[lat:] - ref) ** 2))
    print("int8 live against file mode:", err_db, "dB")
    assert 20.0 < err_db < 200.0


def test_separator_stereo_path_equals_the_torch_model_through_the_engine_stft(stereo_model):
    """At the model's own rate the engine (ONNX, streaming STFT, mid/side kernels) gives the
    trained network's vocals (torch, EngineStft) on a stereo signal."""
    from rtsep.filemode import separate_array
    from rtsep.plugins.separator import Separator
    from rtsep.train.model import EngineStft
    from rtsep.train.train import separate_batch

    x = _music(0.6, SR, seed=4)
    net = _stereo_net(2)  # the weights exported into stereo_model
    with torch.no_grad():
        ref, _, _, _ = separate_batch(net, EngineStft(), torch.from_numpy(x.T.copy())[None])
    ref = ref[0].numpy().T
    res = separate_array(x, SR, separator=Separator(stereo_model, sample_rate=SR, channels=2, mode="vocals",
                                                    max_block=4096))
    valid = len(x) - 192  # the torch synthesis leaves the last frame's tail incomplete
    np.testing.assert_allclose(res.vocals[:valid], ref[:valid], atol=2e-5)
    # ... and not what the mid mask alone on each channel (the mono path) would give
    from rtsep.train.model import spec_to_ri

    stft = EngineStft()
    X = stft.analysis(torch.from_numpy(x.T.copy()))
    mid = spec_to_ri((X[0] + X[1])[None] / 2)
    with torch.no_grad():
        m, _, _, _ = net(mid, torch.zeros_like(mid), net.zero_state(1))
        alt = stft.synthesis(X * m[0]).numpy().T
    assert np.max(np.abs(alt[:valid] - ref[:valid])) > 1e-3


@pytest.mark.parametrize("block", [128, 2048])
def test_stereo_live_path_allocates_no_arrays(stereo_model, block):
    from test_separator import streams_without_allocating

    # random L and R: the side is not zero; the mid/side features and the network run every frame
    streams_without_allocating(stereo_model, np.random.default_rng(0), block)


def test_stereo_model_pipelined_two_threads_give_the_bits_of_one(stereo_model):
    """The file-mode pipeline (network on one thread; masking, resynthesis and the next
    step's analysis and mid/side input on the other) only reorders work for a stereo model."""
    from rtsep.plugins.separator import Separator

    x = _music()
    outs = []
    for workers in (1, 2):
        sep = Separator(stereo_model, sample_rate=48000, channels=2, mode="vocals", max_block=4096, workers=workers)
        assert sep.describe()["model_input"] == "mid/side"
        _, v, a = sep.process_stems(x)  # longer than max_block: with two workers, the pipeline
        outs.append((np.array(v), np.array(a), sep.vad[:sep.vad_frames].copy()))
    for one, two in zip(*outs):
        np.testing.assert_array_equal(one, two)
    assert np.std(outs[0][0]) > 1e-3
