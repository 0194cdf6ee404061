"""Export a :class:`MaskNet` to the rtsep ONNX model-file contract."""

from __future__ import annotations

import io
import json
import warnings

import torch

from ..model.front_end import MONO_FEATURES, STEREO_FEATURES
from .model import MaskNet, StereoMaskNet


OPSET = 17


def export_onnx(net: MaskNet, path: str, *, name: str, description: str, sample_rate: int = 16000,
                n_fft: int = 1024, hop: int = 96, synthesis_len: int = 192, vad_threshold: float = 0.5,
                license: str = "", training: dict | None = None, placeholder: bool = False,
                lookahead_frames: int = 0) -> None:
    import onnx

    net = net.eval()
    stereo = isinstance(net, StereoMaskNet)
    spec = torch.randn(1, 3, net.n_bins, 2)
    state = net.zero_state(1)
    spec_inputs = ["spec", "side"] if stereo else ["spec"]
    mask_outputs = ["mask", "side_mask"] if stereo else ["mask"]
    axes = {n: {0: "batch", 1: "time"} for n in spec_inputs + mask_outputs + ["vad"]}
    axes.update({"state_0": {1: "batch"}, "state_0_out": {1: "batch"}})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (spec, torch.randn_like(spec), state) if stereo else (spec, state), buf, dynamo=False,
            opset_version=OPSET, input_names=spec_inputs + ["state_0"],
            output_names=mask_outputs + ["vad", "state_0_out"], dynamic_axes=axes, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    meta = {
        "rtsep.format": "1", "name": name, "description": description,
        "sample_rate": str(sample_rate), "n_fft": str(n_fft), "hop": str(hop),
        "synthesis_len": str(synthesis_len), "lookahead_frames": str(lookahead_frames),
        "vad_threshold": f"{vad_threshold:.3f}", "placeholder": "true" if placeholder else "false",
        "input_channels": "2" if stereo else "1", "features": STEREO_FEATURES if stereo else MONO_FEATURES,
        "license": license, "params": str(net.n_params()),
        "training": json.dumps(training or {}, sort_keys=True),
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, path)
