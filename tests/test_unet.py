"""The pretrained U-Net: same stems as Spleeter's own pipeline, and the streaming contract.

``tests/fixtures/unet-demo.flac`` (written by ``models/convert_unet.py``): 4 s of the project's
synthetic demo song at 44.1 kHz (16-bit) and the stems spleeter 2.4.2 itself produced from it
with the original TensorFlow checkpoint. Channels: mixture L R, vocals L R, accompaniment L R.
``unet-demo-mwf.flac``: spleeter's stems with its Wiener filter (MWF), vocals L R, accompaniment L R.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import soxr

from rtsep.errors import ModelError
from rtsep.unet import UNetSeparator, unet_model_path
from rtsep.unet.stft import HOP, N_FFT, WINDOW, WINDOW_COMPENSATION

from conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "unet-demo.flac"
SR = 44100


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - est).astype(np.float64) ** 2)))


@pytest.fixture(scope="module")
def fixture():
    data, sr = sf.read(FIXTURE, dtype="float32")
    assert sr == SR and data.shape[1] == 6
    return {"mixture": data[:, :2], "vocals": data[:, 2:4], "accompaniment": data[:, 4:6]}


@pytest.fixture(scope="module")
def sep() -> UNetSeparator:
    return UNetSeparator(SR, 2)


@pytest.fixture(scope="module")
def long_mix() -> np.ndarray:
    """12.6 s: crosses the first 512-frame segment boundary (11.87 s of input)."""
    from rtsep.demo_clip import make_demo_clip

    clip = make_demo_clip(SR, seconds=12.6, seed=3)["mixture"]
    return clip + 0.01 * np.random.default_rng(5).standard_normal(clip.shape).astype(np.float32)


def test_stems_match_spleeter_reference(sep, fixture):
    vocals, accomp = sep.separate(fixture["mixture"])
    assert vocals.shape == accomp.shape == fixture["mixture"].shape
    assert snr_db(fixture["vocals"], vocals) >= 40.0
    assert snr_db(fixture["accompaniment"], accomp) >= 40.0
    # The stems are not trivially close: the reference's vocals are far from the mixture.
    assert snr_db(fixture["vocals"], fixture["mixture"]) < 10.0


def test_wiener_matches_spleeter_mwf(fixture):
    """--wiener: spleeter's MWF setting (norbert). The excerpt is shorter than one segment, so the
    per-segment filter sees exactly the frames the reference's whole-song filter saw."""
    mwf, _ = sf.read(FIXTURE.with_name("unet-demo-mwf.flac"), dtype="float32")
    vocals, accomp = UNetSeparator(SR, 2, wiener=True).separate(fixture["mixture"])
    assert snr_db(mwf[:, :2], vocals) >= 40.0
    assert snr_db(mwf[:, 2:], accomp) >= 40.0
    # ... and it is not the ratio-mask output: that one is far further from the MWF stems.
    assert snr_db(fixture["vocals"], vocals) < snr_db(mwf[:, :2], vocals) - 10.0


def test_full_band_keeps_the_top_octave_in_the_accompaniment(sep, fixture):
    """full_band=True: the stems sum to the mixture (the reference drops everything above 11 kHz)."""
    mix = fixture["mixture"]
    vocals, accomp = UNetSeparator(SR, 2, full_band=True).separate(mix)
    ref_v, ref_a = sep.separate(mix)
    np.testing.assert_allclose(vocals, ref_v, atol=1e-6)  # the vocals are the reference's
    assert snr_db(mix, vocals + accomp) > 60.0
    assert snr_db(mix, ref_v + ref_a) < 40.0              # the hats above 11 kHz are missing there


def test_reference_check_catches_a_wrong_exponent(fixture):
    """The 40 dB bound detects a pipeline that is only slightly off (exponent 1 instead of 2)."""
    broken = UNetSeparator(SR, 2)
    broken.model.card = dataclasses.replace(broken.model.card, exponent=1.0)
    vocals, accomp = broken.separate(fixture["mixture"])
    assert min(snr_db(fixture["vocals"], vocals), snr_db(fixture["accompaniment"], accomp)) < 40.0


