"""The chain spec parser: what it builds, and everything it refuses before audio runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtsep.errors import RtsepError
from rtsep.plugins import Chain, DryWet, Gain
from rtsep.plugins.spec import ChainSpecError, parse_chain, parse_spec

pedalboard = pytest.importorskip("pedalboard", reason="pedalboard (PyPI) is not installed")


def test_syntax_is_calls_with_literals():
    calls = parse_spec('lv2("urn:x", roomsize=20, on=True), reverb, gain(-3), drywet(reverb(room_size=0.3), wet=+0.5),')
    assert [c.name for c in calls] == ["lv2", "reverb", "gain", "drywet"]
    assert calls[0].args == ("urn:x",) and calls[0].kwargs == {"roomsize": 20, "on": True}
    assert calls[1].args == () and calls[2].args == (-3,)
    inner = calls[3].args[0]
    assert inner.name == "reverb" and inner.kwargs == {"room_size": 0.3} and calls[3].kwargs == {"wet": 0.5}
    assert parse_spec("   ") == []


def test_builds_a_working_chain_of_own_and_pedalboard_plugins(rng):
    chain = parse_chain("gain(-6), highpass(cutoff_frequency_hz=20), eq(1000, 0, 1), drywet(reverb(), wet=0)",
                        sample_rate=48000, channels=2, max_block=256)
    assert isinstance(chain, Chain) and len(chain) == 4
    assert isinstance(chain[0], Gain) and isinstance(chain[3], DryWet)
    assert chain.latency_samples == 0 and chain.max_block == 256
    x = (0.1 * rng.standard_normal((256, 2))).astype(np.float32)
    y = chain.process(x)
    assert y.shape == (256, 2) and y.dtype == np.float32
    # -6 dB, a 20 Hz high-pass and a flat peak filter: close to half the input, not the input
    assert 0.4 < np.std(y) / np.std(x) < 0.6


def test_separator_in_a_spec_adds_its_latency(placeholder_model):
    chain = parse_chain(f'separator(model="{placeholder_model}", mode="vocals"), gain(0)', 48000, 2)
    assert chain[0].mode == "vocals" and chain.latency_samples == 575


@pytest.mark.parametrize("spec, expected", [
    ("__import__('os').system('touch /tmp/rtsep-pwned')", "plain name"),
    ("__import__('os')", "unknown plugin '__import__'"),
    ("os.system('x')", "plain name"),
    ("gain(x)", "the name 'x'"),
    ("gain(len('abc'))", "a call as a value"),
    ("gain(().__class__)", "attribute access"),
    ("gain(1 + 2)", "an operator"),
    ("gain([1][0])", "subscript"),
    ("gain(**{'db': 3})", "**kwargs"),
    ("gain(*[3])", "*args"),
    ("gain(-3) + gain(3)", "other than a call"),
    ("lambda: gain()", "other than a call"),
    ("[gain()]", "other than a call"),
    ("gain(-3", "invalid syntax"),
    ("()", "no plugin"),
    ("gain('loud')", "must be a finite number"),
    ("gain(1e400)", "must be a finite number"),
    ("gain(True)", "must be a finite number"),
    ("gain(3, 4)", "too many positional"),
    ("gain(db=3, boost=1)", "unexpected keyword argument 'boost'"),
    ("flanger()", "unknown plugin 'flanger'"),
    ("reverb(room_size=2)", "out of range [0, 1]"),
    ("reverb(size=0.5)", "no parameter 'size'"),
    ("reverb(room_size='big')", "finite number"),
    ("highpass(30000)", "out of range [1, 24000]"),
    ("pitch_shift(2)", "cannot run in a stream"),
    ("drywet(3)", "must be a plugin call"),
    ("separator(mode='loud')", "mode must be one of"),
    ("separator(precision='int4')", "precision must be one of"),
    ("vst3('/no/such/plugin.vst3')", "no VST3 plugin"),
    ("gain(0)" + ", gain(0)" * 1000, "characters long"),
])
def test_refuses_with_one_line(spec, expected, tmp_path):
    with pytest.raises(ChainSpecError) as info:
        parse_chain(spec, 48000, 2)
    msg = str(info.value)
    assert expected in msg and "\n" not in msg
    assert isinstance(info.value, RtsepError)


def test_error_names_the_element_at_fault():
    with pytest.raises(ChainSpecError, match=r"chain element 2 `reverb\(room_size=5\)`"):
        parse_chain("gain(-3), reverb(room_size=5)", 48000, 2)


def test_nothing_is_evaluated(tmp_path, monkeypatch):
    """Even a spec that would run code if evaluated leaves no trace."""
    target = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    for spec in (f"__import__('pathlib').Path('{target}').touch()", f"open('{target}', 'w')"):
        with pytest.raises(ChainSpecError):
            parse_chain(spec, 48000, 2)
    assert not target.exists()


def test_bad_stream_shape_is_refused():
    with pytest.raises(ChainSpecError, match="positive whole sample rate"):
        parse_chain("gain(0)", 0, 2)


@pytest.mark.parametrize("spec, cls, params", [
    ("reverb(room_size=0.7, wet_level=0.5)", "Reverb", dict(room_size=0.7, wet_level=0.5)),
    ("chorus(mix=0.5)", "Chorus", dict(mix=0.5)),
    ("compressor(-20, 4)", "Compressor", dict(threshold_db=-20, ratio=4)),
])
def test_pedalboard_effects_stream_like_pedalboard_itself(spec, cls, params, rng):
    """Blocks of changing sizes, including 2 frames of a stereo stream (a square block,
    which pedalboard cannot orient by itself), give pedalboard's whole-signal result."""
    x = (0.3 * rng.standard_normal((24000, 2))).astype(np.float32)
    # rtsep's reset runs one max_block of silence (see PedalboardPlugin.reset)
    primed = np.concatenate([np.zeros((2048, 2), np.float32), x])
    ref = getattr(pedalboard, cls)(**params).process(primed.T.copy(), 48000.0).T[2048:]
    plugin = parse_chain(spec, 48000, 2, max_block=2048)[0]
    out, i, sizes = [], 0, (2, 3, 128, 2048, 333)
    while i < len(x):
        n = sizes[len(out) % len(sizes)]
        out.append(plugin.process(x[i:i + n]).copy())
        i += n
    y = np.concatenate(out)
    assert y.shape == x.shape
    assert np.max(np.abs(y - ref)) < 1e-4 * np.max(np.abs(ref))
    assert np.max(np.abs(y[:, 0] - ref[:, 1])) > 1e-2  # the channels were not swapped


