"""Whole-process speed of ``rtsep separate --latency low|quality`` on a 10-minute 44.1 kHz
stereo song, beside the previous implementation run in the same session.

The previous implementation is this repository at ``--baseline`` (default: the commit before
the two-thread file mode), unpacked with ``git archive`` into a temporary folder and run
with the same Python; its Numba cache is warmed on a one-second file first, as is the
current one's. Each command runs ``--repeat`` times, interleaved; the best wall time counts.
The stems of both are compared (they must agree within float rounding).

Also printed: the engine alone (in-process ``Separator``, one thread vs two), and how many
cores the machine gave us during the run (two busy processes vs one), since two threads
cannot beat one on a machine whose other core is taken.

    python benchmarks/filemode_speed.py [--minutes 10] [--repeat 2] [--baseline COMMIT]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT.parent / "shared" / "data" / "songs" / "ultimate-nz-tour" / "mixture.flac"
BASELINE = "de5e3a8"  # before the two-thread pipeline, batched FFTs and any-size blocks
RATE = 44100


def make_song(path: Path, seconds: float) -> str:
    """A ``seconds``-long 44.1 kHz stereo 16-bit WAV: the project's demo song repeated, or
    (without the research data) a synthetic song of tones over noise."""
    n = int(seconds * RATE)
    if SONG.is_file():
        x, sr = sf.read(SONG, dtype="float32", always_2d=True)
        assert sr == RATE
        what = f"{SONG.parent.name} repeated"
    else:
        rng = np.random.default_rng(0)
        t = np.arange(RATE * 20) / RATE
        voice = 0.2 * np.sin(2 * np.pi * (220 + 30 * np.sin(2 * np.pi * 0.5 * t)) * t)
        x = np.stack([voice + 0.05 * rng.standard_normal(len(t)), voice + 0.05 * rng.standard_normal(len(t))], 1)
        what = "synthetic tones over noise"
    x = np.resize(x.T, (2, n)).T  # repeat to n frames
    sf.write(path, x, RATE, subtype="PCM_16")
    return what


def unpack_baseline(commit: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "rtsep", "models"], check=True,
                             capture_output=True).stdout
    dest.mkdir()
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_separate(root: Path, song: Path, out: Path, latency: str) -> tuple[float, float]:
    """Wall and CPU seconds (all threads, user + system) of one ``rtsep separate`` process."""
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "rtsep", "separate", str(song), "-o", str(out), "--latency", latency,
           "--force", "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _burn(seconds: float) -> int:
    end, k = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        k += sum(range(1000))
    return k


def cores_available(seconds: float = 1.0) -> float:
    """Work two busy processes get done in ``seconds`` over what one gets (2.0: two free cores)."""
    with mp.Pool(2) as pool:
        one = pool.apply_async(_burn, (seconds,)).get()
        two = sum(pool.map(_burn, [seconds, seconds]))
    return two / one


def engine_rows(song: Path, latency: str, seconds: float = 120.0) -> list[tuple[str, float, float]]:
    """In-process Separator over ``seconds`` of the song, one thread vs two: (label, x RT wall, x RT CPU)."""
    sys.path.insert(0, str(ROOT))
    from rtsep import Separator

    x, _ = sf.read(song, dtype="float32", frames=int(seconds * RATE), always_2d=True)
    seconds = len(x) / RATE
    rows = []
    for workers in (1, 2):
        sep = Separator(None, sample_rate=RATE, channels=2, mode="vocals", max_block=16384, latency=latency,
                        workers=workers)
        sep.process_stems(x[:131072])
        best = (np.inf, np.inf)
        for _ in range(2):
            sep.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(x), 131072):
                sep.process_stems(x[i:i + 131072])
            best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
        rows.append((f"Separator(workers={workers})", seconds / best[0], seconds / best[1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", default=BASELINE, help="commit of the previous implementation")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rtsep-speed-") as tmp:
        tmp = Path(tmp)
        song, short = tmp / "song.wav", tmp / "warm.wav"
        what = make_song(song, 60 * args.minutes)
        make_song(short, 1.0)
        base = unpack_baseline(args.baseline, tmp / "baseline")
        impls = [("previous (" + args.baseline + ")", base), ("current", ROOT)]
        print(f"# {args.minutes:g}-minute 44.1 kHz stereo song ({what}), whole `rtsep separate` process, "
              f"best of {args.repeat}")
        print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
              f"cores available: {cores_available():.2f} of {os.cpu_count()}\n")
        for _, root in impls:  # Numba caches and imports warm
            for latency in ("low", "quality"):
                run_separate(root, short, tmp / "warm", latency)

        print("| --latency | implementation | wall s | x real time | CPU s | x real time per CPU second "
              "| speed-up (wall) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        duration = 60 * args.minutes
        for latency in ("low", "quality"):
            best = {label: (np.inf, np.inf) for label, _ in impls}
            for _ in range(args.repeat):
                for label, root in impls:
                    best[label] = min(best[label], run_separate(root, song, tmp / label.split()[0], latency))
            ref_wall = best[impls[0][0]][0]
            for label, _ in impls:
                wall, cpu = best[label]
                print(f"| {latency} | {label} | {wall:.2f} | {duration / wall:.1f}x | {cpu:.2f} | "
                      f"{duration / cpu:.1f}x | {ref_wall / wall:.2f}x |")
            diffs = []
            for stem in ("vocals", "accompaniment"):
                a = sf.read(tmp / "previous" / "song" / f"{stem}.wav", dtype="float32")[0]
                b = sf.read(tmp / "current" / "song" / f"{stem}.wav", dtype="float32")[0]
                assert a.shape == b.shape, (a.shape, b.shape)
                diffs.append(float(np.max(np.abs(a - b))))
            print(f"| {latency} | stems: max abs difference current vs previous | {max(diffs):.1e} | | | | |")

        print("\n| engine only (120 s in-process, steps of 16384 frames, 131072-frame blocks) | --latency "
              "| x real time (wall) | x real time per CPU second |")
        print("|---|---|---:|---:|")
        for latency in ("low", "quality"):
            for label, rt_wall, rt_cpu in engine_rows(song, latency):
                print(f"| {label} | {latency} | {rt_wall:.1f}x | {rt_cpu:.1f}x |")
        print(f"\n# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
              f"cores available: {cores_available():.2f} of {os.cpu_count()}")


if __name__ == "__main__":
    main()