def _reference_numpy(model, audio: np.ndarray) -> np.ndarray:
    """Spleeter's graph written out for the whole signal at once (TF framing, pad_and_partition,
    whole-signal overlap-add): the oracle for the segment-by-segment bookkeeping. (stems, N, 2)."""
    n = len(audio)
    padded = np.concatenate([np.zeros((N_FFT, 2), np.float32), audio])
    n_frames = -(-len(padded) // HOP)                                   # pad_end
    padded = np.concatenate([padded, np.zeros(((n_frames - 1) * HOP + N_FFT - len(padded), 2), np.float32)])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(N_FFT)
    spec = np.fft.rfft(padded[idx] * WINDOW[:, None], axis=1)          # (frames, bins, 2)
    T, F = model.card.segment_frames, model.card.bins
    segs = -(-n_frames // T)
    mag = np.zeros((segs * T, F, 2), np.float32)
    mag[:n_frames] = np.abs(spec[:, :F])
    est = [model.run(mag[s * T:(s + 1) * T]) for s in range(segs)]
    v = np.concatenate([e[0] for e in est])[:n_frames] ** 2
    a = np.concatenate([e[1] for e in est])[:n_frames] ** 2
    out = np.zeros((2, len(padded), 2))
    for k, m in enumerate(((v + 5e-11) / (v + a + 1e-10), (a + 5e-11) / (v + a + 1e-10))):
        full = np.zeros_like(spec)
        full[:, :F] = m * spec[:, :F]
        frames = np.fft.irfft(full, n=N_FFT, axis=1) * WINDOW[:, None] * WINDOW_COMPENSATION
        for f in range(n_frames):
            out[k, f * HOP:f * HOP + N_FFT] += frames[f]
    return out[:, N_FFT:N_FFT + n]


def test_segments_match_whole_signal_oracle(sep, long_mix):
    vocals, accomp = sep.separate(long_mix)
    ref = _reference_numpy(sep.model, long_mix)
    assert snr_db(ref[0], vocals) > 60.0 and snr_db(ref[1], accomp) > 60.0
    # Around the segment boundary too (input samples 508..516 hops).
    cut = slice(508 * HOP, 516 * HOP)
    assert snr_db(ref[0][cut], vocals[cut]) > 50.0


def test_stream_equals_whole_array_with_odd_blocks(sep, long_mix):
    whole = sep.separate(long_mix)
    rng = np.random.default_rng(7)
    sizes = list(rng.integers(1, 30000, 60)) + [1, 7, 4095, 4097]
    blocks, pos = [], 0
    for s in sizes:
        blocks.append(long_mix[pos:pos + s])
        pos += s
    blocks.append(long_mix[pos:])
    got = list(sep.stream(iter(blocks)))
    vocals = np.concatenate([g[0] for g in got])
    accomp = np.concatenate([g[1] for g in got])
    assert vocals.shape == long_mix.shape
    assert all(g[0].dtype == np.float32 and g[0].flags.owndata for g in got)
    np.testing.assert_array_equal(vocals, whole[0])
    np.testing.assert_array_equal(accomp, whole[1])
    assert len(got) >= 2  # the first segment came out before the end of the input


@pytest.mark.parametrize("length", [1, 1023, 1024, 5000])
def test_short_inputs_keep_their_length(sep, length):
    x = np.random.default_rng(length).standard_normal((length, 2)).astype(np.float32) * 0.1
    vocals, accomp = sep.separate(x)
    assert vocals.shape == accomp.shape == x.shape
    assert np.isfinite(vocals).all()


def test_empty_input(sep):
    vocals, accomp = sep.separate(np.zeros((0, 2), np.float32))
    assert vocals.shape == (0, 2) and accomp.shape == (0, 2)


@pytest.mark.parametrize("rate", [48000, 22050])
def test_other_rates_resampled_and_aligned(fixture, rate):
    mix = soxr.resample(fixture["mixture"], SR, rate)
    vocals, accomp = UNetSeparator(rate, 2).separate(mix)
    assert vocals.shape == accomp.shape == mix.shape
    ref_v = soxr.resample(fixture["vocals"], SR, rate)
    # Same stems as the 44.1 kHz reference (resampled), in time: the alignment is sample-exact.
    assert snr_db(ref_v, vocals) > 20.0
    assert snr_db(ref_v, np.roll(vocals, 3, axis=0)) < snr_db(ref_v, vocals) - 3.0


def test_mono_duplicated_like_the_reference(sep, fixture):
    mono = fixture["mixture"].mean(axis=1)
    vocals, accomp = UNetSeparator(SR, 1).separate(mono)
    assert vocals.shape == mono.shape
    v2, a2 = sep.separate(np.stack([mono, mono], axis=1))
    np.testing.assert_allclose(vocals, v2.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(accomp, a2.mean(axis=1), atol=1e-6)


def test_three_channels_as_pairs(sep, fixture):
    mix = np.concatenate([fixture["mixture"], fixture["mixture"][:, :1]], axis=1)
    vocals, _ = UNetSeparator(SR, 3).separate(mix)
    assert vocals.shape == mix.shape
    np.testing.assert_allclose(vocals[:, :2], sep.separate(fixture["mixture"])[0], atol=1e-6)


def test_nan_samples_zeroed(sep, fixture):
    mix = fixture["mixture"].copy()
    mix[1000:1010, 0] = np.nan
    mix[5000, 1] = np.inf
    vocals, accomp = sep.separate(mix)
    assert np.isfinite(vocals).all() and np.isfinite(accomp).all()
    assert sep.nonfinite_samples == 11
    clean = np.nan_to_num(mix, nan=0.0, posinf=0.0)
    np.testing.assert_array_equal(vocals, sep.separate(clean)[0])


def test_bad_model_is_a_model_error(tmp_path, placeholder_model):
    with pytest.raises(ModelError):
        UNetSeparator(SR, 2, model=tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="not a U-Net"):
        UNetSeparator(SR, 2, model=placeholder_model)


def test_describe(sep):
    d = sep.describe()
    assert d["model"]["name"] == "unet-2stems" and "MIT" in d["model"]["license"]
    assert "deezer/spleeter" in d["model"]["source"]
    assert d["offline"] and 11.5 < d["ahead_s"] < 12.5
    assert unet_model_path("unet") == unet_model_path()


def test_cli_separate_defaults_to_unet(tmp_path, sep, fixture):
    from conftest import run_cli

    wav, mono = tmp_path / "song.wav", tmp_path / "mono.flac"
    sf.write(wav, fixture["mixture"], SR, subtype="FLOAT")
    mono_mix = soxr.resample(fixture["mixture"][:, 0], SR, 22050)
    sf.write(mono, mono_mix, 22050, subtype="PCM_24")
    proc = run_cli("separate", str(wav), str(mono), "-o", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    vocals, sr = sf.read(tmp_path / "out" / "song" / "vocals.wav", dtype="float32")
    assert sr == SR and vocals.shape == fixture["mixture"].shape
    np.testing.assert_allclose(vocals, sep.separate(fixture["mixture"])[0], atol=1e-6)
    # A mono 22.05 kHz file: stems at its rate, mono, as long as the input.
    accomp, sr = sf.read(tmp_path / "out" / "mono" / "accompaniment.wav", dtype="float32", always_2d=True)
    assert sr == 22050 and accomp.shape == (len(mono_mix), 1)
    # --latency still selects a recurrent model (different stems).
    proc = run_cli("separate", str(wav), "-o", str(tmp_path / "rec"), "--quiet", "--latency", "low")
    assert proc.returncode == 0, proc.stderr
    rec, _ = sf.read(tmp_path / "rec" / "song" / "vocals.wav", dtype="float32")
    assert snr_db(vocals, rec) < 20.0


def test_cli_info_unet_json():
    import json

    from conftest import run_cli

    proc = run_cli("info", "--model", "unet", "--json", "--samplerate", "44100")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["model"]["kind"] == "unet" and "Deezer" in d["model"]["license"]
    assert d["latency_samples"] == 0 and d["ahead_samples"] == (512 + 3) * 1024 - 4096


@pytest.mark.parametrize("full_band", [False, True])
def test_pipelined_segments_equal_one_at_a_time(full_band):
    """Segments run two at a time (one thread each) give the stems of one segment at a time:
    same order, same overlap-add across segment boundaries (three segments here)."""
    from rtsep.demo_clip import make_demo_clip

    mix = make_demo_clip(SR, seconds=26.0, seed=4)["mixture"]
    one = UNetSeparator(SR, 2, threads=2, pipelined=False, full_band=full_band)
    two = UNetSeparator(SR, 2, threads=2, pipelined=True, full_band=full_band)
    assert two.pipelined and not one.pipelined
    blocks = [mix[i:i + 7001] for i in range(0, len(mix), 7001)]  # odd block size: segments cut mid-block
    ref = [np.concatenate(s) for s in zip(*one.stream(blocks))]
    got = [np.concatenate(s) for s in zip(*two.stream(blocks))]
    for r, g in zip(ref, got):
        assert g.shape == r.shape == mix.shape
        np.testing.assert_allclose(g, r, atol=2e-6)