def _process(tmp_path, audio, rate, spec, *extra):
    from conftest import run_cli
    import soundfile as sf

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, audio, rate, subtype="FLOAT")
    proc = run_cli("process", str(src), "-o", str(dst), "--chain", spec, *extra)
    return proc, dst


def test_process_keeps_rate_channels_length_and_alignment(tmp_path, rng, placeholder_model):
    import soundfile as sf

    x = (0.1 * rng.standard_normal((22050 + 17, 1))).astype(np.float32)
    proc, dst = _process(tmp_path, x, 44100, f'separator(model="{placeholder_model}", mode="mix"), gain(-6)',
                         "--blocksize", "1000", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    y, rate = sf.read(dst, dtype="float32", always_2d=True)
    assert rate == 44100 and y.shape == x.shape and summary["latency_samples"] > 0
    # mix at 0 dB / 0 dB gives back the input; compensated, it is aligned with it, at -6 dB
    assert np.max(np.abs(y - x * 10 ** (-6 / 20))) < 1e-4


def test_process_zeroes_nan_input_and_keeps_existing_outputs(tmp_path, rng):
    import soundfile as sf

    x = (0.1 * rng.standard_normal((4800, 2))).astype(np.float32)
    x[100, 1] = np.nan
    proc, dst = _process(tmp_path, x, 48000, "gain(0)", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["nonfinite_samples"] == 1
    y, _ = sf.read(dst, dtype="float32", always_2d=True)
    assert np.isfinite(y).all() and y[100, 1] == 0 and y[100, 0] == x[100, 0]
    before = dst.read_bytes()
    proc, _ = _process(tmp_path, x, 48000, "gain(-6)")
    assert proc.returncode != 0 and "exists" in proc.stderr and dst.read_bytes() == before


def test_effect_parameters_are_settable_and_checked():
    reverb = parse_chain("reverb(0.3)", 48000, 2)[0]
    assert reverb.controls["room_size"] == pytest.approx(0.3) and reverb.ranges["room_size"] == (0, 1)
    reverb.set("room_size", 0.9)
    assert reverb.effect.room_size == pytest.approx(0.9)
    for name, value, match in (("room_size", 2, "out of range"), ("size", 1, "no parameter"),
                               ("room_size", "big", "finite number")):
        with pytest.raises(RtsepError, match=match):
            reverb.set(name, value)
    assert reverb.effect.room_size == pytest.approx(0.9)


def test_vst3_bundles_are_listed_and_a_broken_one_is_one_line(tmp_path, monkeypatch):
    """No VST3 plugin is packaged for Debian: a fake bundle checks discovery and the error path."""
    from rtsep.plugins import pedal

    (tmp_path / "Fake.vst3" / "Contents").mkdir(parents=True)
    monkeypatch.setenv("VST3_PATH", str(tmp_path))
    assert {"path": str(tmp_path / "Fake.vst3"), "name": "Fake", "format": "vst3"} in pedal.installed_vst3()
    with pytest.raises(ChainSpecError, match="cannot load as a VST3 plugin") as info:
        parse_chain(f'vst3("{tmp_path / "Fake.vst3"}")', 48000, 2)
    assert "\n" not in str(info.value)
