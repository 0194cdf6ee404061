"""The look-ahead teacher of ``--distill``: its vocals through its own engine STFT, and the
training run that uses them as a second target."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_train import _tiny_args, fake_data  # noqa: E402,F401  (shared synthetic MIR-1K)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
MODELS = Path(__file__).resolve().parents[1] / "models"


def _tiny_teacher(path):
    """An untrained mono model with the quality config's STFT and 3 frames of look-ahead."""
    from rtsep.train.export import export_onnx
    from rtsep.train.model import MaskNet

    torch.manual_seed(3)
    export_onnx(MaskNet(513, 16, 16, 2), str(path), name="teacher", description="d", hop=256, synthesis_len=1024,
                lookahead_frames=3)
    return path


def test_teacher_vocals_are_its_engine_separation_channel_by_channel(tmp_path):
    from rtsep.train.distill import Teacher
    from rtsep.train.separate import separate_batch

    t = Teacher(str(_tiny_teacher(tmp_path / "t.onnx")))
    assert t.lookahead == 3 and t.tail == 1024 - 256 + 3 * 256
    rng = np.random.default_rng(0)
    n = 16000 + 100  # not whole hops of 256: padded inside
    mix = torch.from_numpy((0.1 * rng.standard_normal((2, 2, n))).astype(np.float32))
    got = t.vocals(mix)
    assert got.shape == mix.shape and torch.isfinite(got).all()
    # each channel on its own equals the engine-STFT separation of that channel (padded to hops)
    one = torch.nn.functional.pad(mix[1, 0][None], (0, 156))
    ref, _, _, _ = separate_batch(t.net, t.stft, one, 3)
    torch.testing.assert_close(got[1, 0], ref[0, :n])
    assert not torch.allclose(got[1, 0], got[1, 1])


def test_a_stereo_teacher_is_refused():
    from rtsep.train.distill import Teacher

    with pytest.raises(SystemExit, match="mono"):
        Teacher(str(MODELS / "release-low.onnx"))


def test_training_with_a_teacher_records_it_and_moves_the_loss(fake_data, tmp_path):  # noqa: F811
    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.train import main

    teacher = _tiny_teacher(tmp_path / "t.onnx")
    losses = []
    for weight in ("0", "1"):
        main(_tiny_args(fake_data, tmp_path, "--steps", "2", "--val-every", "0", "--seed", "5",
                        "--distill", str(teacher), "--distill-weight", weight))
        meta = json.loads(MaskModel(tmp_path / "m.onnx").card.extra["training"])
        assert "teacher" in meta["loss"] and str(teacher) in meta["command"]
        log = (tmp_path / "w" / "log.csv").read_text().splitlines()
        losses.append(float(log[-1].split(",")[3]))
        for p in (tmp_path / "w").iterdir():
            p.unlink()
    # same seed, same mixtures: only the teacher's term differs (it adds -SDR vs an untrained teacher)
    assert losses[0] != losses[1]
