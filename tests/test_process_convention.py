"""numpy's convention for every processor: ``process(block)`` returns a new array,
``process(block, out=buf)`` fills ``buf``, returns it and allocates nothing.

Each processor type streams a signal in blocks of odd, changing sizes; the concatenated
``process`` results (no ``.copy()``) must equal one call on the whole signal, so a result
that the next call overwrote would show.
"""

from __future__ import annotations


import numpy as np
import pytest
from allocation import peak_allocated_bytes

SR = 16000
N = 6000          # frames of the test signal; every processor takes it in one block
MAX_BLOCK = 8192


def _separator(path, **kw):
    from rtsep import Separator

    return Separator(path, sample_rate=SR, channels=2, max_block=MAX_BLOCK, **kw)


def _switch(path, tmp_path):
    from rtsep.model.placeholder import build_placeholder
    from rtsep.plugins.switch import OperatingPointSwitch

    quality = build_placeholder(str(tmp_path / "q.onnx"), n_fft=1024, hop=256, synthesis_len=1024,
                                lookahead_frames=3)
    return OperatingPointSwitch(_separator(path, mode="vocals"), _separator(quality, mode="vocals"), point="low")


def _lv2():
    from rtsep.plugins import lv2_lilv

    uri = "http://plugin.org.uk/swh-plugins/amp"  # (gverb's output depends on the block size)
    if not lv2_lilv.available() or lv2_lilv.world().plugin(uri) is None:
        pytest.skip("liblilv / swh-lv2 not installed")
    from rtsep.plugins.lv2 import Lv2Plugin

    return Lv2Plugin(uri, SR, 2, max_block=MAX_BLOCK, gain=-6)


def _pedal():
    pytest.importorskip("pedalboard")
    from rtsep.plugins.pedal import builtin

    return builtin("reverb", SR, 2, MAX_BLOCK, room_size=0.5)


def make(kind: str, path, tmp_path):
    from rtsep.methods import make_plugin
    from rtsep.plugins import Chain, DryWet, Gain

    if kind == "separator":
        return _separator(path, mode="mix", vocals_db=-6.0)
    if kind == "separator-live":
        return _separator(path, mode="vocals", live=True)
    if kind == "switch":
        return _switch(path, tmp_path)
    if kind == "gain":
        return Gain(-3.0, channels=2, max_block=MAX_BLOCK)
    if kind == "drywet":
        return DryWet(_separator(path), 2, SR, wet=0.5, max_block=MAX_BLOCK)
    if kind == "chain":
        return Chain([Gain(2.0, max_block=MAX_BLOCK), _separator(path, mode="karaoke"),
                      Gain(-1.0, max_block=MAX_BLOCK)])
    if kind == "empty-chain":
        return Chain([])
    if kind in ("repet", "center"):
        return make_plugin(kind, SR, 2, mode="mix", vocals_db=-3.0, accompaniment_db=1.0, max_block=MAX_BLOCK)
    if kind == "lv2":
        return _lv2()
    if kind == "pedalboard":
        return _pedal()
    raise AssertionError(kind)


KINDS = ["separator", "separator-live", "switch", "gain", "drywet", "chain", "empty-chain", "repet", "center",
         "lv2", "pedalboard"]
# pedalboard returns a new array from each call of its own: it cannot stream allocation-free
ALLOCATION_FREE = [k for k in KINDS if k != "pedalboard"]


def _signal(rng):
    t = np.arange(N) / SR
    x = 0.1 * rng.standard_normal((N, 2))
    x[:, 0] += 0.3 * np.sin(2 * np.pi * 330 * t)
    return x.astype(np.float32)


def _odd_blocks(rng):
    sizes, total = [], 0
    while total < N:
        b = int(rng.integers(2, 700)) | 1  # odd, >= 3: pedalboard needs at least a frame per channel
        sizes.append(min(b, N - total))
        total += sizes[-1]
    return sizes


@pytest.mark.parametrize("kind", KINDS)
def test_process_returns_new_arrays_that_add_up_to_one_whole_run(kind, placeholder_model, tmp_path, rng):
    x = _signal(rng)
    p = make(kind, placeholder_model, tmp_path)
    p.reset()
    whole = p.process(x)
    p.reset()
    parts, i = [], 0
    for b in _odd_blocks(rng):
        blk = x[i:i + b]
        y = p.process(blk)
        assert y.shape == blk.shape and y.dtype == np.float32
        assert not np.shares_memory(y, blk)
        parts.append(y)  # kept as returned: a view the next call overwrites would show
        i += b
    assert len({id(y) for y in parts}) == len(parts)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=2e-5, rtol=0)
    assert np.std(whole) > 0.01  # the processors all pass something


@pytest.mark.parametrize("kind", ALLOCATION_FREE)
def test_out_fills_the_buffer_and_allocates_nothing(kind, placeholder_model, tmp_path, rng):
    x = _signal(rng)
    block = 257
    ref = make(kind, placeholder_model, tmp_path)
    p = make(kind, placeholder_model, tmp_path)
    buf = np.full((block, 2), np.nan, np.float32)
    for k in range(8):  # warm up; out= gives what the new-array form gives
        blk = x[k * block:(k + 1) * block]
        assert p.process(blk, out=buf) is buf
        np.testing.assert_array_equal(buf, ref.process(blk))
    with pytest.raises(ValueError, match="shape"):
        p.process(x[:block], out=np.zeros((block + 1, 2), np.float32))
    p.reset()
    blk = x[:block]
    for _ in range(10):
        p.process(blk, out=buf)
    peak = peak_allocated_bytes(lambda: p.process(blk, out=buf), 200)
    assert peak < 1024, f"{kind}: {peak} bytes allocated while streaming (one 257x2 block is 2 kB)"


def test_process_stems_follows_the_convention(placeholder_model, rng):
    from rtsep.methods.center import CenterCancel
    from rtsep.methods.repet import RepetSim

    x = _signal(rng)
    for p in (_separator(placeholder_model), RepetSim(SR, 2, max_block=MAX_BLOCK), CenterCancel(SR, 2)):
        first = p.process_stems(x[:300])
        second = p.process_stems(x[300:600])
        assert not any(np.shares_memory(a, b) for a, b in zip(first, second))
        bufs = tuple(np.zeros((300, 2), np.float32) for _ in first)
        got = p.process_stems(x[600:900], out=bufs)
        assert all(g is b for g, b in zip(got, bufs))


def test_a_plugin_written_against_process_still_runs_in_a_chain():
    from rtsep.plugins import Chain, Plugin

    class Double(Plugin):  # the interface before out=: overrides process itself
        def process(self, block):
            return 2 * block

    x = np.ones((5, 2), np.float32)
    np.testing.assert_array_equal(Chain([Double(), Double()]).process(x), 4 * x)


def test_the_allocation_measure_sees_a_new_array_per_block():
    from rtsep.plugins.gain import Gain

    # The no-allocation tests take the least of three measurements; code that allocates a
    # block-sized array on every call must still show it (the form without out=).
    p = Gain(-3.0)
    blk = np.zeros((257, 2), np.float32)
    for _ in range(10):
        p.process(blk)
    assert peak_allocated_bytes(lambda: p.process(blk), 200) >= 257 * 2 * 4
