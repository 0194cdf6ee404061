"""U-Net file separation speed and memory: ``rtsep separate --model unet`` beside Spleeter itself.

Both run as whole processes on the same 44.1 kHz stereo song (default: the project's synthetic
demo song looped to 5 minutes, 16-bit WAV), one after the other in this run: seconds of audio per
second of wall time (x real time, start-up and file I/O included) and the peak resident memory of
each process. The reference is ``spleeter separate -p spleeter:2stems`` (spleeter 2.4.2, TensorFlow
2.12) from the venv ``models/convert_unet.py`` builds (``~/.cache/rtsep/tf-venv``); spleeter reads
the song through the ``ffmpeg``/``ffprobe`` programs (e.g. ``apt-get install ffmpeg``). Without either
the table says "reference not available". Also shown: the network alone in ONNX Runtime (what the
pipeline costs around it).

    python benchmarks/unet_speed.py [--song FILE] [--minutes 5] [--wiener] [--reference-wiener]

Target (issue 14): rtsep >= 5x the reference's speed; memory bounded (segment by segment).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CACHE = Path(os.environ.get("RTSEP_CACHE", Path.home() / ".cache" / "rtsep"))
VENV_PY = CACHE / "tf-venv" / "bin" / "python"
SPLEETER_MODELS = CACHE / "spleeter-models"

# Runs a command and prints its wall time, CPU time (user + system, all its processes) and the
# peak RSS of its process tree's largest member.
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "seconds": dt, "stderr": p.stderr[-2000:], "cpu_s": ru.ru_utime + ru.ru_stime,
                  "peak_rss_mb": ru.ru_maxrss / 1024}))
"""


def measure(cmd: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"]:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed:\n{res['stderr']}")
    return res


def make_song(path: Path, minutes: float) -> None:
    from rtsep.demo_clip import make_demo_clip

    clip = make_demo_clip(44100)["mixture"]
    n = int(minutes * 60 * 44100)
    sf.write(path, np.tile(clip, (n // len(clip) + 1, 1))[:n], 44100, subtype="PCM_16")


def network_alone(seconds: float) -> float:
    """x real time of the two U-Nets alone over as many segments as the song has, run as the
    file pipeline runs them (as many segments at once as it has threads, one thread each)."""
    from concurrent.futures import ThreadPoolExecutor

    from rtsep.unet import UNetSeparator

    sep = UNetSeparator(44100, 2)
    seg_s = sep.card.segment_frames * sep.card.hop / 44100
    mag = np.random.default_rng(0).random((sep.card.segment_frames, sep.card.bins, 2), np.float32)
    sep.model.run(mag)
    n = int(np.ceil(seconds / seg_s))
    with ThreadPoolExecutor(sep.threads if sep.pipelined else 1) as pool:
        t = time.perf_counter()
        list(pool.map(lambda _: sep.model.run(mag), range(n)))
        return seconds / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--song", help="a 44.1 kHz stereo file (default: the demo song looped)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the looped demo song (default 5)")
    ap.add_argument("--wiener", action="store_true", help="also time rtsep --wiener")
    ap.add_argument("--reference-wiener", action="store_true", help="also time spleeter --mwf")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        song = Path(args.song) if args.song else tmp / "song.wav"
        if not args.song:
            make_song(song, args.minutes)
        info = sf.info(str(song))
        dur = info.frames / info.samplerate
        print(f"song: {song.name if args.song else 'demo song looped'}, {dur:.1f} s, {info.samplerate} Hz, "
              f"{info.channels} ch; {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
        rows = []
        rtsep = [sys.executable, "-m", "rtsep", "separate", str(song), "-o", str(tmp / "rtsep"), "--quiet",
                 "--force", "--model", "unet"]
        rows.append(("rtsep separate --model unet", measure(rtsep)))
        # Bounded memory: the same command on a fifth of the song peaks at about the same RSS.
        short = tmp / "short.wav"
        sf.write(short, sf.read(str(song), frames=info.frames // 5, dtype="float32")[0], info.samplerate)
        fifth = measure(rtsep[:4] + [str(short)] + rtsep[5:])
        if args.wiener:
            rows.append(("rtsep separate --model unet --wiener", measure(rtsep + ["--wiener"])))
        no_ffmpeg = [p for p in ("ffmpeg", "ffprobe") if shutil.which(p) is None]
        if no_ffmpeg:
            print(f"reference not available: spleeter needs {' and '.join(no_ffmpeg)} on the PATH "
                  "(apt-get install ffmpeg)")
        elif VENV_PY.exists() and (SPLEETER_MODELS / "2stems" / ".probe").exists():
            ref = [str(VENV_PY.parent / "spleeter"), "separate", "-p", "spleeter:2stems", "-o", str(tmp / "ref"),
                   str(song)]
            env = {"MODEL_PATH": str(SPLEETER_MODELS), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
            rows.append(("spleeter separate -p spleeter:2stems (reference)", measure(ref, env)))
            if args.reference_wiener:
                rows.append(("spleeter separate --mwf (reference)", measure(ref + ["--mwf"], env)))
        else:
            print("reference not available: run `python models/convert_unet.py` to build the spleeter venv")
        net = network_alone(dur)

    ref_row = next((r for name, r in rows if name.endswith("(reference)")), None)
    print()
    print("| process | x real time | wall s | CPU s | peak RSS MB | speed vs reference (wall) | CPU time vs reference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        ratio = f"{ref_row['seconds'] / r['seconds']:.1f}x" if ref_row else "n/a"
        cpu = f"{ref_row['cpu_s'] / r['cpu_s']:.1f}x less" if ref_row else "n/a"
        print(f"| {name} | {dur / r['seconds']:.1f}x | {r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{ratio} | {cpu} |")
    print(f"\nmemory bound: rtsep on the first fifth of the song ({dur / 5:.0f} s) peaks at "
          f"{fifth['peak_rss_mb']:.0f} MB, on the whole song at {rows[0][1]['peak_rss_mb']:.0f} MB")
    print(f"the two U-Nets alone in ONNX Runtime ({os.cpu_count()} cores, as the pipeline runs them): {net:.0f}x "
          f"real time; "
          f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine slows both sides)")
    if ref_row:
        ok = ref_row["seconds"] / rows[0][1]["seconds"] >= 5.0
        print(f"target rtsep >= 5x the reference's speed: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
