"""A model's own vocal-activity threshold: chosen on validation clips, stored in the file,
used by the separator; malformed values are refused in one line."""

import shutil

import numpy as np
import pytest

from rtsep import Separator
from rtsep.errors import ModelError
from rtsep.model.onnx_model import MaskModel
from rtsep.plugins.separator import VAD_THRESHOLD

pytest.importorskip("onnx")


def test_best_threshold_takes_the_best_accuracy_and_breaks_ties_towards_one_half():
    from rtsep.train.calibrate import GRID, best_threshold

    acc = np.linspace(0.9, 0.7, len(GRID))
    assert best_threshold(acc) == GRID[0]
    acc = np.full(len(GRID), 0.8)
    acc[[1, len(GRID) - 2]] = 0.85  # 0.10 and 0.90 tie: both 0.40 from 0.5; the first wins
    assert best_threshold(acc) == pytest.approx(0.10)
    acc[[7]] = 0.85  # 0.40 joins the tie: nearest 0.5
    assert best_threshold(acc) == pytest.approx(0.40)


def test_a_written_threshold_is_what_the_separator_uses(placeholder_model, tmp_path):
    from rtsep.train.calibrate import write_threshold

    path = str(tmp_path / "m.onnx")
    shutil.copy(placeholder_model, path)
    assert Separator(path, sample_rate=16000, channels=1).vad_threshold == VAD_THRESHOLD
    write_threshold(path, 0.25, "test")
    card = MaskModel(path).card
    assert card.activity_threshold == pytest.approx(0.25)
    assert card.extra["activity_threshold_source"] == "test"
    assert MaskModel(path).describe()["activity_threshold"] == pytest.approx(0.25)
    assert Separator(path, sample_rate=44100, channels=2).vad_threshold == pytest.approx(0.25)
    assert list(tmp_path.iterdir()) == [tmp_path / "m.onnx"]  # no temporary left


@pytest.mark.parametrize("value", ["abc", "1.5", "nan", "0"])
def test_a_malformed_threshold_is_one_line(placeholder_model, tmp_path, value):
    import onnx

    model = onnx.load(placeholder_model)
    p = model.metadata_props.add()
    p.key, p.value = "activity_threshold", value
    path = str(tmp_path / "bad.onnx")
    onnx.save(model, path)
    with pytest.raises(ModelError) as e:
        Separator(path, sample_rate=16000, channels=1)
    assert "\n" not in str(e.value) and "bad.onnx" in str(e.value)


def test_activity_at_labels_takes_the_frame_nearest_each_label_centre():
    from rtsep.train.data import LABEL_FRAME, LABEL_HOP, SR, activity_at_labels, mixture_at_0db

    times = np.array([0.0, 0.01, 0.05, 0.30])  # activity frames (s)
    vad = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    # label centres at 0.02, 0.04, 0.06, ... s; 0.02 is nearer 0.01, 0.04 and 0.06 nearer 0.05
    got = activity_at_labels(vad, times, 4)
    assert LABEL_FRAME // 2 / SR == 0.02 and LABEL_HOP / SR == 0.02
    np.testing.assert_array_equal(got, vad[[1, 2, 2, 2]])
    v, a, mix = mixture_at_0db(np.ones(8, np.float32), 3 * np.ones(8, np.float32))
    assert np.sum(a ** 2) == pytest.approx(np.sum(v ** 2)) and mix.dtype == np.float32
