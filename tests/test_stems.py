"""The separator controls written once (rtsep.plugins.stems): validation, weights, ramps."""

import numpy as np
import pytest

from rtsep.plugins.stems import HOST_MODES, MODES, StemControlled, StemControls, stem_weights


def test_weights_of_each_mode():
    assert stem_weights("karaoke", 5, 5) == (0.0, 1.0, 0.0)
    assert stem_weights("vocals", 5, 5) == (1.0, 0.0, 0.0)
    assert stem_weights("bypass", 5, 5) == (0.0, 0.0, 1.0)
    gv, ga, gd = stem_weights("mix", -6.0, 20.0)
    assert gv == pytest.approx(0.501187, rel=1e-5) and ga == pytest.approx(10.0) and gd == 0.0


def test_bad_mode_is_refused_and_changes_nothing():
    with pytest.raises(ValueError, match="mode must be one of"):
        StemControls("bypass")  # only the host accepts bypass
    StemControls("bypass", modes=HOST_MODES)
    c = StemControls("vocals")
    with pytest.raises(ValueError):
        c.set(mode="instrumental", vocals_db=-3.0)
    with pytest.raises(ValueError):
        c.vocals_db = "loud"
    assert (c.mode, c.vocals_db, c.version) == ("vocals", 0.0, 0)


def test_listeners_see_every_change_and_the_mixin_forwards():
    class Sep(StemControlled):
        def __init__(self):
            self.controls = StemControls()

    s = Sep()
    seen = []
    s.controls.subscribe(lambda c: seen.append((c.mode, c.weights)))
    s.mode = "mix"
    s.vocals_db = -20.0
    s.accompaniment_db = 0.0
    assert seen[0] == ("mix", (1.0, 1.0))
    assert seen[1][1] == pytest.approx((0.1, 1.0))
    assert (s.mode, s.vocals_db, s.accompaniment_db) == ("mix", -20.0, 0.0) and len(seen) == 3


@pytest.mark.parametrize("ramp", [0, 1, 48])
def test_ramp_is_linear_from_the_next_block_and_complete_after_ramp_samples(ramp):
    rng = np.random.default_rng(0)
    v, a = (rng.standard_normal((64, 2)).astype(np.float32) for _ in range(2))
    c = StemControls("karaoke", ramp_samples=ramp)
    r = c.ramp()
    out = np.zeros((64, 2), np.float32)
    assert r.mix(v, a, out) is out
    np.testing.assert_array_equal(out, a)  # no ramp at the start
    c.mode = "vocals"
    r.mix(v, a, out)
    w = np.minimum(1.0, np.arange(1, 65) / max(1, ramp))[:, None]  # the first sample moves one step
    np.testing.assert_allclose(out, (1 - w) * a + w * v, atol=1e-6)
    r.mix(v, a, out)
    np.testing.assert_array_equal(out, v)
    assert r.gains == (1.0, 0.0, 0.0)


def test_a_change_mid_ramp_starts_from_where_the_gains_are():
    c = StemControls("karaoke", ramp_samples=100)
    r = c.ramp()
    one = np.ones((50, 1), np.float32)
    out = np.zeros((50, 1), np.float32)
    c.mode = "vocals"
    r.mix(one, 0 * one, out)  # halfway: g_v = 0.5
    c.mode = "karaoke"
    r.mix(one, 0 * one, out)
    np.testing.assert_allclose(out[:, 0], 0.5 * (1 - np.arange(1, 51) / 100), atol=1e-6)
    r.reset()
    assert r.gains == (0.0, 1.0, 0.0)


def test_modes_constants_are_shared():
    from rtsep.plugins import modes

    assert modes.MODES is MODES and modes.HOST_MODES is HOST_MODES


def test_every_separator_takes_the_same_controls(placeholder_model):
    """The recurrent separator, the switch (both of its separators), the classic methods and
    the live host's chain engine: one set of controls, one validation."""
    from rtsep import Separator
    from rtsep.host.chain_engine import ChainEngine, build_processor
    from rtsep.host.stats import StreamStats
    from rtsep.methods import make_plugin
    from rtsep.plugins.switch import OperatingPointSwitch

    low, quality = (Separator(placeholder_model, sample_rate=16000, channels=2) for _ in range(2))
    sw = OperatingPointSwitch(low, quality)
    seps = [low, sw, make_plugin("repet", 16000, 2), make_plugin("center", 16000, 2)]
    for s in seps:
        assert isinstance(s, StemControlled) and isinstance(s.controls, StemControls)
        s.mode = "mix"
        s.vocals_db = -6.0
        assert (s.mode, s.vocals_db, s.accompaniment_db) == ("mix", -6.0, 0.0)
        with pytest.raises(ValueError, match="mode must be one of"):
            s.mode = "bypass"
    assert (quality.mode, quality.vocals_db) == ("mix", -6.0)  # the switch drives both

    plugin, sep = build_processor(16000, 2, 256, mode="mix", vocals_db=-3.0, accompaniment_db=2.0, model=None,
                                  operating_point="low", method="center", switchable=False)
    assert sep is None and (plugin.mode, plugin.vocals_db, plugin.accompaniment_db) == ("mix", -3.0, 2.0)
    eng = ChainEngine(plugin, None, 16000, 256, 2, StreamStats(16000, 256), worker=False)
    eng.configure("bypass", -4.0, 1.0)  # the dry wrapper's; the method keeps its mode
    assert eng.drywet.wet == 0.0 and (plugin.mode, plugin.vocals_db) == ("mix", -4.0)
    eng.configure("vocals", -4.0, 1.0)
    assert eng.drywet.wet == 1.0 and plugin.mode == "vocals"
