"""How soon karaoke from a song file starts playing: ``rtsep live --source SONG`` on a private JACK
server (dummy backend, 44.1 kHz, 128-frame periods), from the command to its "streaming" line.

With the default U-Net the song is separated ahead of the playhead, so playback waits for the
first 11.9 s segment; the reference in the same run is the same command streaming the recurrent
quality model (``--latency quality``: nothing to wait for), and the floor is ``rtsep --version``
(Python and rtsep starting). Each command runs ``--repeat`` times, interleaved; the table gives
the median and the worst start, the deadline misses and (U-Net) the least time the producer was
ahead of the playhead over ``--duration`` seconds.

    python benchmarks/playback_start.py [--repeat 3] [--duration 3]

Target (issue 14): playback within 2 s of the command.
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

RATE = 44100
PERIOD = 128
PASSTHROUGH = """
import json, sys, time
import sounddevice as sd
n = [0, 0]
def cb(indata, outdata, frames, t, status):
    n[0] += 1
    n[1] += bool(status.input_overflow or status.input_underflow or status.output_overflow
                 or status.output_underflow)
    outdata[:] = indata
with sd.Stream(samplerate=int(sys.argv[1]), blocksize=int(sys.argv[2]), channels=2, callback=cb):
    print("streaming", flush=True)
    time.sleep(float(sys.argv[3]))
print(json.dumps({"callbacks": n[0], "dropouts": n[1]}))
"""


def timed(cmd: list[str]) -> dict:
    """Run ``cmd``; seconds to its first "streaming" line (or to its end) and its JSON summary."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, summary, tail = None, {}, []
    for line in proc.stdout:
        if start is None and line.startswith("streaming"):
            start = time.perf_counter() - t0
        if line.startswith("{"):
            summary = json.loads(line)
        tail.append(line)
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:5])} ... failed: {''.join(tail[-3:])}")
    return {"start_s": start if start is not None else time.perf_counter() - t0, "summary": summary}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds each live command plays")
    args = ap.parse_args(argv)

    from rtsep.demo_clip import make_demo_clip
    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd not installed (apt-get install jackd2)", file=sys.stderr)
        return 2
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.wav"
        clip = make_demo_clip(RATE)["mixture"]
        n = 60 * RATE
        sf.write(song, np.tile(clip, (n // len(clip) + 1, 1))[:n], RATE, subtype="PCM_16")
        live = [sys.executable, "-m", "rtsep", "live", "--source", str(song), "--blocksize", str(PERIOD),
                "--duration", str(args.duration), "--json"]
        configs = [("rtsep --version (start-up floor)", [sys.executable, "-m", "rtsep", "--version"]),
                   ("PortAudio passthrough stream (dropout floor)",
                    [sys.executable, "-c", PASSTHROUGH, str(RATE), str(PERIOD), str(args.duration)]),
                   ("live --source SONG (U-Net separated ahead)", live),
                   ("live --source SONG --latency quality (streamed, reference)", live + ["--latency", "quality"])]
        runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
        with JackServer(rate=RATE, period=PERIOD):
            for _ in range(args.repeat):
                for name, cmd in configs:
                    runs[name].append(timed(cmd))
        load = os.getloadavg()[0]

    ref = float(np.median([r["start_s"] for r in runs[configs[3][0]]]))
    print(f"# {args.repeat} runs each, interleaved; 60 s demo song, {RATE} Hz, {PERIOD}-frame JACK periods (dummy "
          f"backend); {os.cpu_count()} CPUs, load average {load:.1f}")
    print("| command | start s (median) | start s (worst) | vs reference | deadline misses | least ahead s | "
          "dropouts per run |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, _ in configs:
        starts = [r["start_s"] for r in runs[name]]
        sums = [r["summary"] for r in runs[name] if r["summary"]]
        misses = sum(s.get("deadline_misses", 0) for s in sums) if sums and "deadline_misses" in sums[0] else "-"
        drops = ", ".join(str(s["dropouts"]) for s in sums if "dropouts" in s) or "-"
        ahead = [s["ahead_s"] for s in sums if s.get("ahead_s") is not None]
        print(f"| {name} | {np.median(starts):.2f} | {max(starts):.2f} | {np.median(starts) / ref:.2f}x | {misses} | "
              f"{min(ahead) if ahead else '-'} | {drops} |")
    worst = max(r["start_s"] for r in runs[configs[2][0]])
    print(f"target: the U-Net's playback within 2 s of the command: {'met' if worst <= 2.0 else 'NOT met'} "
          f"(worst of {args.repeat}: {worst:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
