"""The separator plugin: modes, rates, channels, streaming == offline, no allocation."""

from pathlib import Path

import numpy as np
import pytest

from rtsep import Separator
from rtsep.errors import ModelError
from rtsep.filemode import separate_array
from rtsep.model.onnx_model import MaskModel
from allocation import peak_allocated_bytes


def test_model_frame_by_frame_equals_sequence(placeholder_model, rng):
    m = MaskModel(placeholder_model)
    x = rng.standard_normal((40, m.n_bins, 2)).astype(np.float32)
    mask_seq, vad_seq = (a.copy() for a in m.run(x))
    m.reset()
    masks = [m.run(x[t:t + 1])[0].copy() for t in range(40)]  # run() returns views: copy
    np.testing.assert_allclose(np.concatenate(masks), mask_seq, atol=1e-5)
    m.reset()
    vads = [m.run(x[t:t + 1])[1].copy() for t in range(40)]
    np.testing.assert_allclose(np.concatenate(vads), vad_seq, atol=1e-5)


@pytest.mark.parametrize("rate,channels", [(48000, 2), (44100, 2), (16000, 1), (8000, 1), (96000, 2), (48000, 6)])
def test_mix_at_unity_is_the_delayed_input(placeholder_model, rate, channels, rng):
    sep = Separator(placeholder_model, sample_rate=rate, channels=channels, mode="mix")
    assert sep.latency_samples / rate <= 0.012
    x = (0.1 * rng.standard_normal((rate // 2, channels))).astype(np.float32)
    y = sep(x, blocksize=1000)
    d = sep.latency_samples
    assert np.max(np.abs(y[d:] - x[:-d])) < 1e-6


def test_streaming_equals_offline_for_random_blocks(placeholder_model, rng):
    x = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    sep = Separator(placeholder_model, sample_rate=48000, channels=2, mode="karaoke")
    ref = sep(x, blocksize=8192)
    sep.reset()
    out, i = [], 0
    while i < len(x):
        b = int(rng.choice([1, 5, 64, 128, 333, 1024, 4096, 8192]))
        out.append(sep.process(x[i:i + b]).copy())
        i += b
    np.testing.assert_allclose(np.concatenate(out), ref, atol=2e-5)


def test_karaoke_plus_vocals_is_the_input_and_stems_are_aligned(placeholder_model, rng):
    x = (0.1 * rng.standard_normal((20000, 2))).astype(np.float32)
    res = separate_array(x, 44100, model=placeholder_model, blocksize=777)
    assert res.vocals.shape == x.shape == res.accompaniment.shape
    np.testing.assert_allclose(res.vocals + res.accompaniment, x, atol=1e-6)
    assert 0.05 < np.std(res.vocals) / np.std(x) < 0.95  # something was actually masked
    assert len(res.vad) == len(res.vad_times_s) > 0


def test_content_above_the_model_band_is_kept_in_the_accompaniment(placeholder_model):
    sr = 48000
    t = np.arange(sr) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 14000 * t)] * 2, axis=1).astype(np.float32)
    res = separate_array(x, sr, model=placeholder_model)
    k = sr // 4
    kept = np.sqrt(np.mean(res.accompaniment[k:] ** 2) / np.mean(x[k:] ** 2))
    assert kept > 0.2, f"14 kHz content in the accompaniment at {kept:.2f} of its level"


def test_mode_switch_is_click_free(placeholder_model):
    sr = 16000
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 200 * t))[:, None].astype(np.float32)
    sep = Separator(placeholder_model, sample_rate=sr, channels=1, mode="karaoke", fade_ms=10)
    out = []
    for k, i in enumerate(range(0, sr, 128)):
        if k == 60:
            sep.mode = "vocals"
        out.append(sep.process(x[i:i + 128]).copy())
    y = np.concatenate(out)[2000:, 0]
    # A 200 Hz sine moves at most 2*pi*200/16000*0.5 = 0.04 per sample; a click would jump.
    assert np.max(np.abs(np.diff(y))) < 0.08


