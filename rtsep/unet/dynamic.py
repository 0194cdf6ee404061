"""The shipped U-Net with a free time axis, derived at load time (no second model file, no TensorFlow).

``models/unet-2stems.onnx`` was frozen on a ``(1, 512, 1024, 2)`` input: its input and outputs
name T = 512, and four Reshape nodes (around the two U-Nets' last convolution) take one constant
``[1, 1, 512, 1024]``. Setting the time dimension symbolic and that 512 to -1 lets T follow the
input. The encoder's six stride-2 convolutions need T to be a multiple of 64 (32 fails in this
graph). On T = 512 the result equals the fixed file (tests/test_unet_streaming.py).

The surgery takes ~0.2 s and its serialised bytes are cached per process: sessions are built from
them with ``rtsep.model.onnx_model._session`` (bytes accepted) as the fixed file's are.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..errors import ModelError, one_line

TIME_MULTIPLE = 64  # six stride-2 convolutions: T must divide by 2**6
TIME_AXIS = "T"


def make_dynamic(model) -> int:
    """Rewrites an ``onnx.ModelProto`` of the U-Net in place so that T is free; returns how many
    Reshape constants held the fixed T (4 in the shipped file)."""
    from onnx import numpy_helper

    g = model.graph
    fixed_t = None
    for vi in list(g.input) + list(g.output):
        dim = vi.type.tensor_type.shape.dim[1]
        fixed_t = fixed_t or dim.dim_value
        dim.ClearField("dim_value")
        dim.dim_param = TIME_AXIS
    if not fixed_t:
        raise ModelError("U-Net file has no fixed time axis to free")
    reshape_shapes = {n.input[1] for n in g.node if n.op_type == "Reshape"}
    rewritten = 0
    for i, init in enumerate(g.initializer):
        if init.name not in reshape_shapes:
            continue
        shape = numpy_helper.to_array(init).copy()
        hits = np.flatnonzero(shape == fixed_t)
        if len(hits) != 1:
            raise ModelError(f"U-Net Reshape constant {init.name} = {shape.tolist()}: cannot free T")
        shape[hits[0]] = -1
        g.initializer[i].CopyFrom(numpy_helper.from_array(shape, init.name))
        rewritten += sum(1 for n in g.node if n.op_type == "Reshape" and n.input[1] == init.name)
    del g.value_info[:]  # inferred shapes that name T = 512
    return rewritten


@functools.lru_cache(maxsize=4)
def dynamic_bytes(path: str, mtime_ns: int, vocals_only: bool = False) -> bytes:
    """The serialised dynamic-T model of the U-Net file at ``path`` (cached per file version);
    ``vocals_only``: just the vocal U-Net (input ``magnitude``, output ``vocals``; half the work)."""
    import onnx

    model = onnx.load(path)
    if make_dynamic(model) == 0:
        raise ModelError(f"model {path}: no Reshape constant holds T; not the converted Spleeter U-Net")
    if vocals_only:
        from onnx.utils import Extractor

        meta = list(model.metadata_props)
        model = Extractor(model).extract_model(["magnitude"], ["vocals"])
        model.metadata_props.extend(meta)
    for prop in model.metadata_props:
        if prop.key == "T":
            prop.value = "dynamic"
    return model.SerializeToString()


def dynamic_session(path: str | os.PathLike, threads: int = 1, *, optimisation: str = "all",
                    vocals_only: bool = False):
    """An ONNX Runtime session of the U-Net at ``path`` with a free time axis (multiples of 64);
    ``vocals_only``: the vocal U-Net alone (output ``vocals``)."""
    import onnxruntime as ort

    path = str(path)
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        data = dynamic_bytes(path, Path(path).stat().st_mtime_ns, bool(vocals_only))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No spin-waiting in the thread pool: between steps the spinning threads burned 2.5x the
        # network's CPU (75 against 30 ms per W=128 step, 2 threads) at the live worker's real-time
        # priority, starving a non-real-time audio server; a step takes about 15 % longer without.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}[optimisation]
        opts.log_severity_level = 3
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except ModelError:
        raise
    except Exception as exc:  # onnx / onnxruntime raise several types for a bad file
        raise ModelError(f"cannot load model {path} with a free time axis: {one_line(exc)}") from None
