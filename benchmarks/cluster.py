"""Batch throughput of ``rtsep separate``: files per second and x real time with 1 and 2
workers, as local processes (``--workers N``) and on a local Ray cluster of two one-CPU nodes
(``--ray``, one task at a time, then both nodes), beside the plain local run (one process,
one file after another) measured in the same run.

Every layout separates the same job (44.1 kHz stereo songs made here) through the command
a user runs; the layouts take turns for a few rounds, so that load from other programs falls
on all of them alike, and the medians are reported. Every layout's stems are checked
against the local run's (bit-exact, or the SNR of the difference).

    nice -n 10 python benchmarks/cluster.py [--files 8] [--seconds 20] [--rounds 2] [--model low|unet]

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


LAYOUTS = [  # (label, family, workers, backend arguments; {ray} is the cluster's address)
    ("local run (reference)", "local", 1, []),
    ("--workers 1", "processes", 1, ["--workers", "1"]),
    ("--workers 2", "processes", 2, ["--workers", "2"]),
    ("--ray, 1 task at a time", "ray", 1, ["--ray", "{ray}", "--workers", "1"]),
    ("--ray, 2 nodes x 1 CPU", "ray", 2, ["--ray", "{ray}"]),
]


def local_cluster():
    """Two one-CPU nodes on this machine (a head and a worker)."""
    from rtsep.cluster import LocalRayCluster

    cluster = LocalRayCluster(cpus_per_node=1)
    for i in range(2):
        cluster.start_node()
        cluster.wait_for_nodes(i + 1)
    return cluster


def median(values):
    return float(np.median(values))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=8, help="files in the job")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each file")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over all layouts, interleaved; medians reported")
    ap.add_argument("--model", choices=("low", "unet"), default="low")
    ap.add_argument("--no-ray", action="store_true", help="only the local layouts")
    args = ap.parse_args()
    model_args = ["--latency", "low"] if args.model == "low" else ["--model", "unet"]
    have_ray = not args.no_ray and importlib.util.find_spec("ray") is not None
    layouts = [lay for lay in LAYOUTS if have_ray or lay[1] != "ray"]

    with tempfile.TemporaryDirectory(prefix="rtsep-bench-cluster-") as tmp:
        work = Path(tmp)
        make_songs(work / "songs", args.files, args.seconds, seed=1)
        audio_s = args.files * int(RATE * args.seconds) / RATE
        print(f"# a job of {args.files} files of {args.seconds:g} s ({RATE} Hz stereo), model {' '.join(model_args)}; "
              f"{args.rounds} interleaved rounds, medians; {os.cpu_count()} CPUs ({cpu_name()})", flush=True)
        cluster = local_cluster() if have_ray else None
        results = {lay[0]: {"command": [], "job": [], "load": []} for lay in layouts}
        checks = {}
        try:
            for r in range(args.rounds):
                for i, (label, family, _, backend_args) in enumerate(layouts):
                    out = work / f"out-{r}-{i}"
                    load = os.getloadavg()[0]
                    backend_args = [a.format(ray=cluster.address) if cluster else a for a in backend_args]
                    s = run_job(work / "songs", out, model_args, backend_args)
                    assert s["separated"] == args.files, s
                    res = results[label]
                    res["command"].append(s["command_s"])
                    res["job"].append(s["wall_s"])
                    res["load"] += [load, os.getloadavg()[0]]
                    if family == "local":
                        reference = out
                    elif label not in checks:
                        exact, total, worst = compare(out, reference)
                        checks[label] = f"{exact}/{total} bit-exact" + (f", worst {worst:.0f} dB" if exact < total
                                                                         else "")
                    print(f"round {r + 1}: {label}: {s['command_s']:.1f} s (load {load:.1f})", flush=True)
        finally:
            if cluster:
                cluster.stop()

    print()
    print("files/s and x real time count the whole command (start-up, importing, loading the model, "
          "connecting); 'job s' is the summary's wall_s (after start-up, until the last file).")
    print()
    print("| layout | workers | command s | job s | files/s | x real time | vs 1 worker | vs local run | "
          "stems vs local run | load avg (min-max) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rate = {label: args.files / median(results[label]["command"]) for label in results}
    one = {family: rate[label] for label, family, w, _ in layouts if w == 1}
    for label, family, workers, _ in layouts:
        res = results[label]
        print(f"| {label} | {workers} | {median(res['command']):.1f} | {median(res['job']):.1f} | {rate[label]:.3f} | "
              f"{rate[label] * audio_s / args.files:.1f} | {rate[label] / one[family]:.2f}x | "
              f"{rate[label] / rate[layouts[0][0]]:.2f}x | {checks.get(label, '(reference)')} | "
              f"{min(res['load']):.1f}-{max(res['load']):.1f} |")
    if not have_ray:
        print("\n(Ray not installed or --no-ray: no --ray rows; pip install \"rtsep[cluster]\")")


if __name__ == "__main__":
    main()
