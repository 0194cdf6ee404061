"""The converted Spleeter U-Net (``models/unet-2stems.onnx``) in ONNX Runtime, and its masks.

Model-file contract (written by ``models/convert_unet.py``):

Input
    ``magnitude`` float32 ``(1, T, F, 2)``: |STFT| of one stereo segment, T = 512 frames,
    F = 1024 lowest bins of a 4096-point STFT at 44.1 kHz (unnormalised ``rfft`` of Hann-windowed
    frames, as ``tf.signal.stft``).
Outputs
    ``vocals``, ``accompaniment`` float32 ``(1, T, F, 2)``: each U-Net's estimated magnitude
    (its sigmoid mask times the input).
Metadata
    ``rtsep.kind`` = "unet", ``name``, ``description``, ``source``, ``license``, ``sample_rate``,
    ``n_fft``, ``hop``, ``F``, ``T``, ``separation_exponent``, ``epsilon``, ``mask_extension``, ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..model.onnx_model import open_session
from .stft import HOP, N_FFT

REQUIRED_META = ("sample_rate", "n_fft", "hop", "F", "T", "separation_exponent", "epsilon")


@dataclass(frozen=True)
class UNetCard:
    """What the pipeline needs to know about a U-Net file, from its metadata."""

    path: str
    name: str
    description: str
    source: str
    license: str
    sample_rate: int
    n_fft: int
    hop: int
    bins: int             # F: bins the network sees (the rest get mask_extension)
    segment_frames: int   # T: frames per network call
    exponent: float       # separation_exponent of the ratio masks
    epsilon: float
    extra: dict = field(default_factory=dict)
    placeholder: bool = False  # never: a trained model (the commands ask every card)


def is_unet_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an ONNX file whose metadata says ``rtsep.kind = unet``."""
    if not Path(path).is_file():
        return False
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.log_severity_level = 4
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        return sess.get_modelmeta().custom_metadata_map.get("rtsep.kind") == "unet"
    except Exception:  # not an ONNX file: the caller's own loader reports it
        return False


class UNetModel:
    """Runs the two U-Nets on one ``(T, F, 2)`` magnitude segment at a time."""

    def __init__(self, path: str | os.PathLike, threads: int = 2):
        path = str(path)
        self._sess = open_session(path, threads)
        self.card = self._read_card(path)
        names_in = [i.name for i in self._sess.get_inputs()]
        names_out = [o.name for o in self._sess.get_outputs()]
        if names_in != ["magnitude"] or sorted(names_out) != ["accompaniment", "vocals"]:
            raise ModelError(f"model {path}: a U-Net needs input 'magnitude' and outputs 'vocals', 'accompaniment'")
        c = self.card
        if (c.n_fft, c.hop) != (N_FFT, HOP) or not 0 < c.bins <= N_FFT // 2 + 1:
            raise ModelError(f"model {path}: only the 4096/1024 STFT with F <= 2049 is supported")

    def _read_card(self, path: str) -> UNetCard:
        meta = dict(self._sess.get_modelmeta().custom_metadata_map)
        if meta.get("rtsep.kind") != "unet":
            raise ModelError(f"model {path} is not a U-Net file (metadata rtsep.kind != unet)")
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ModelError(f"model {path} lacks metadata {', '.join(missing)}")
        known = set(REQUIRED_META) | {"name", "description", "source", "license", "rtsep.kind"}
        try:
            return UNetCard(path=path, name=meta.get("name", Path(path).stem),
                            description=meta.get("description", ""), source=meta.get("source", ""),
                            license=meta.get("license", ""), sample_rate=int(meta["sample_rate"]),
                            n_fft=int(meta["n_fft"]), hop=int(meta["hop"]), bins=int(meta["F"]),
                            segment_frames=int(meta["T"]), exponent=float(meta["separation_exponent"]),
                            epsilon=float(meta["epsilon"]),
                            extra={k: v for k, v in meta.items() if k not in known})
        except ValueError as exc:
            raise ModelError(f"model {path} has malformed metadata: {exc}") from None

    def run(self, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``magnitude`` ``(T, F, 2)`` float32 → estimated ``vocals``, ``accompaniment`` magnitudes,
        each ``(T, F, 2)``."""
        out = self._sess.run(["vocals", "accompaniment"], {"magnitude": magnitude[None]})
        return out[0][0], out[1][0]


def ratio_masks(vocals: np.ndarray, accompaniment: np.ndarray, exponent: float, epsilon: float,
                first_only: bool = False) -> np.ndarray:
    """Spleeter's masks from the two estimates (any equal shapes): ``(2, ...)`` float32,
    ``mask_i = (est_i**p + eps / 2) / (sum_j est_j**p + eps)``; with ``first_only`` just the
    vocal mask, ``(...)`` (the two sum to one)."""
    if exponent == 2:
        pv, pa = vocals * vocals, accompaniment * accompaniment
    else:
        pv, pa = vocals ** exponent, accompaniment ** exponent
    total = pv + pa + np.float32(epsilon)
    half = np.float32(epsilon / 2)
    if first_only:
        pv += half
        pv /= total
        return pv
    return np.stack([(pv + half) / total, (pa + half) / total])