def test_nan_input_gives_finite_output(placeholder_model):
    x = np.zeros((10000, 2), np.float32)
    x[::7] = np.nan
    x[::11] = np.inf
    sep = Separator(placeholder_model, sample_rate=48000, channels=2)
    y = sep(x)
    assert np.all(np.isfinite(y)) and sep.stft.nonfinite_samples > 0


@pytest.mark.parametrize("block", [128, 2048])  # 2048 at 48 kHz: 7 model frames per block
@pytest.mark.parametrize("model", ["placeholder", "release-low.onnx"])  # whole graph; features + int8 network
def test_live_block_path_allocates_no_arrays(placeholder_model, rng, block, model):
    path = placeholder_model if model == "placeholder" else Path(__file__).resolve().parents[1] / "models" / model
    sep = streams_without_allocating(path, rng, block)
    assert (sep._live_core is None) == (model == "placeholder")


def streams_without_allocating(path, rng, block):
    """A live separator on ``path`` streams 300 blocks of ``block`` frames into the caller's
    buffer (``process(x, out=buf)``, as the live host does) allocating < 1 kB."""
    sep = Separator(path, sample_rate=48000, channels=2, max_block=block, live=True)
    x = (0.1 * rng.standard_normal((block, 2))).astype(np.float32)
    buf = np.zeros_like(x)
    for _ in range(20):
        assert sep.process(x, out=buf) is buf
    peak = peak_allocated_bytes(lambda: sep.process(x, out=buf), 300)
    assert peak < 1024, f"{peak} bytes allocated while streaming"  # one 128x2 block is 1 kB
    return sep


def test_live_and_file_model_paths_give_the_same_output(placeholder_model, rng):
    x = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    outs = []
    for live in (False, True):
        sep = Separator(placeholder_model, sample_rate=48000, channels=2, max_block=4096, live=live)
        outs.append(np.concatenate([sep.process(x[i:i + 4096]).copy() for i in range(0, len(x), 4096)]))
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)


def test_wrong_channel_count_is_refused(placeholder_model):
    sep = Separator(placeholder_model, sample_rate=48000, channels=2)
    with pytest.raises(ValueError):
        sep.process(np.zeros((64, 3), np.float32))


def test_corrupt_model_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage" * 100)
    with pytest.raises(ModelError):
        Separator(bad)
    with pytest.raises(ModelError):
        Separator(tmp_path / "missing.onnx")


@pytest.mark.parametrize("lookahead", [0, 3])
def test_engine_matches_an_offline_computation(tmp_path, rng, lookahead):
    """Streamed output == analyse everything, run the model on the whole sequence, pair
    mask t with frame t - lookahead, resynthesise: the engine adds nothing else."""
    from rtsep.dsp.stft import StreamingStft
    from rtsep.model.placeholder import build_placeholder

    path = build_placeholder(str(tmp_path / "la.onnx"), n_fft=512, hop=128, synthesis_len=512,
                             lookahead_frames=lookahead)
    sr = 16000
    x = (0.1 * rng.standard_normal((sr, 1))).astype(np.float32)
    sep = Separator(path, sample_rate=sr, channels=1, mode="vocals")
    assert sep.latency_samples == 511 + lookahead * 128
    y = np.concatenate([sep.process(x[i:i + 300]).copy() for i in range(0, len(x), 300)])

    ref_stft = StreamingStft.from_setup(512, 128, 512, channels=1, max_block=len(x))
    n = ref_stft.analyze(x)
    spec = ref_stft.spec[:n].copy()
    feats = np.stack([spec[:, 0].real, spec[:, 0].imag], axis=-1).astype(np.float32)
    mask, _ = MaskModel(path).run(feats)
    masked = np.zeros_like(ref_stft.spec)
    masked[:n - lookahead, 0] = spec[:n - lookahead, 0] * mask[lookahead:]
    ref_stft2 = StreamingStft.from_setup(512, 128, 512, channels=1, max_block=len(x), lookahead_frames=lookahead)
    ref_stft2.analyze(x)
    ref_stft2.synthesize(masked, n - lookahead)
    ref = np.zeros_like(x)
    ref_stft2.read(ref, len(x))
    # Compare up to the last frames, which the reference could not complete.
    stop = len(x) - 512 - lookahead * 128
    np.testing.assert_allclose(y[:stop], ref[:stop], atol=1e-5)
    assert np.std(y[600:stop]) > 0.01


