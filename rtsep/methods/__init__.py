"""The classic separators beside the network: one entry point for the CLI, live host and benchmark.

* ``"net"``    the causal mask network (built by the separator, not here);
* ``"repet"``  online REPET-SIM (:mod:`.repet`): causal, live-capable, STFT latency only;
* ``"rpca"``   robust PCA (:mod:`.rpca`): whole file only;
* ``"center"`` centre-channel cancellation (:mod:`.center`): stereo, zero latency.

``make_plugin`` builds a live plugin; ``separate_method`` separates a whole file;
``ideal_mask`` gives the oracle upper bounds (:mod:`.ideal`).
"""

from __future__ import annotations

import numpy as np

from ..errors import RtsepError
from ..plugins.base import Plugin
from ..plugins.stems import MODES

METHODS = ("net", "repet", "rpca", "center")
LIVE_METHODS = ("net", "repet", "center")
BENCHMARK_METHODS = ("repet", "rpca", "center")

DESCRIPTIONS = {
    "net": "causal recurrent mask network (the default)",
    "repet": "online REPET-SIM: median of the most similar past frames is the accompaniment",
    "rpca": "robust PCA: low-rank accompaniment + sparse voice (files only)",
    "center": "centre-channel cancellation: (L-R)/2 as accompaniment (stereo only, zero latency)",
}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise RtsepError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def make_plugin(method: str, sample_rate: float, channels: int, mode: str = "karaoke",
                max_block: int = 8192, **options) -> Plugin:
    """A live plugin for ``method`` ("repet" or "center"); ``mode`` "karaoke", "vocals" or
    "mix" (with ``vocals_db`` / ``accompaniment_db`` in ``options``), the separators' shared
    controls (:mod:`rtsep.plugins.stems`).

    Raises :class:`RtsepError` for an unknown method, for a file-only one ("rpca"), and for
    "net" (the network separator is built by the caller from its model file).
    ``options`` go to the plugin's constructor (e.g. ``buffer_s``, ``k`` for REPET-SIM).
    """
    _check_method(method)
    if mode not in MODES:
        raise RtsepError(f"unknown mode {mode!r}; choose {', '.join(MODES)}")
    if method not in LIVE_METHODS:
        raise RtsepError(f"method {method!r} works on files only")
    if method == "repet":
        from .repet import RepetSim

        return RepetSim(sample_rate, channels, mode=mode, max_block=max_block, **options)
    if method == "center":
        from .center import CenterCancel

        return CenterCancel(sample_rate, channels, mode=mode, max_block=max_block, **options)
    raise RtsepError("method 'net' is the network separator: build it from the model file, not make_plugin")


def separate_method(name: str, audio: np.ndarray, sample_rate: float, **options) -> tuple[np.ndarray, np.ndarray]:
    """Separate a whole ``(frames, channels)`` float32 file with a classic method.

    Returns ``(vocals, accompaniment)``, both ``(frames, channels)`` float32, aligned
    sample-for-sample with ``audio`` (the method's latency is compensated).
    ``name`` is "repet", "rpca" or "center"; ``options`` go to the method.
    """
    _check_method(name)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise RtsepError(f"audio must be (frames, channels), got shape {audio.shape}")
    if name == "repet":
        from .repet import separate_repet

        return separate_repet(audio, sample_rate, **options)
    if name == "rpca":
        from .rpca import separate_rpca

        return separate_rpca(audio, sample_rate, **options)
    if name == "center":
        from .center import separate_center

        return separate_center(audio, sample_rate, **options)
    raise RtsepError("method 'net' is the network separator: use the separator, not separate_method")


def ideal_mask(kind: str, mixture: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray,
               sample_rate: float, **options) -> tuple[np.ndarray, np.ndarray]:
    """Oracle ``(vocals_est, accompaniment_est)`` of the ideal "binary" or "ratio" mask.

    Pass the network's STFT setup as ``setup=`` (a ``ModelCard``, or ``(n_fft, hop,
    synthesis_len)``) to get the bound for the same framing; see :mod:`.ideal`.
    """
    from .ideal import ideal_mask as _ideal

    return _ideal(kind, mixture, vocals, accompaniment, sample_rate, **options)


__all__ = ["METHODS", "LIVE_METHODS", "BENCHMARK_METHODS", "MODES", "DESCRIPTIONS", "make_plugin",
           "separate_method", "ideal_mask"]
