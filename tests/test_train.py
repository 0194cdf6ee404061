"""Training pipeline on a tiny synthetic MIR-1K lookalike (fast), plus real-data checks."""

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
sf = pytest.importorskip("soundfile")

from rtsep.train.data import default_data_dir  # noqa: E402

NAMES = ["abjones_1_01", "abjones_2_01", "amy_3_01", "amy_14_01", "bobon_1_01", "tammy_1_01", "leon_1_01"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    m = root / "mir1k"
    (m / "clips").mkdir(parents=True)
    (m / "labels" / "vocal-nonvocal").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sr = 16000
    for i, n in enumerate(NAMES):
        t = np.arange(int(sr * (1.5 + 0.1 * i))) / sr
        voc = 0.2 * np.sin(2 * np.pi * (300 + 20 * i) * t) * (t > 0.5)
        acc = 0.1 * rng.standard_normal(len(t))
        sf.write(m / "clips" / f"{n}.vocals.opus", voc, sr, format="OGG", subtype="OPUS")
        sf.write(m / "clips" / f"{n}.accompaniment.opus", acc, sr, format="OGG", subtype="OPUS")
        n_lab = (len(t) - 640) // 320 + 1
        lab = (np.arange(n_lab) * 320 + 320 > 0.5 * sr).astype(int)
        (m / "labels" / "vocal-nonvocal" / f"{n}.vocal").write_text("".join(f"{v} \n" for v in lab))
    train = [n for n in NAMES if n.startswith(("abjones", "amy"))]
    (m / "splits.json").write_text(json.dumps({"train": train, "test": [n for n in NAMES if n not in train]}))
    return root


def test_neg_sdr_and_lr():
    from rtsep.train.train import lr_at, neg_sdr

    ref = torch.randn(3, 1000)
    assert float(neg_sdr(ref, ref).max()) < -29  # capped by the 1e-3 relative eps
    noisy = ref + 0.1 * torch.randn(3, 1000)
    assert float(neg_sdr(noisy, ref).mean()) == pytest.approx(-20, abs=1.0)
    assert lr_at(0.0, 0, 1.0, warmup=10) == pytest.approx(0.1)
    assert lr_at(1.0, 1000, 1.0) == pytest.approx(0.05)


def test_data_cache_mixer_and_splits(fake_data, tmp_path):
    from rtsep.train.data import load_mir1k, Mixer
    from rtsep.train.train import make_split

    d = load_mir1k(fake_data, tmp_path / "cache", workers=1, progress=False)
    assert sorted(d.names) == sorted(NAMES)
    assert (tmp_path / "cache" / "mir1k-16k" / "vocals.npy").is_file()
    v, a = d.clip("amy_3_01")
    assert len(v) == len(a) == d.offsets[d.index("amy_3_01") + 1] - d.offsets[d.index("amy_3_01")]
    lab = d.clip_vad("amy_3_01")
    assert lab[:7000].max() == 0 and lab[9000:].min() == 1
    train, val = make_split(d, "protocol")
    assert val == ["abjones_1_01", "amy_14_01"] and set(train) == {"abjones_2_01", "amy_3_01"}
    train, val = make_split(d, "release")
    assert set(val) == {"bobon_1_01", "tammy_1_01"} and "leon_1_01" in train
    mix = Mixer(d, train, 1.0, seed=5)
    vb, ab, lb = mix.batch(4)
    assert vb.shape == ab.shape == lb.shape == (4, 16000) and vb.dtype == np.float32
    assert np.abs(vb + ab).max() <= 0.9
    vb2, _, _ = Mixer(d, train, 1.0, seed=5).batch(4)
    np.testing.assert_array_equal(vb, vb2)  # fixed seeds reproduce


def test_mixer_same_clip_pairs_move_together(fake_data, tmp_path, monkeypatch):
    """Own-accompaniment pairs (like the test mixtures) are cut from the same excerpt and
    resampled by the same ratio: with accompaniment == vocal in the data and no EQ, the
    accompaniment stays proportional to the vocal after pitch shifting."""
    from rtsep.train.data import load_mir1k, Mixer

    d = load_mir1k(fake_data, tmp_path / "cache", workers=1, progress=False)
    d.accomp = d.vocals  # the pairing, not the content, is under test
    monkeypatch.setattr(Mixer, "_eq", lambda self, x: x)
    mix = Mixer(d, ["abjones_2_01", "amy_3_01"], 1.0, seed=3, same_clip_prob=1.0)
    for _ in range(6):
        v, a, _ = mix.sample()
        ratio = float(np.dot(a, v) / (np.dot(v, v) + 1e-20))
        assert ratio != 0 and np.allclose(a, ratio * v, atol=1e-6)
    mix_other = Mixer(d, ["abjones_2_01", "amy_3_01"], 1.0, seed=3, same_clip_prob=0.0)
    v, a, _ = zip(*(mix_other.sample() for _ in range(6)))
    assert not all(np.allclose(ai, np.dot(ai, vi) / (np.dot(vi, vi) + 1e-20) * vi, atol=1e-6)
                   for vi, ai in zip(v, a))


def test_extra_music_decodes_the_same_in_parallel(tmp_path):
    from rtsep.train.data import load_extra_accompaniment

    music = tmp_path / "music"
    music.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):  # different lengths, rates and channel counts; one broken file is skipped
        sr = (16000, 44100)[i % 2]
        sf.write(music / f"{i}.flac", 0.1 * rng.standard_normal((sr // (i + 1), 1 + i % 2)), sr)
    (music / "9.ogg").write_bytes(b"not audio")
    one = load_extra_accompaniment(music, tmp_path / "c1", stereo=True)
    two = load_extra_accompaniment(music, tmp_path / "c2", stereo=True, workers=2)
    assert one.shape == (16000 + 8000 + 5333 + 4000, 2)  # 16 kHz: the 44.1 kHz files resampled
    assert np.array_equal(one, two)


def _tiny_args(fake_data, tmp_path, *extra):
    """A few-step training run of the tiny config writing into tmp_path (model m.onnx, workdir w)."""
    return ["--config", "tiny", "--out", str(tmp_path / "m.onnx"), "--data", str(fake_data),
            "--cache", str(tmp_path / "c"), "--workdir", str(tmp_path / "w"), "--batch", "2", "--seconds", "1",
            "--minutes", "5", *extra]


def test_train_resume_export(fake_data, tmp_path):
    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.train import main

    out = tmp_path / "m.onnx"
    common = _tiny_args(fake_data, tmp_path)
    main(common + ["--steps", "2"])
    rows = list(csv.DictReader(open(tmp_path / "w" / "log.csv")))
    assert rows and rows[-1]["step"] == "2" and "val_nsdr_v" in rows[-1]
    assert (tmp_path / "w" / "last.pt").is_file() and out.is_file()
    main(common + ["--steps", "3", "--resume"])
    rows = list(csv.DictReader(open(tmp_path / "w" / "log.csv")))
    assert rows[-1]["step"] == "3"
    card = MaskModel(out).card
    assert card.hop == 96 and card.synthesis_len == 192 and not card.placeholder
    meta = json.loads(card.extra["training"])
    assert meta["split"] == "protocol" and meta["config"] == "tiny" and meta["device"] == "cpu"
    # the card names the command that trains the model, not the resume/export call that wrote it
    assert meta["command"] == "python -m rtsep.train " + " ".join(common + ["--steps", "3"])


def test_train_ema_weights_are_scored_saved_and_resumed(fake_data, tmp_path):
    from rtsep.train.train import main

    out = tmp_path / "m.onnx"
    common = _tiny_args(fake_data, tmp_path, "--ema", "0.9", "--val-every", "0")
    main(common + ["--steps", "3"])
    rows = list(csv.DictReader(open(tmp_path / "w" / "log.csv")))
    assert len(rows) >= 3 and {r["weights"] for r in rows} <= {"net", "ema"}
    last = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    # the average lags the trained weights: after 3 steps it is not the net itself
    assert any(not torch.equal(last["ema"][k], last["net"][k]) for k in last["net"])
    best = torch.load(tmp_path / "w" / "best.pt", weights_only=False)
    assert best["state"]["best_weights"] in ("net", "ema") and out.is_file()
    # resume continues the saved average (one more step moves it from there, not from the net)
    main(common + ["--steps", "4", "--resume"])
    again = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    k = "enc.weight"
    d = min(0.9, 4 / 13)  # the decay of the 4th step (index 3)
    expect = d * last["ema"][k] + (1 - d) * again["net"][k]
    assert torch.allclose(again["ema"][k], expect, atol=1e-6)


def test_train_data_parallel_processes_stay_in_step_and_resume(fake_data, tmp_path):
    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.train import main

    out = tmp_path / "m.onnx"
    common = _tiny_args(fake_data, tmp_path, "--val-every", "0", "--procs", "2")
    # every checkpoint compares the processes' weights and raises if gradients were not shared
    main(common + ["--steps", "3"])
    ck = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 3 and len(ck["rngs"]) == 2
    # the two processes draw different mixtures
    assert ck["rngs"][0]["mixer"] != ck["rngs"][1]["mixer"]
    main(common + ["--steps", "4", "--resume"])
    again = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    assert again["state"]["step"] == 4
    assert any(not torch.equal(again["net"][k], ck["net"][k]) for k in ck["net"])
    assert json.loads(MaskModel(out).card.extra["training"])["procs"] == 2
    rows = list(csv.DictReader(open(tmp_path / "w" / "log.csv")))
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "3", "4"]
    # a checkpoint of two processes does not resume as one
    with pytest.raises(SystemExit, match="--procs 2"):
        main(common[:-2] + ["--steps", "5", "--resume"])


def test_real_mir1k_labels_match_clips():
    root = default_data_dir() / "mir1k"
    if not (root / "clips").is_dir():
        pytest.skip(f"MIR-1K not found at {root}: see ../shared/data/README.md")
    from rtsep.train.data import read_vad_labels

    splits = json.loads((root / "splits.json").read_text())
    assert len(splits["train"]) == 175 and len(splits["test"]) == 825
    x, sr = sf.read(root / "clips" / "abjones_1_01.vocals.opus")
    assert sr == 16000
    lab = read_vad_labels(root / "labels" / "vocal-nonvocal" / "abjones_1_01.vocal")
    assert len(lab) == (len(x) - 640) // 320 + 1


def test_gpu_bundle_takes_albums_in_turn_and_encodes_16k_stereo(tmp_path):
    from models.gpu_bundle import _encode, round_robin

    for album, n in (("a", 3), ("b", 1), ("c", 2)):
        (tmp_path / album).mkdir()
        for i in range(n):
            sf.write(tmp_path / album / f"{i}.flac", np.zeros((44100 // 4, 1), np.float32), 44100)
    (tmp_path / "a" / "cover.png").write_bytes(b"")
    order = [f"{p.parent.name}{p.stem}" for p in round_robin(tmp_path)]
    assert order == ["a0", "b0", "c0", "a1", "c1", "a2"]
    t = np.arange(3 * 44100) / 44100
    sf.write(tmp_path / "tone.flac", 0.3 * np.sin(2 * np.pi * 440 * t), 44100)
    seconds = _encode((str(tmp_path / "tone.flac"), str(tmp_path / "tone.opus"), 2.0))
    y, sr = sf.read(tmp_path / "tone.opus", always_2d=True)
    assert sr == 16000 and y.shape[1] == 2 and seconds == pytest.approx(2.0, abs=0.01)
    spectrum = np.abs(np.fft.rfft(y[4000:20000, 0]))
    assert np.argmax(spectrum) * sr / 16000 == pytest.approx(440, abs=2)  # the tone survives the coding