def _stream(sep, x, sizes):
    """Outputs, stems, vocal activity and its times for ``x`` cut into blocks of ``sizes``
    (cycled), as one array each."""
    outs, vads, times = [], [], []
    i, k = 0, 0
    while i < len(x):
        b = sizes[k % len(sizes)]
        out, v, a = sep.process_stems(x[i:i + b])
        assert out.shape == v.shape == a.shape == (len(x[i:i + b]), x.shape[1])
        outs.append(np.concatenate([out, v, a], axis=1).copy())
        vads.append(sep.vad[:sep.vad_frames].copy())
        times.append(sep.frame_times_s(sep.vad_frames))
        i, k = i + b, k + 1
    return np.concatenate(outs), np.concatenate(vads), np.concatenate(times)


@pytest.mark.parametrize("lookahead", [0, 3])
def test_any_block_size_gives_the_output_of_small_blocks(tmp_path, rng, lookahead):
    """Blocks longer than max_block (9,075 and 20,000 frames at max_block 4,096) and single
    frames give what 512-frame blocks give: stems, activity and its times."""
    from rtsep.model.placeholder import build_placeholder

    path = build_placeholder(str(tmp_path / "m.onnx"), n_fft=1024, hop=96, synthesis_len=192,
                             lookahead_frames=lookahead)
    x = (0.1 * rng.standard_normal((44100, 2))).astype(np.float32)
    x[:, 1] *= 0.5
    kw = dict(sample_rate=44100, channels=2, mode="mix", vocals_db=-6.0, max_block=4096)
    ref = _stream(Separator(path, workers=1, **kw), x, [512])
    one = _stream(Separator(path, workers=1, **kw), x[:6000], [1])
    np.testing.assert_allclose(one[0], ref[0][:6000], atol=2e-5)
    for sizes in ([9075], [20000], [20000, 1, 9075, 333]):
        for workers in (1, 2):
            got = _stream(Separator(path, workers=workers, **kw), x, sizes)
            np.testing.assert_allclose(got[0], ref[0], atol=2e-5, err_msg=f"{sizes} {workers}")
            np.testing.assert_allclose(got[1], ref[1], atol=2e-5)
            np.testing.assert_array_equal(got[2], ref[2])


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("lookahead", [0, 3])
def test_two_workers_give_the_same_bits_as_one(tmp_path, rng, channels, lookahead):
    """The two-thread paths (one-step blocks split, longer blocks pipelined) reorder work
    only: the same block sequence gives bit-identical stems and activity."""
    from rtsep.model.placeholder import build_placeholder

    path = build_placeholder(str(tmp_path / "m.onnx"), n_fft=1024, hop=96, synthesis_len=192,
                             lookahead_frames=lookahead)
    x = (0.1 * rng.standard_normal((48000, channels))).astype(np.float32)
    sizes = [4096, 20000, 1, 9075, 2048]
    one = _stream(Separator(path, sample_rate=48000, channels=channels, max_block=4096, workers=1), x, sizes)
    two_sep = Separator(path, sample_rate=48000, channels=channels, max_block=4096, workers=2)
    assert two_sep.workers == 2
    two = _stream(two_sep, x, sizes)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    assert np.std(one[0][:, channels:2 * channels]) > 0.01  # the vocal stem is not silent
