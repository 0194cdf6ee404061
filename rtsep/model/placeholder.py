"""Builds the *placeholder* model: an untrained, randomly initialised GRU mask network.

It follows the model-file contract of :mod:`rtsep.model.onnx_model` exactly, so it can wire
up and test the engine without torch or a trained model. It does not separate anything
useful; its metadata says ``placeholder = "true"`` and every command that uses it says so.

    python -m rtsep.model.placeholder models/placeholder.onnx
"""

from __future__ import annotations

import sys

import numpy as np


def build_placeholder(path: str, n_fft: int = 1024, hop: int = 96, synthesis_len: int = 192,
                      sample_rate: int = 16000, hidden: int = 32, seed: int = 0, lookahead_frames: int = 0) -> str:
    """Write a placeholder ONNX model to ``path`` (needs the ``onnx`` package)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    f = n_fft // 2 + 1
    h = hidden

    def init(name, arr):
        return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)

    inits = [
        init("eps", [1e-8]),
        init("feat_mean", [-6.0]),
        init("feat_scale", [0.2]),
        init("w_in", rng.standard_normal((f, h)) / np.sqrt(f)),
        init("gru_w", rng.standard_normal((1, 3 * h, h)) / np.sqrt(h)),
        init("gru_r", rng.standard_normal((1, 3 * h, h)) / np.sqrt(h)),
        init("gru_b", np.zeros((1, 6 * h))),
        init("w_out", rng.standard_normal((h, f)) / np.sqrt(h)),
        init("b_out", np.zeros(f)),
        numpy_helper.from_array(np.array([3], dtype=np.int64), "axis_ri"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_1"),
    ]
    nodes = [
        helper.make_node("Mul", ["spec", "spec"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "axis_ri"], ["power"], keepdims=0),  # (B, T, F)
        helper.make_node("Add", ["power", "eps"], ["power_eps"]),
        helper.make_node("Log", ["power_eps"], ["logp"]),
        helper.make_node("Sub", ["logp", "feat_mean"], ["logp_c"]),
        helper.make_node("Mul", ["logp_c", "feat_scale"], ["feat"]),
        helper.make_node("Transpose", ["feat"], ["feat_tb"], perm=[1, 0, 2]),  # (T, B, F)
        helper.make_node("MatMul", ["feat_tb", "w_in"], ["x_tb"]),
        helper.make_node("GRU", ["x_tb", "gru_w", "gru_r", "gru_b", "", "state_0"], ["y", "state_0_out"],
                         hidden_size=h),
        helper.make_node("Squeeze", ["y", "axis_1"], ["y_tb"]),  # (T, B, H)
        helper.make_node("MatMul", ["y_tb", "w_out"], ["z_tb"]),
        helper.make_node("Add", ["z_tb", "b_out"], ["z_b"]),
        helper.make_node("Sigmoid", ["z_b"], ["m_tb"]),
        helper.make_node("Transpose", ["m_tb"], ["mask"], perm=[1, 0, 2]),  # (B, T, F)
        helper.make_node("ReduceMean", ["mask"], ["vad"], axes=[2], keepdims=0),  # (B, T)
    ]
    graph = helper.make_graph(
        nodes, "rtsep_placeholder",
        inputs=[helper.make_tensor_value_info("spec", TensorProto.FLOAT, ["batch", "time", f, 2]),
                helper.make_tensor_value_info("state_0", TensorProto.FLOAT, [1, "batch", h])],
        outputs=[helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "time", f]),
                 helper.make_tensor_value_info("vad", TensorProto.FLOAT, ["batch", "time"]),
                 helper.make_tensor_value_info("state_0_out", TensorProto.FLOAT, [1, "batch", h])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="rtsep")
    model.ir_version = 8
    meta = {
        "rtsep.format": "1", "name": "placeholder",
        "description": "UNTRAINED placeholder GRU (random weights): wires up the engine, does not separate",
        "sample_rate": str(sample_rate), "n_fft": str(n_fft), "hop": str(hop),
        "synthesis_len": str(synthesis_len), "lookahead_frames": str(lookahead_frames), "vad_threshold": "0.5",
        "placeholder": "true", "license": "MIT", "params": str(sum(np.prod(i.dims) for i in inits)),
    }
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


if __name__ == "__main__":
    print(build_placeholder(sys.argv[1] if len(sys.argv) > 1 else "models/placeholder.onnx"))
