"""Batch throughput of ``rtsep separate``: files per second and x real time with 1 and 2
workers, as local processes (``--workers N``) and on a local Ray cluster (``--ray``: one node,
then two nodes, one CPU each), beside the plain local run (one process, one file after
another) measured in the same run.

Each layout separates a job of N files and one of 2N files (44.1 kHz stereo songs made
here); the steady throughput is N / (t(2N) - t(N)), so start-up (spawning workers,
importing, loading the model) cancels and is shown on its own. Every layout's stems are
checked against the local run's (bit-exact, or the SNR of the difference).

    nice -n 10 python benchmarks/cluster.py [--files 6] [--seconds 20] [--model low|unet]

``--model low`` (default): the fast recurrent model (``--latency low``); ``unet``: the
default file model. Writes nothing but its table (save it under benchmarks/results/).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def make_songs(folder: Path, count: int, seconds: float, seed: int) -> None:
    """``count`` stereo files: a gliding tone (a 'voice') over noise (an 'accompaniment')."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    n = int(RATE * seconds)
    t = np.arange(n) / RATE
    for i in range(count):
        voice = 0.2 * np.sin(2 * np.pi * (180 + 20 * i) * t * (1 + 0.3 * np.sin(2 * np.pi * 0.2 * t)))
        x = voice[:, None] * [0.9, 1.1] + 0.05 * rng.standard_normal((n, 2))
        sf.write(folder / f"song{seed:02d}_{i:03d}.wav", x.astype(np.float32), RATE, subtype="PCM_16")


def run_job(inputs: Path, out: Path, model_args: list[str], backend_args: list[str]) -> dict:
    """One ``rtsep separate`` job (the command a user runs); its --json summary."""
    cmd = [sys.executable, "-m", "rtsep", "separate", str(inputs), "-o", str(out), *model_args, *backend_args,
           "--json", "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["command_s"] = wall  # the whole command: interpreter start, imports, connecting, the job
    return summary


def compare(out: Path, reference: Path) -> tuple[int, int, float]:
    """(stems bit-exact, stems compared, lowest SNR of the difference in dB) against the local run."""
    exact = total = 0
    worst = float("inf")
    for ref_path in sorted(reference.rglob("*.wav")):
        ref = sf.read(ref_path, dtype="float64")[0]
        got = sf.read(out / ref_path.relative_to(reference), dtype="float64")[0]
        total += 1
        noise = float(np.sum((ref - got) ** 2))
        exact += noise == 0
        if noise:
            worst = min(worst, 10 * np.log10(np.sum(ref ** 2) / noise))
    return exact, total, worst


def measure(label: str, work: Path, small: Path, large: Path, reference: Path | None, model_args, backend_args,
            workers: int, audio_small_s: float, n: int) -> dict:
    load_before = os.getloadavg()[0]
    tag = label.replace(" ", "_")
    s1 = run_job(small, work / f"{tag}-small", model_args, backend_args)
    s2 = run_job(large, work / f"{tag}-large", model_args, backend_args)
    load_after = os.getloadavg()[0]
    assert s1["separated"] == n and s2["separated"] == 2 * n, (s1, s2)
    dt = s2["command_s"] - s1["command_s"]
    steady = n / dt if dt > 0 else float("nan")
    row = dict(label=label, workers=workers, t_small=s1["command_s"], t_large=s2["command_s"], files_per_s=steady,
               x_real_time=steady * audio_small_s / n, startup_s=s1["command_s"] - n / steady,
               load=(load_before, load_after), check="(reference)")
    if reference is not None:
        exact, total, worst = compare(work / f"{tag}-small", reference)
        row["check"] = f"{exact}/{total} bit-exact" + (f", worst {worst:.0f} dB" if exact < total else "")
    return row


def local_cluster(nodes: int):
    from rtsep.cluster import LocalRayCluster

    cluster = LocalRayCluster(cpus_per_node=1)
    for i in range(nodes):
        cluster.start_node()
        cluster.wait_for_nodes(i + 1)
    return cluster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=6, help="files in the small job (the large one has twice)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each file")
    ap.add_argument("--model", choices=("low", "unet"), default="low")
    ap.add_argument("--no-ray", action="store_true", help="only the local layouts")
    args = ap.parse_args()
    model_args = ["--latency", "low"] if args.model == "low" else ["--model", "unet"]
    n = args.files
    have_ray = not args.no_ray and importlib.util.find_spec("ray") is not None

    with tempfile.TemporaryDirectory(prefix="rtsep-bench-cluster-") as tmp:
        work = Path(tmp)
        small, large = work / "small", work / "large"
        make_songs(small, n, args.seconds, seed=1)
        make_songs(large, 2 * n, args.seconds, seed=2)
        audio_small_s = n * int(RATE * args.seconds) / RATE
        print(f"# {n} and {2 * n} files of {args.seconds:g} s, {RATE} Hz stereo; model: {' '.join(model_args)}; "
              f"{os.cpu_count()} CPUs ({cpu_name()})", flush=True)

        rows = [measure("local run (reference)", work, small, large, None, model_args, [], 1, audio_small_s, n)]
        reference = work / "local_run_(reference)-small"
        for w in (1, 2):
            rows.append(measure(f"--workers {w}", work, small, large, reference, model_args, ["--workers", str(w)],
                                w, audio_small_s, n))
        if have_ray:
            cluster = local_cluster(1)
            try:
                rows.append(measure("--ray, 1 node x 1 CPU", work, small, large, reference, model_args,
                                    ["--ray", cluster.address], 1, audio_small_s, n))
                cluster.start_node()
                cluster.wait_for_nodes(2)
                rows.append(measure("--ray, 2 nodes x 1 CPU", work, small, large, reference, model_args,
                                    ["--ray", cluster.address], 2, audio_small_s, n))
            finally:
                cluster.stop()

    ref = rows[0]
    one = {}
    print()
    print(f"| layout | workers | job of {n}: s | job of {2 * n}: s | steady files/s | steady x real time | "
          f"start-up s | vs 1 worker | vs local run | stems vs local run | load avg before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        family = r["label"].split(",")[0].split(" ")[0]
        if r["workers"] == 1:
            one[family] = r["files_per_s"]
        vs_one = r["files_per_s"] / one[family] if family in one else float("nan")
        print(f"| {r['label']} | {r['workers']} | {r['t_small']:.1f} | {r['t_large']:.1f} | {r['files_per_s']:.3f} | "
              f"{r['x_real_time']:.1f} | {r['startup_s']:.1f} | {vs_one:.2f}x | "
              f"{r['files_per_s'] / ref['files_per_s']:.2f}x | {r['check']} | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")
    if not have_ray:
        print("\n(Ray not installed or --no-ray: no --ray rows; pip install \"rtsep[cluster]\")")


if __name__ == "__main__":
    main()
