"""The mask network without its feature front end: the part ONNX Runtime runs.

An rtsep model file computes its input features inside the graph (rtsep.train.model), so one
file serves every caller. In file mode, where the network sees ~170 frames a second of a whole
song, those element-wise passes over ``(time, bins, 2)`` tensors cost ONNX Runtime more than the
recurrent layers; :mod:`rtsep.dsp.features` computes the same features in one fused pass. In the
live host, one frame per call, they are a tenth of the call (about 30 of the stereo model's 69
nodes; rtsep.model.live_core runs the rest). This module cuts the graph at the encoder's input: :func:`cut_core` returns the rest as a model of
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
    """The graph after the features: whole (the live host's one-frame calls) and in two parts,
    the encoder (a dense layer, no state) and the rest, so that in file mode a second thread
    can run the encoder of the next block.

    Attributes:
        encoder_bytes: serialised ONNX model: ``features`` ``(1, time, n_features)`` float32 ->
            ``encoded`` ``(1, time, n_encoded)``.
        model_bytes: serialised ONNX model: ``encoded`` and the model's ``state_K`` in, the
            whole model's outputs out.
        mean, std: ``(bins,)`` float32 feature normalisation of the log power.
        n_features: ``bins`` (mono) or ``3 * bins`` (mid/side).
        n_encoded: width of the encoder's output.
        network_bytes: serialised ONNX model: ``features`` and ``state_K`` in, the whole
            model's outputs out (encoder and rest in one graph).
        features_input: the name of that graph's features input.
    """

    encoder_bytes: bytes
    model_bytes: bytes
    mean: np.ndarray
    std: np.ndarray
    n_features: int
    n_encoded: int
    network_bytes: bytes = b""
    features_input: str = "features"


def _subgraph(onnx, model, inputs: dict, outputs: list, name: str) -> bytes | None:
    """The nodes of ``model`` that compute ``outputs`` from the tensors ``inputs`` (name ->
    shape, float32) and the graph's other inputs; ``None`` if they need the spectrum."""
    oh = onnx.helper
    g = model.graph
    need, keep = set(outputs), []
    for node in reversed(g.node):  # walk back from the outputs, stopping at the new inputs
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(i for i in node.input if i and i not in inputs)
    keep.reverse()
    if "spec" in need or "side" in need:
        return None
    ins = [oh.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shape) for n, shape in inputs.items()]
    ins += [i for i in g.input if i.name in need]
    outs = [o for o in g.output if o.name in outputs]
    outs += [oh.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs
             if n not in {o.name for o in g.output}]
    graph = oh.make_graph(keep, name, ins, outs, [i for i in g.initializer if i.name in need])
    return oh.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version).SerializeToString()


def cut_core(path: str, n_bins: int, stereo: bool, features: str) -> NetworkCore | None:
    """Cut the model at ``path`` after its features and after its encoder; ``None`` if its
    front end is not a known one (by metadata and graph shape) or the ``onnx`` package is
    missing."""
    # (mono models exported before the metadata had the field have the mono front end)
    if features not in ((STEREO_FEATURES,) if stereo else (MONO_FEATURES, "")):
        return None
    try:
        import onnx
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
    # the encoder: the first MatMul, reading the features with an (n_features, enc) weight,
    # then its bias and ReLU (MaskNet's Linear + relu)
    enc = next((n for n in g.node if n.op_type == "MatMul"), None)
    if (mean.shape != (n_bins,) or std.shape != (n_bins,) or enc is None or enc.input[1] not in inits
            or len(inits[enc.input[1]].dims) != 2 or inits[enc.input[1]].dims[0] != n_features):
        return None
    n_encoded = int(inits[enc.input[1]].dims[1])
    readers = {}
    for node in g.node:
        for i in node.input:
            readers.setdefault(i, []).append(node)
    add = readers.get(enc.output[0], [None])[0]
    relu = readers.get(add.output[0], [None])[0] if add is not None and add.op_type == "Add" else None
    if relu is None or relu.op_type != "Relu" or len(readers[enc.output[0]]) != 1:
        return None
    features_in, encoded = enc.input[0], relu.output[0]
    outputs = [o.name for o in g.output]
    encoder = _subgraph(onnx, model, {features_in: ["batch", "time", n_features]}, [encoded], "encoder")
    rest = _subgraph(onnx, model, {encoded: ["batch", "time", n_encoded]}, outputs, "core")
    network = _subgraph(onnx, model, {features_in: ["batch", "time", n_features]}, outputs, "network")
    if encoder is None or rest is None or network is None:
        return None
    return NetworkCore(encoder, rest, mean, std, n_features, n_encoded, network, features_in)
