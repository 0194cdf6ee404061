"""Read a shipped ONNX model back into a torch ``MaskNet`` / ``StereoMaskNet`` state dict (warm starts).

The exporter (``rtsep.train.export``) writes the linear layers as MatMul initializers
(weights transposed) and each GRU layer as an ONNX ``GRU`` node (gates z, r, h;
``linear_before_reset=1``, which is torch's GRU). Torch orders the gates r, z, n.
"""

from __future__ import annotations

import json

import numpy as np
import torch


def _gates_onnx_to_torch(w: np.ndarray, hidden: int) -> np.ndarray:
    z, r, h = (w[i * hidden:(i + 1) * hidden] for i in range(3))
    return np.concatenate([r, z, h])


def mono_state_dict(path: str) -> dict:
    """``MaskNet`` state dict (float32 tensors) from a mono rtsep ONNX model file; from a
    mid/side (2-channel) file, the ``StereoMaskNet`` one (encoder over 3 x bins features,
    mask head of 2 x bins)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = list(model.graph.node)
    sd = {k: init[k] for k in ("feat_mean", "feat_std", "enc.bias", "mask_out.bias", "vad_out.bias")}
    matmuls = [n for n in nodes if n.op_type == "MatMul" and n.input[1] in init]
    by_shape = {init[n.input[1]].shape: init[n.input[1]] for n in matmuls}
    n_bins = sd["feat_mean"].shape[0]
    enc = sd["enc.bias"].shape[0]
    meta = {p.key: p.value for p in model.metadata_props}
    k = 2 if meta.get("input_channels", "1") == "2" else 1  # mid/side: 3 x bins in, 2 x bins out
    sd["enc.weight"] = by_shape[((2 * k - 1) * n_bins, enc)].T
    grus = [n for n in nodes if n.op_type == "GRU"]
    hidden = init[grus[0].input[2]].shape[2]
    sd["mask_out.weight"] = by_shape[(hidden + enc, k * n_bins)].T
    sd["vad_out.weight"] = by_shape[(hidden, 1)].T
    for layer, g in enumerate(grus):
        w, r, b = (init[g.input[i]][0] for i in (1, 2, 3))
        sd[f"gru.weight_ih_l{layer}"] = _gates_onnx_to_torch(w, hidden)
        sd[f"gru.weight_hh_l{layer}"] = _gates_onnx_to_torch(r, hidden)
        sd[f"gru.bias_ih_l{layer}"] = _gates_onnx_to_torch(b[:3 * hidden], hidden)
        sd[f"gru.bias_hh_l{layer}"] = _gates_onnx_to_torch(b[3 * hidden:], hidden)
    return {k: torch.tensor(np.ascontiguousarray(v), dtype=torch.float32) for k, v in sd.items()}


def mono_config(sd: dict) -> dict:
    """``enc``, ``hidden``, ``layers`` of a state dict from :func:`mono_state_dict`."""
    layers = sum(1 for k in sd if k.startswith("gru.weight_ih_l"))
    return dict(enc=sd["enc.bias"].shape[0], hidden=sd["gru.weight_hh_l0"].shape[1], layers=layers)


def init_from_onnx(net, path: str, cfg: dict) -> dict:
    """Load an ONNX model's weights into ``net`` (see :mod:`rtsep.train.warmstart`): a mono
    model into a mono net, or into a stereo net as its mid path; a stereo model into a stereo
    net. Returns what the card records about the parent."""
    from ..model.onnx_model import MaskModel
    from .model import StereoMaskNet

    card = MaskModel(path).card
    if card.input_channels != 1 and not isinstance(net, StereoMaskNet):
        raise SystemExit(f"error: --init-from {path} is a stereo model: train with --stereo")
    sd = mono_state_dict(path)
    got = dict(mono_config(sd), n_fft=card.n_fft, hop=card.hop, synthesis_len=card.synthesis_len,
               lookahead=card.lookahead_frames)
    want = dict(enc=cfg["enc"], hidden=cfg["hidden"], layers=cfg["layers"], n_fft=cfg["n_fft"], hop=cfg["hop"],
                synthesis_len=cfg["synthesis_len"], lookahead=cfg.get("lookahead", 0))
    if got != want:
        raise SystemExit(f"error: --init-from {path} has {got}, the config needs {want}")
    if isinstance(net, StereoMaskNet) and card.input_channels == 1:
        net.init_from_mono(sd)
    else:
        net.load_state_dict(sd)
    return describe_parent(path)


def describe_parent(path: str) -> dict:
    """What a card records about the model a run started from (its own card's training totals)."""
    from ..model.onnx_model import MaskModel

    card = MaskModel(path).card
    try:
        t = json.loads(card.extra.get("training", "{}"))
    except ValueError:
        t = {}
    return dict(path=str(path), name=card.name, steps=t.get("steps"), minutes=t.get("minutes"),
                batch=t.get("batch"), procs=t.get("procs", 1), crop_seconds=t.get("crop_seconds"),
                command=t.get("command"))
