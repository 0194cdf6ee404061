"""File mode through the real CLI: alignment, outputs, and every kind of bad input."""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_one_line_error, run_cli
from rtsep.cli import main


def write(path, audio, sr, subtype="FLOAT"):
    sf.write(path, audio, sr, subtype=subtype)
    return path


@pytest.fixture
def song(tmp_path, rng):
    x = (0.2 * rng.standard_normal((44100 * 2 + 123, 2))).astype(np.float32)
    return write(tmp_path / "song.wav", x, 44100), x


def test_outputs_have_the_input_length_rate_channels_and_alignment(tmp_path, song, placeholder_model):
    path, x = song
    out = tmp_path / "out"
    assert main(["separate", str(path), "-o", str(out), "--model", str(placeholder_model),
                 "--blocksize", "1000", "--quiet"]) == 0
    v, sr_v = sf.read(out / "song" / "vocals.wav", dtype="float32", always_2d=True)
    a, sr_a = sf.read(out / "song" / "accompaniment.wav", dtype="float32", always_2d=True)
    assert sr_v == sr_a == 44100 and v.shape == a.shape == x.shape
    # vocals + accompaniment == input, sample for sample: the latency is compensated.
    assert np.max(np.abs(v + a - x)) < 1e-5
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"


def test_streaming_block_size_does_not_change_the_result(tmp_path, song, placeholder_model):
    path, _ = song
    outs = []
    for bs in ("64", "4096"):
        out = tmp_path / f"o{bs}"
        assert main(["separate", str(path), "-o", str(out), "--model", str(placeholder_model),
                     "--blocksize", bs, "--quiet"]) == 0
        outs.append(sf.read(out / "song" / "vocals.wav")[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=2e-5)


def test_impulse_lands_on_the_same_sample(tmp_path, placeholder_model):
    x = np.zeros((48000, 1), np.float32)
    x[10000] = 1.0
    path = write(tmp_path / "imp.wav", x, 48000)
    main(["separate", str(path), "-o", str(tmp_path / "o"), "--model", str(placeholder_model), "--quiet"])
    v = sf.read(tmp_path / "o" / "imp" / "vocals.wav")[0]
    a = sf.read(tmp_path / "o" / "imp" / "accompaniment.wav")[0]
    assert int(np.argmax(np.abs(v + a))) == 10000


def test_existing_outputs_are_kept_unless_force(tmp_path, song, placeholder_model, capsys):
    path, _ = song
    out = tmp_path / "out"
    (out / "song").mkdir(parents=True)
    (out / "song" / "vocals.wav").write_bytes(b"precious")
    assert main(["separate", str(path), "-o", str(out), "--model", str(placeholder_model), "--quiet"]) == 0
    assert (out / "song" / "vocals.wav").read_bytes() == b"precious"
    assert "skipped" in capsys.readouterr().out
    assert main(["separate", str(path), "-o", str(out), "--model", str(placeholder_model), "--quiet",
                 "--force"]) == 0
    assert sf.info(str(out / "song" / "vocals.wav")).frames == 44100 * 2 + 123


def test_folder_of_inputs_and_mode_karaoke(tmp_path, rng, placeholder_model):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a", "b"):
        write(d / f"{name}.flac", (0.1 * rng.standard_normal((8000, 1))).astype(np.float32), 16000, "PCM_16")
    (d / "notes.txt").write_text("not audio")
    assert main(["separate", str(d), "-o", str(tmp_path / "o"), "--model", str(placeholder_model), "--quiet",
                 "--mode", "karaoke"]) == 0
    for name in ("a", "b"):
        assert (tmp_path / "o" / name / "accompaniment.wav").is_file()
        assert not (tmp_path / "o" / name / "vocals.wav").exists()


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 2), (48000, 6)])
def test_odd_rates_and_channel_counts_work(tmp_path, rng, placeholder_model, rate, channels):
    x = (0.1 * rng.standard_normal((rate // 2, channels))).astype(np.float32)
    path = write(tmp_path / "x.wav", x, rate)
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--model", str(placeholder_model),
                 "--quiet"]) == 0
    v, sr = sf.read(tmp_path / "o" / "x" / "vocals.wav", always_2d=True)
    a, _ = sf.read(tmp_path / "o" / "x" / "accompaniment.wav", always_2d=True)
    assert sr == rate and v.shape == x.shape
    assert np.max(np.abs(v + a - x)) < 1e-5


def test_nan_and_inf_samples_are_sanitised(tmp_path, rng, placeholder_model, capsys):
    x = (0.1 * rng.standard_normal((16000, 2))).astype(np.float32)
    x[100:200] = np.nan
    x[5000] = np.inf
    path = write(tmp_path / "nan.wav", x, 16000)
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--model", str(placeholder_model),
                 "--quiet"]) == 0
    for stem in ("vocals", "accompaniment"):
        y = sf.read(tmp_path / "o" / "nan" / f"{stem}.wav")[0]
        assert np.all(np.isfinite(y))
    assert "NaN/Inf samples zeroed" in capsys.readouterr().out


def test_empty_file_text_file_and_missing_file(tmp_path, placeholder_model):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("hello, I am not a wave file\n" * 20)
    zero = write(tmp_path / "zero.wav", np.zeros((0, 1), np.float32), 16000)
    for bad, words in ((empty, "empty"), (text, "not a readable audio file"), (zero, "no audio"),
                       (tmp_path / "nope.wav", "no such file")):
        proc = run_cli("separate", str(bad), "-o", str(tmp_path / "o"), "--model", str(placeholder_model),
                       "--quiet")
        line = assert_one_line_error(proc)
        assert words in line
    assert not (tmp_path / "o" / "empty").exists() or not any((tmp_path / "o").rglob("*.wav"))


