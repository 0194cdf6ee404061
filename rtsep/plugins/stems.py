"""The controls every separator shares: ``mode``, ``vocals_db``, ``accompaniment_db``.

A separator's output is ``g_v * vocals + g_a * accompaniment`` (the live host adds
``g_d * dry`` for ``bypass``); the mode sets the two weights:

=========== ====================== ==================================
mode        g_v (vocals)           g_a (accompaniment)
=========== ====================== ==================================
karaoke     0                      1
vocals      1                      0
mix         10^(vocals_db / 20)    10^(accompaniment_db / 20)
bypass      0 (and g_d = 1: the latency-matched dry input; the host's only)
=========== ====================== ==================================

:class:`StemControls` holds and validates the three values (written by the control thread:
a GUI, the CLI, the Python API) and publishes the weights; :class:`StemControlled` gives a
class the three properties; :class:`StemRamp` is the audio thread's side, which mixes a
block of stems at the current weights, ramping every change linearly over
``ramp_samples`` from wherever the gains are when the next block starts: a change is
instant (it starts with the next block), never a click. Nothing here locks: the control
thread writes ``target`` and then bumps ``version``; a block that reads a torn target only
restarts the ramp on the next one.

How a separator uses it (the streaming U-Net, the ahead mixer and centre cancellation do
this)::

    class MySeparator(StemControlled, Plugin):
        def __init__(self, sample_rate, mode="karaoke", vocals_db=0.0, accompaniment_db=0.0,
                     fade_ms=10.0):
            # validates the mode (ValueError); the ramp of later changes, in samples
            self.controls = StemControls(mode, vocals_db, accompaniment_db,
                                         ramp_samples=int(fade_ms * 1e-3 * sample_rate))
            self._ramp = self.controls.ramp()       # outside the callback: loads the kernel
            self._out = np.zeros((max_block, channels), np.float32)

        def _process(self, block):                  # audio thread, per block
            v, a = ...                              # (n, channels) float32 stems of this block
            return self._ramp.mix(v, a, self._out[:len(block)])  # allocation-free

        def reset(self):
            self._ramp.reset()                      # jump to the current weights, no ramp

    sep.mode = "mix"; sep.vocals_db = -6.0          # control thread: ramped from the next block

A separator whose engine applies the weights itself (the recurrent separator and REPET-SIM
give them to their STFT's read kernel) subscribes instead:
``controls.subscribe(lambda c: stft.set_stem_gains(*c.weights, c.ramp_samples))`` is called on
every change, on the control thread; read ``controls.weights`` for the initial gains.

Importable without Numba (the GUI reads ``MODES``); :meth:`StemControls.ramp` loads the kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MODES = ("karaoke", "vocals", "mix")
HOST_MODES = MODES + ("bypass",)
# Vocal activity from stems: this many times the vocals' share of the energy, capped at 1 (10 % of
# the energy is singing). The recurrent separator, the stem mixer and the streaming U-Net share it.
VOCAL_SHARE_SCALE = 5.0


def stem_weights(mode: str, vocals_db: float, accompaniment_db: float) -> tuple[float, float, float]:
    """``(g_vocals, g_accompaniment, g_dry)`` of a mode (linear; see the module doc)."""
    if mode == "karaoke":
        return 0.0, 1.0, 0.0
    if mode == "vocals":
        return 1.0, 0.0, 0.0
    if mode == "mix":
        return 10 ** (vocals_db / 20), 10 ** (accompaniment_db / 20), 0.0
    if mode == "bypass":
        return 0.0, 0.0, 1.0
    raise ValueError(f"mode must be one of {HOST_MODES}, got {mode!r}")


def _stored_control(name: str) -> property:
    """A :class:`StemControls` value: read from ``_<name>``, written through ``set(name=...)``."""
    return property(lambda self: getattr(self, "_" + name), lambda self, value: self.set(**{name: value}))


def _delegated_control(name: str) -> property:
    """A control of ``self.controls``, read and written there."""
    return property(lambda self: getattr(self.controls, name),
                    lambda self, value: setattr(self.controls, name, value))


class StemControls:
    """``mode`` / ``vocals_db`` / ``accompaniment_db``, validated, and the weights they give.

    Args:
        mode, vocals_db, accompaniment_db: the initial values (a bad mode: ``ValueError``).
        modes: the modes accepted (``MODES``; the live host also ``"bypass"``: ``HOST_MODES``).
        ramp_samples: how long a change takes (0: at the next block's first sample).

    Attributes:
        target: ``(3,)`` float64 ``(g_v, g_a, g_d)`` of the current values, updated in place
            (the audio thread reads it, after ``version``).
        version: bumped after every change.
    """

    def __init__(self, mode: str = "karaoke", vocals_db: float = 0.0, accompaniment_db: float = 0.0, *,
                 modes: tuple[str, ...] = MODES, ramp_samples: int = 0):
        self.modes = tuple(modes)
        self.ramp_samples = max(0, int(ramp_samples))
        self._check(mode)
        self._mode = mode
        self._vocals_db = float(vocals_db)
        self._accompaniment_db = float(accompaniment_db)
        self.target = np.array(stem_weights(mode, self._vocals_db, self._accompaniment_db), dtype=np.float64)
        self.version = 0
        self._listeners: list[Callable[[StemControls], None]] = []

    def _check(self, mode: str) -> None:
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {self.modes}, got {mode!r}")

    # each reads its stored value; a write goes through set() (validated, one publish)
    mode = _stored_control("mode")
    vocals_db = _stored_control("vocals_db")
    accompaniment_db = _stored_control("accompaniment_db")

    def set(self, mode: str | None = None, vocals_db: float | None = None,
            accompaniment_db: float | None = None) -> None:
        """Change any of the three at once (one publish, one ramp); ``None`` keeps a value."""
        if mode is not None:
            self._check(mode)
        # convert before assigning anything: a bad value changes nothing
        v = self._vocals_db if vocals_db is None else float(vocals_db)
        a = self._accompaniment_db if accompaniment_db is None else float(accompaniment_db)
        self._mode = self._mode if mode is None else mode
        self._vocals_db, self._accompaniment_db = v, a
        self.target[:] = stem_weights(self._mode, v, a)
        self.version += 1  # publish, after the target
        for listener in self._listeners:
            listener(self)

    @property
    def weights(self) -> tuple[float, float]:
        """``(g_vocals, g_accompaniment)`` of the current values (what the output converges to)."""
        return float(self.target[0]), float(self.target[1])

    @property
    def dry_weight(self) -> float:
        """``g_dry``: 1 in ``bypass``, else 0."""
        return float(self.target[2])

    def subscribe(self, listener: Callable[[StemControls], None]) -> None:
        """Call ``listener(controls)`` after every change (on the thread that made it)."""
        self._listeners.append(listener)

    def ramp(self) -> StemRamp:
        """The audio thread's mixer of these controls (build it outside the callback)."""
        return StemRamp(self)

    def describe(self) -> dict:
        return {"mode": self._mode, "vocals_db": self._vocals_db, "accompaniment_db": self._accompaniment_db}


class StemControlled:
    """Mixin: ``mode`` / ``vocals_db`` / ``accompaniment_db`` of ``self.controls``."""

    controls: StemControls

    mode = _delegated_control("mode")
    vocals_db = _delegated_control("vocals_db")
    accompaniment_db = _delegated_control("accompaniment_db")


class StemRamp:
    """Audio-thread side of :class:`StemControls`: mixes stems at the ramped weights.

    A change seen at the start of a block (a new ``version``) starts a linear ramp from the
    gains reached so far to the new target, ``controls.ramp_samples`` long (the first sample
    of the block already moves one step); with ``ramp_samples`` 0 the block plays the new
    weights from its first sample. Allocation-free; one per consumer.
    """

    def __init__(self, controls: StemControls):
        from ..dsp import stemmix

        self._mix, self._retarget = stemmix.mix_stems, stemmix.retarget
        self.controls = controls
        self._from = controls.target.copy()
        self._to = controls.target.copy()
        self._st = np.ones(1, dtype=np.float64)  # ramp position: 1 = at the target
        self._step = 1.0 / max(1, controls.ramp_samples)
        self.applied = controls.version  # the version the ramp heads to

    def adopt(self) -> bool:
        """Start ramping to a change made since the last block; ``True`` if there was one."""
        version = self.controls.version
        if version == self.applied:
            return False
        self._step = 1.0 / max(1, self.controls.ramp_samples)
        self._retarget(self._from, self._to, self.controls.target, self._st)
        self.applied = version
        return True

    def mix(self, vocals: np.ndarray, accompaniment: np.ndarray, out: np.ndarray,
            dry: np.ndarray | None = None) -> np.ndarray:
        """``out = g_v * vocals + g_a * accompaniment (+ g_d * dry)``, all ``(frames, channels)``
        with ``len(out)`` frames; returns ``out``."""
        self.adopt()
        self._mix(vocals, accompaniment, accompaniment if dry is None else dry, out.shape[0], self._from,
                  self._to, self._st, self._step, out)
        return out

    @property
    def gains(self) -> tuple[float, float, float]:
        """``(g_v, g_a, g_d)`` reached so far."""
        w = float(self._st[0])
        return tuple(float(f + w * (t - f)) for f, t in zip(self._from, self._to))

    def reset(self) -> None:
        """Jump to the current target (no ramp), as at the start of a stream."""
        self.applied = self.controls.version
        self._from[:] = self.controls.target
        self._to[:] = self.controls.target
        self._st[0] = 1.0

    def warm_up(self) -> None:
        """Compile the kernels (outside real time)."""
        z = np.zeros((1, 1), np.float32)
        self._retarget(self._from.copy(), self._to.copy(), self.controls.target, np.ones(1))
        self._mix(z, z, z, 1, self._from, self._to, np.ones(1), self._step, z)
