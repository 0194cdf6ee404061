"""The mask network without its feature front end: the part ONNX Runtime runs in file mode.

An rtsep model file computes its input features inside the graph (rtsep.train.model), so one
file serves every caller. In file mode, where the network sees ~170 frames a second of a whole
song, those element-wise passes over ``(time, bins, 2)`` tensors cost ONNX Runtime more than the
recurrent layers; :mod:`rtsep.dsp.features` computes the same features in one fused pass. This
module cuts the graph at the encoder's input: :func:`cut_core` returns the rest as a model of
its own (features and recurrent state in; masks, activity and state out) with the feature
constants read from the file. Only models whose ``features`` metadata names one of the two known front
ends are cut, and :class:`rtsep.model.onnx_model.MaskModel` checks the cut against the whole
graph before using it; anything else keeps the whole graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MONO_FEATURES = "log mixture power per bin"
STEREO_FEATURES = ("mid-side: log mid power, side share |S|^2/(|M|^2+|S|^2) and level difference "
                   "tanh(log(|L|^2/|R|^2)/4) per bin; masks for mid and side")


@dataclass
class NetworkCore:
    """The graph after the features.

    Attributes:
        model_bytes: the serialised ONNX model; inputs ``input_name`` ``(1, time, n_features)``
            float32 and the model's ``state_K``; outputs as the whole model's.
        mean, std: ``(bins,)`` float32 feature normalisation of the log power.
        n_features: ``bins`` (mono) or ``3 * bins`` (mid/side).
    """

    model_bytes: bytes
    input_name: str
    mean: np.ndarray
    std: np.ndarray
    n_features: int


def cut_core(path: str, n_bins: int, stereo: bool, features: str) -> NetworkCore | None:
    """Cut the model at ``path`` after its features; ``None`` if its front end is not a known
    one (by metadata and graph shape) or the ``onnx`` package is missing."""
    # (mono models exported before the metadata had the field have the mono front end)
    if features not in ((STEREO_FEATURES,) if stereo else (MONO_FEATURES, "")):
        return None
    try:
        import onnx
        import onnx.helper as oh
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(path)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    if "feat_mean" not in inits or "feat_std" not in inits:
        return None
    mean = numpy_helper.to_array(inits["feat_mean"]).astype(np.float32)
    std = numpy_helper.to_array(inits["feat_std"]).astype(np.float32)
    n_features = 3 * n_bins if stereo else n_bins
    # the encoder: the first MatMul, reading the features with an (n_features, enc) weight
    enc = next((n for n in g.node if n.op_type == "MatMul"), None)
    if (mean.shape != (n_bins,) or std.shape != (n_bins,) or enc is None or enc.input[1] not in inits
            or tuple(inits[enc.input[1]].dims)[:1] != (n_features,)):
        return None
    cut = enc.input[0]
    need, keep = {o.name for o in g.output}, []
    for node in reversed(g.node):  # the nodes the outputs need, stopping at the cut
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(i for i in node.input if i and i != cut)
    keep.reverse()
    if "spec" in need or "side" in need:
        return None  # something after the cut still reads the spectrum
    inputs = [oh.make_tensor_value_info(cut, onnx.TensorProto.FLOAT, ["batch", "time", n_features])]
    inputs += [i for i in g.input if i.name in need]
    graph = oh.make_graph(keep, "core", inputs, list(g.output), [i for i in g.initializer if i.name in need])
    core = oh.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    return NetworkCore(core.SerializeToString(), cut, mean, std, n_features)
