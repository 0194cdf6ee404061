"""Spotify's pedalboard as rtsep plugins: its built-in studio effects and VST3 plugins.

pedalboard processes a ``(channels, frames)`` array and returns a *new* one. Per call it
allocates the output array and an internal copy of the input (about 10 kB per 128-frame
stereo block, measured with tracemalloc), a few small C++ vectors, and takes the effect's
own (uncontended) mutex, in C++ with the GIL released (pedalboard/process.h). rtsep copies
the result into a preallocated ``(max_block, channels)`` output, so what leaves the plugin
is, as for every rtsep plugin, a view of a buffer that lives as long as the plugin; the
allocations and the lock themselves remain pedalboard's. They belong on a worker thread
(the live host's chain worker), not in an audio callback that must never allocate: a
chain that runs in the callback (the microphone's voice chain) should use LV2 plugins and
rtsep's own processors, which allocate nothing per block.

Streaming uses ``reset=False``. Effects that buffer audio internally and return fewer
samples than they get (pedalboard's ``PitchShift``, ``MP3Compressor``, ``Resample``, and
VST3 plugins with latency) would change the stream's length, so they are refused when the
plugin is built, with a one-line :class:`PedalboardError`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from ..errors import RtsepError, one_line
from .base import Plugin

NYQUIST = "nyquist"  # an upper bound of half the sample rate
# Spec name → (pedalboard class, {parameter: (min, max)}). The ranges are rtsep's, checked
# before pedalboard sees a value (pedalboard itself checks only some of them).
BUILTINS: dict[str, tuple[str, dict[str, tuple[float, float | str]]]] = {
    "reverb": ("Reverb", {"room_size": (0, 1), "damping": (0, 1), "wet_level": (0, 1), "dry_level": (0, 1),
                          "width": (0, 1), "freeze_mode": (0, 1)}),
    "compressor": ("Compressor", {"threshold_db": (-100, 0), "ratio": (1, 100), "attack_ms": (0, 1000),
                                  "release_ms": (0, 10000)}),
    "limiter": ("Limiter", {"threshold_db": (-100, 0), "release_ms": (0.1, 10000)}),
    "noise_gate": ("NoiseGate", {"threshold_db": (-120, 0), "ratio": (1, 100), "attack_ms": (0, 1000),
                                 "release_ms": (0, 10000)}),
    "delay": ("Delay", {"delay_seconds": (0, 30), "feedback": (0, 1), "mix": (0, 1)}),
    "chorus": ("Chorus", {"rate_hz": (0, 100), "depth": (0, 1), "centre_delay_ms": (1, 100),
                          "feedback": (-1, 1), "mix": (0, 1)}),
    "phaser": ("Phaser", {"rate_hz": (0, 100), "depth": (0, 1), "centre_frequency_hz": (1, NYQUIST),
                          "feedback": (-1, 1), "mix": (0, 1)}),
    "distortion": ("Distortion", {"drive_db": (0, 100)}),
    "clipping": ("Clipping", {"threshold_db": (-100, 0)}),
    "bitcrush": ("Bitcrush", {"bit_depth": (1, 32)}),
    "highpass": ("HighpassFilter", {"cutoff_frequency_hz": (1, NYQUIST)}),
    "lowpass": ("LowpassFilter", {"cutoff_frequency_hz": (1, NYQUIST)}),
    "peak": ("PeakFilter", {"cutoff_frequency_hz": (1, NYQUIST), "gain_db": (-48, 48), "q": (0.01, 100)}),
    "lowshelf": ("LowShelfFilter", {"cutoff_frequency_hz": (1, NYQUIST), "gain_db": (-48, 48), "q": (0.01, 100)}),
    "highshelf": ("HighShelfFilter", {"cutoff_frequency_hz": (1, NYQUIST), "gain_db": (-48, 48), "q": (0.01, 100)}),
    "invert": ("Invert", {}),
}
ALIASES = {"eq": "peak", "gate": "noise_gate"}
# pedalboard effects that never return as many samples as they get, block by block.
NOT_STREAMABLE = {"pitch_shift": "PitchShift", "mp3": "MP3Compressor", "resample": "Resample",
                  "gsm": "GSMFullRateCompressor"}
VST3_DIRS = ("~/.vst3", "/usr/lib/vst3", "/usr/local/lib/vst3")


class PedalboardError(RtsepError):
    """pedalboard is missing, or one of its effects or a VST3 plugin cannot be used."""


def _pedalboard():
    try:
        import pedalboard
    except ImportError as exc:
        raise PedalboardError(f"built-in effects and VST3 plugins need pedalboard (pip install pedalboard): {exc}") \
            from None
    return pedalboard


def builtin_params(name: str) -> list[tuple[str, float]]:
    """``(parameter, default)`` of a built-in effect, in pedalboard's constructor order
    (read from its signature line)."""
    cls = getattr(_pedalboard(), BUILTINS[name][0])
    sig = (cls.__init__.__doc__ or "").strip().splitlines()[0]
    return [(m.group(1), float(m.group(2))) for m in re.finditer(r"(\w+): float = ([-+0-9.eE]+)", sig)]


def describe_builtins(sample_rate: float = 48000.0) -> list[dict]:
    """Every built-in effect with its parameters, defaults and ranges."""
    out = []
    for name, (cls, ranges) in BUILTINS.items():
        params = []
        for p, default in builtin_params(name):
            lo, hi = ranges.get(p, (None, None))
            params.append({"name": p, "default": default, "min": lo,
                           "max": sample_rate / 2 if hi == NYQUIST else hi})
        out.append({"name": name, "format": "pedalboard", "class": cls, "params": params,
                    **({"aliases": [a for a, t in ALIASES.items() if t == name]}
                       if name in ALIASES.values() else {})})
    return out


def _check_number(where: str, value, lo, hi) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PedalboardError(f"{where}: expects a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise PedalboardError(f"{where}: {value!r} is out of range "
                              f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]")
    return float(value)


class PedalboardPlugin(Plugin):
    """Any ``pedalboard.Plugin`` on a ``(frames, channels)`` float32 stream.

    The wrapped effect is probed once on silence: one that returns fewer samples than it
    gets is refused (see the module docstring). ``ranges`` (parameter → ``(min, max)``,
    either may be ``None``) are the parameters :meth:`set` accepts and :attr:`controls` shows.
    """

    def __init__(self, effect, sample_rate: int, channels: int, max_block: int = 8192, name: str | None = None,
                 ranges: dict[str, tuple[float | None, float | None]] | None = None):
        self.effect = effect
        self.name = name or type(effect).__name__
        self.ranges = dict(ranges or {})
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        self._out = np.zeros((self.max_block, self.channels), np.float32)
        probe = np.zeros((self.channels, min(256, self.max_block)), np.float32)
        try:
            got = effect.process(probe, float(self.sample_rate), reset=False).shape
        except Exception as exc:
            raise PedalboardError(f"{self.name}: fails on a {self.channels}-channel stream: {one_line(exc)}") from None
        if got != probe.shape:
            raise PedalboardError(f"{self.name}: returns {got[-1]} frames for {probe.shape[1]} (it buffers audio "
                                  "internally), so it cannot run in a stream")
        self.reset()

    @property
    def controls(self) -> dict[str, float]:
        """Current parameter values by name."""
        return {k: getattr(self.effect, k) for k in self.ranges}

    def set(self, name: str, value) -> None:
        """Set a parameter, range-checked (pedalboard applies it from the next block)."""
        if name not in self.ranges:
            raise PedalboardError(f"{self.name}: no parameter {name!r} (parameters: {', '.join(self.ranges) or 'none'})")
        lo, hi = self.ranges[name]
        try:
            setattr(self.effect, name, _check_number(f"{self.name}: {name}", value, lo, hi))
        except (TypeError, ValueError) as exc:
            raise PedalboardError(f"{self.name}: {name}: {one_line(exc)}") from None

    def reset(self) -> None:
        """pedalboard's reset, then ``max_block`` frames of silence. pedalboard prepares an
        effect again, clearing its state mid-stream, whenever a block is larger than any
        since the last reset; running the largest block once here means that never happens
        while streaming. (It also tells pedalboard which axis holds the channels, which it
        guesses from the shape and forgets on reset.) Silence leaves a cleared effect
        cleared; only modulation (chorus, phaser) is ``max_block`` samples further on."""
        self.effect.reset()
        self.effect.process(np.zeros((self.channels, max(self.max_block, self.channels + 1)), np.float32),
                            float(self.sample_rate), buffer_size=self.max_block, reset=False)

    def _process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        x = block.T
        if 0 < n < self.channels:
            # pedalboard takes the smaller axis for the channels, so it cannot read a block
            # of fewer frames than channels: it gets one padded with silence (the effect
            # hears channels - n extra zero samples; hosts use blocks of 16 frames or more).
            x = np.zeros((self.channels, self.channels), np.float32)
            x[:, :n] = block.T
        y = self.effect.process(x, float(self.sample_rate), buffer_size=self.max_block, reset=False)
        if y.shape != x.shape:
            raise PedalboardError(f"{self.name}: returned {y.shape[-1]} frames for {x.shape[-1]}")
        out = self._out[:n]
        np.copyto(out, y[:, :n].T)
        return out

    def __repr__(self):
        return f"PedalboardPlugin({self.effect!r})"


def builtin(name: str, sample_rate: int, channels: int, max_block: int = 8192, *args, **params) -> PedalboardPlugin:
    """A built-in effect by its spec name (``reverb``, ``compressor``...); parameters by
    keyword or in pedalboard's order, range-checked."""
    name = ALIASES.get(name, name)
    if name in NOT_STREAMABLE:
        raise PedalboardError(f"{name}: pedalboard's {NOT_STREAMABLE[name]} buffers audio internally and returns "
                              "fewer samples than it gets, so it cannot run in a stream")
    if name not in BUILTINS:
        raise PedalboardError(f"no built-in effect {name!r}")
    cls_name, ranges = BUILTINS[name]
    order = [p for p, _ in builtin_params(name)]
    if len(args) > len(order):
        raise PedalboardError(f"{name}: takes at most {len(order)} positional values, got {len(args)}")
    values = dict(zip(order, args))
    for key, value in params.items():
        if key not in order:
            raise PedalboardError(f"{name}: no parameter {key!r} (parameters: {', '.join(order) or 'none'})")
        if key in values:
            raise PedalboardError(f"{name}: {key!r} given twice")
        values[key] = value
    bounds = {}
    for p in order:
        lo, hi = ranges.get(p, (None, None))
        bounds[p] = (lo, sample_rate / 2 if hi == NYQUIST else hi)
    for key, value in values.items():
        values[key] = _check_number(f"{name}: {key}", value, *bounds[key])
    try:
        effect = getattr(_pedalboard(), cls_name)(**values)
    except (TypeError, ValueError) as exc:
        raise PedalboardError(f"{name}: {one_line(exc)}") from None
    return PedalboardPlugin(effect, sample_rate, channels, max_block, name=name, ranges=bounds)