def test_one_bad_input_does_not_stop_the_others(tmp_path, rng, placeholder_model):
    good = write(tmp_path / "good.wav", (0.1 * rng.standard_normal((8000, 1))).astype(np.float32), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_text("garbage")
    proc = run_cli("separate", str(bad), str(good), "-o", str(tmp_path / "o"), "--model", str(placeholder_model),
                   "--quiet")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (tmp_path / "o" / "good" / "vocals.wav").is_file()
    assert not (tmp_path / "o" / "bad").exists()


def test_unwritable_output_folder(tmp_path, song, placeholder_model):
    path, _ = song
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    proc = run_cli("separate", str(path), "-o", str(blocker / "out"), "--model", str(placeholder_model))
    assert "cannot write to output folder" in assert_one_line_error(proc)


def test_corrupt_model_file(tmp_path, song):
    path, _ = song
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00\x01not a protobuf" * 50)
    proc = run_cli("separate", str(path), "-o", str(tmp_path / "o"), "--model", str(bad))
    assert "cannot load model" in assert_one_line_error(proc)
    assert not (tmp_path / "o" / "song").exists()


def test_info_json(placeholder_model):
    proc = run_cli("info", "--model", str(placeholder_model), "--json", "--samplerate", "44100")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    assert d["sample_rate"] == 44100 and d["latency_samples"] == 527
    assert abs(d["latency_ms"] - 527 / 44.1) < 1e-9
    assert d["network_precision"] == "float32"  # the placeholder has no known front end: whole graph
    proc = run_cli("info", "--json")  # the default live model
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and d["network_precision"] == "int8 dense layers"
    proc = run_cli("info", "--precision", "float32")
    assert proc.returncode == 0 and "live network : float32" in proc.stdout


def test_demo_runs_and_writes_stems_and_a_picture(tmp_path):
    proc = run_cli("demo", "-o", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    for name in ("mixture", "vocals", "accompaniment"):
        assert sf.info(str(tmp_path / "demo" / f"{name}.wav")).frames > 44100
    png = tmp_path / "demo" / "spectrograms.png"
    from PySide6.QtGui import QImage
    img = QImage(str(png))
    assert img.width() >= 800 and img.height() >= 600
    # Not blank: many distinct colours.
    colours = {img.pixel(x, y) for x in range(0, img.width(), 17) for y in range(0, img.height(), 13)}
    assert len(colours) > 50
    assert str(tmp_path / "demo") in proc.stdout


def test_classic_method_from_the_cli(tmp_path, rng):
    """--method center: a centre-panned 'voice' goes to vocals, a side-panned tone stays."""
    sr = 16000
    t = np.arange(sr) / sr
    voice = 0.3 * np.sin(2 * np.pi * 330 * t)
    side = 0.3 * np.sin(2 * np.pi * 150 * t)
    x = np.stack([voice + side, voice - side], axis=1).astype(np.float32)
    path = write(tmp_path / "c.wav", x, sr)
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--method", "center", "--quiet", "--plot"]) == 0
    a = sf.read(tmp_path / "o" / "c" / "accompaniment.wav")[0]
    v = sf.read(tmp_path / "o" / "c" / "vocals.wav")[0]
    assert a.shape == v.shape == x.shape
    assert np.corrcoef(a[:, 0], side)[0, 1] > 0.99 and np.corrcoef(v[:, 0], voice)[0, 1] > 0.99
    assert (tmp_path / "o" / "c" / "spectrograms.png").is_file()


def test_a_failing_disk_mid_file_leaves_no_output_and_one_line(tmp_path, song, placeholder_model, monkeypatch, capsys):
    """The stems are written on a thread of their own: a write error there (a full disk on the
    third block) still ends the command with one line and leaves neither stems nor temp files."""
    import errno

    path, _ = song
    real_write = sf.SoundFile.write
    calls = {"n": 0}

    def failing_write(self, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    out = tmp_path / "out"
    assert main(["separate", str(path), "-o", str(out), "--model", str(placeholder_model),
                 "--blocksize", "1000", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()  # the file's one line, then the batch summary
    assert lines[0].startswith("rtsep: error: cannot write outputs") and "No space left on device" in lines[0], err
    assert "Traceback" not in err and lines[1:] == ["rtsep: 1 of 1 input(s) failed"], err
    assert calls["n"] >= 3
    assert not list((out / "song").glob("*")), list((out / "song").glob("*"))


def test_background_writer_writes_in_order_and_copies_its_blocks():
    from rtsep.io.writer import BackgroundWriter

    class Sink:
        def __init__(self):
            self.blocks = []

        def write(self, data):
            self.blocks.append(data)

    sinks = [Sink(), Sink()]
    buf = np.zeros((4, 2), np.float32)
    with BackgroundWriter(sinks, depth=2) as w:
        for i in range(10):
            buf[:] = i  # the caller reuses its buffer at once
            w.write(i % 2, buf)
    assert [int(b[0, 0]) for b in sinks[0].blocks] == [0, 2, 4, 6, 8]
    assert [int(b[0, 0]) for b in sinks[1].blocks] == [1, 3, 5, 7, 9]
