"""8-bit dense layers for the live host's one-frame network calls.

One frame of the stereo live model is a matrix-vector product per layer: ONNX Runtime spends
its time reading 6.8 MB of float32 weights per frame, not multiplying. ONNX Runtime's dynamic
quantization (``onnxruntime.quantization.quantize_dynamic``) stores the dense layers' weights
as int8 (4x fewer bytes) and quantizes each call's input on the fly: the stereo model's frame
takes about 0.28 ms instead of 0.38 (features outside the graph both times) and the
separation is unchanged to 0.01 dB (benchmarks/results/quality.md, "live path" rows). The
GRU stays float32 (ONNX Runtime has no quantized GRU).

The input's scale is chosen per call from the whole input tensor, so a batch of frames would
quantize differently from the same frames one at a time; this is used only where every call
is one frame (the live host), which keeps the live output independent of the block size.
"""

from __future__ import annotations

import logging
import os
import tempfile


def int8_dense(model_bytes: bytes) -> bytes:
    """The serialised ONNX model ``model_bytes`` with its ``MatMul`` weights in int8
    (dynamic quantization of the inputs); raises whatever ONNX Runtime's quantizer raises."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the quantizer logs an advice to pre-process the model through the root logger
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="rtsep-int8-") as tmp:
            out = os.path.join(tmp, "model.onnx")
            quantize_dynamic(onnx.load_from_string(model_bytes), out, op_types_to_quantize=["MatMul"],
                             weight_type=QuantType.QInt8)
            with open(out, "rb") as f:
                return f.read()
    finally:
        root.setLevel(level)
