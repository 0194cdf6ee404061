"""Training throughput: crop-seconds of audio trained per wall-clock second, by process layout.

Runs ``python -m rtsep.train`` for a few steps in each layout and times the steady state
(the difference between a short and a longer run, so start-up, feature statistics and the
validations cancel). The reference is the shipped layout measured in the same run: one process,
one torch thread. The other rows use both cores of the 2-core training machine: one process
with two torch threads, and two data-parallel processes (``--procs 2``) of one thread each.

    python benchmarks/train_speed.py [--config low] [--steps 8 24]

Uses MIR-1K from ../shared/data when present (the real mixer, with its resampling
augmentation), else a small synthetic stand-in of the same layout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYOUTS = [  # (label, extra arguments, processes)
    ("1 process x 1 thread (reference; the shipped commands)", ["--threads", "1"], 1),
    ("1 process x 2 threads", ["--threads", "2"], 1),
    ("2 processes x 1 thread (--procs 2)", ["--threads", "1", "--procs", "2"], 2),
]


def synthetic_data(root: Path) -> Path:
    """A MIR-1K lookalike: 12 clips of 8 s (tones over noise), labels and splits."""
    import soundfile as sf

    m = root / "mir1k"
    (m / "clips").mkdir(parents=True)
    (m / "labels" / "vocal-nonvocal").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sr, names = 16000, []
    for i in range(12):
        n = f"{('abjones', 'amy')[i % 2]}_{i // 2 + 1}_01"
        names.append(n)
        t = np.arange(8 * sr) / sr
        sf.write(m / "clips" / f"{n}.vocals.opus", 0.2 * np.sin(2 * np.pi * (220 + 30 * i) * t), sr,
                 format="OGG", subtype="OPUS")
        sf.write(m / "clips" / f"{n}.accompaniment.opus", 0.1 * rng.standard_normal(len(t)), sr,
                 format="OGG", subtype="OPUS")
        (m / "labels" / "vocal-nonvocal" / f"{n}.vocal").write_text("1\n" * 399)
    (m / "splits.json").write_text(json.dumps({"train": names, "test": []}))
    return root


def run_steps(steps: int, config: str, extra: list[str], data: Path | None, work: Path) -> float:
    """Wall seconds of a fresh training run of ``steps`` steps."""
    cmd = [sys.executable, "-m", "rtsep.train", "--config", config, "--out", str(work / "m.onnx"),
           "--workdir", str(work), "--steps", str(steps), "--minutes", "600", "--val-every", "600", *extra]
    if data is not None:  # synthetic stand-in, decoded into its own cache
        cmd += ["--data", str(data), "--cache", str(data / "cache")]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="low")
    ap.add_argument("--batch", type=int, default=16, help="crops per process and step")
    ap.add_argument("--seconds", type=float, default=3.0, help="crop length")
    ap.add_argument("--steps", type=int, nargs=2, default=(8, 24), metavar=("SHORT", "LONG"))
    args = ap.parse_args()
    from rtsep.train.data import default_data_dir

    with tempfile.TemporaryDirectory(prefix="rtsep-train-speed-") as tmp:
        tmp = Path(tmp)
        real = (default_data_dir() / "mir1k" / "splits.json").is_file()
        data = None if real else synthetic_data(tmp / "data")
        if data is not None:  # decode once here, outside the timed runs
            from rtsep.train.data import load_mir1k

            load_mir1k(data, data / "cache", workers=1, progress=False)
        common = ["--batch", str(args.batch), "--seconds", str(args.seconds)]
        rows = []
        for label, extra, procs in LAYOUTS:
            times = [run_steps(s, args.config, common + extra, data, tmp / f"w{len(rows)}-{s}")
                     for s in args.steps]
            per_step = (times[1] - times[0]) / (args.steps[1] - args.steps[0])
            if per_step <= 0:
                raise SystemExit(f"error: {label}: the longer run was not slower; time more steps (--steps)")
            audio_per_s = procs * args.batch * args.seconds / per_step
            rows.append((label, per_step, audio_per_s))
        ref = rows[0][2]
        print(f"\nTraining throughput, config {args.config}, {args.batch} x {args.seconds:g} s crops per process "
              f"and step, {os.cpu_count()} CPUs, {'MIR-1K' if real else 'synthetic data'}; steady state from "
              f"runs of {args.steps[0]} and {args.steps[1]} steps\n")
        print("| layout | s per step | crop-seconds trained per second | vs reference |")
        print("|---|---|---|---|")
        for label, per_step, aps in rows:
            print(f"| {label} | {per_step:.2f} | {aps:.1f} | {aps / ref:.2f}x |")


if __name__ == "__main__":
    main()
