"""What the live model costs the audio path: in-process time per block of the live separator.

``Separator(live=True)`` at 48 kHz, stereo, karaoke mode, blocks of ``--block`` frames (one
model frame every 2.25 blocks of 128), fed a synthetic song. Rows, interleaved over
``--rounds`` rounds (the process pinned to one core, one ONNX Runtime thread):

- reference: the mono release-low model that the stereo one replaced (git b035ff9), its whole
  graph in float32 — the live path as it was before issue 16;
- the stereo release-low model, whole graph (the live path at the last stop);
- the stereo model, features in Numba + the network in float32 (``--precision float32``);
- the stereo model, features in Numba + int8 dense layers (the live host's default).

Prints mean, p50, p99, p99.9 and max per block in ms and in % of the block period, and the
ratio of mean and p99 to the reference measured in the same run.

    python benchmarks/live_model_cost.py [--seconds 20] [--rounds 3] [--block 128]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from live import song  # noqa: E402  (benchmarks/live.py's test song)
RATE = 48000
MONO_COMMIT = "b035ff9"  # the last commit whose models/release-low.onnx is the mono model


def mono_model(tmp: str) -> str | None:
    """The mono release-low model from the git history, or None outside a git checkout."""
    out = Path(tmp) / "mono-release-low.onnx"
    try:
        data = subprocess.run(["git", "-C", str(REPO), "show", f"{MONO_COMMIT}:models/release-low.onnx"],
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    out.write_bytes(data)
    return str(out)


def make(path: str, how: str, block: int):
    """A live separator for ``block``-frame blocks; ``how``: "whole" (the whole float graph),
    "float32" or "int8"."""
    from rtsep.model.onnx_model import MaskModel
    from rtsep.plugins.separator import Separator

    kw = dict(sample_rate=RATE, channels=2, mode="karaoke", max_block=block, live=True)
    if how != "whole":
        sep = Separator(path, precision=how, **kw)
        assert sep.describe()["network_precision"] == ("int8 dense layers" if how == "int8" else "float32")
        return sep
    enable = MaskModel.enable_live
    MaskModel.enable_live = lambda self, int8=True, threads=1: None  # the path before this change
    try:
        return Separator(path, **kw)
    finally:
        MaskModel.enable_live = enable


def time_blocks(sep, x, block, warm_s=2.0):
    n = len(x) // block
    warm = min(int(warm_s * RATE / block), n // 4)  # short runs keep three quarters
    ts = np.zeros(n)
    sep.reset()
    for i in range(n):
        b = x[i * block:(i + 1) * block]
        t0 = time.perf_counter()
        sep.process(b)
        ts[i] = time.perf_counter() - t0
    return ts[warm:] * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--block", type=int, default=128)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    stereo = str(REPO / "models" / "release-low.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        mono = mono_model(tmp)
        rows = ([("mono release-low (b035ff9), whole graph, float32", mono, "whole")] if mono else []) + [
            ("stereo release-low, whole graph, float32", stereo, "whole"),
            ("stereo release-low, features in Numba, float32", stereo, "float32"),
            ("stereo release-low, features in Numba, int8 dense layers", stereo, "int8"),
        ]
        seps = [make(path, how, args.block) for _, path, how in rows]
        x = song(args.seconds)
        times = [[] for _ in rows]
        for _ in range(args.rounds):
            for k, sep in enumerate(seps):
                times[k].append(time_blocks(sep, x, args.block))
    period = 1e3 * args.block / RATE
    times = [np.concatenate(t) for t in times]
    ref = times[0]
    print(f"live separator per {args.block}-frame block at {RATE} Hz, stereo ({period:.2f} ms period), one core; "
          f"{args.rounds} interleaved rounds of {args.seconds:g} s; reference: the first row")
    hdr = f"{'path':<58} {'mean':>6} {'p50':>6} {'p99':>6} {'p99.9':>6} {'max':>6}  {'p99 %':>6}  {'mean/ref':>8} {'p99/ref':>7}"
    print(hdr)
    print("-" * len(hdr))
    for (label, _, _), t in zip(rows, times):
        q = np.percentile(t, [50, 99, 99.9])
        print(f"{label:<58} {t.mean():6.3f} {q[0]:6.3f} {q[1]:6.3f} {q[2]:6.3f} {t.max():6.3f}  "
              f"{100 * q[1] / period:5.1f}%  {t.mean() / ref.mean():8.2f} {q[1] / np.percentile(ref, 99):7.2f}")
    print("(ms per block)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