def vst3(path: str, sample_rate: int, channels: int, max_block: int = 8192, **params) -> PedalboardPlugin:
    """A VST3 plugin (a ``.vst3`` bundle) through pedalboard; parameters by pedalboard's
    Python names (``rtsep plugins`` does not load plugins to list them: see the plugin's
    own documentation, or ``pedalboard.load_plugin(path).parameters``)."""
    p = Path(os.path.expanduser(path))
    if not p.exists():
        raise PedalboardError(f"no VST3 plugin at {path!r}")
    try:
        effect = _pedalboard().VST3Plugin(str(p))
    except Exception as exc:  # pedalboard raises ImportError/RuntimeError for unloadable bundles
        raise PedalboardError(f"{path}: cannot load as a VST3 plugin: {one_line(exc)}") from None
    known = effect.parameters
    for key, value in params.items():
        if key not in known:
            raise PedalboardError(f"{p.name}: no parameter {key!r} (parameters: {', '.join(known) or 'none'})")
        try:
            setattr(effect, key, value)
        except (TypeError, ValueError) as exc:
            raise PedalboardError(f"{p.name}: {key}: {one_line(exc)}") from None
    ranges = {k: (getattr(v, "min_value", None), getattr(v, "max_value", None)) for k, v in known.items()}
    return PedalboardPlugin(effect, sample_rate, channels, max_block, name=p.stem, ranges=ranges)


def installed_vst3(dirs=VST3_DIRS) -> list[dict]:
    """``.vst3`` bundles in the standard folders (``VST3_PATH`` adds folders, ``:``-separated);
    listed by path and name without loading them (loading runs the plugin's code)."""
    extra = [d for d in os.environ.get("VST3_PATH", "").split(os.pathsep) if d]
    found = []
    for d in [*extra, *dirs]:
        root = Path(os.path.expanduser(d))
        if root.is_dir():
            found += [{"path": str(b), "name": b.stem, "format": "vst3"}
                      for b in sorted(root.rglob("*.vst3")) if not any(p.suffix == ".vst3" for p in b.parents)]
    return found
