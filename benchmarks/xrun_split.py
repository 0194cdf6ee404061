"""Which half of the streaming U-Net's worker costs the audio server its cycles: its CPU or its
share of the interpreter lock? (issue #23 item 3)

On a JACK server (dummy backend, not real-time) at 128-frame periods, short runs of four
configurations alternate, so that each meets the VM's changing noise about equally:

- ``passthrough``: the host with no separator (the reference);
- ``unet``: the host with ``--latency BUDGET`` (the streaming U-Net as the host runs it: since
  the worker became a process of its own, ``cpu`` with the host's exchange; before, its worker
  thread and the network's threads in this process, which is what this split was written for);
- ``cpu``: the passthrough host, and beside it, in a process of its own, the same streaming U-Net
  pushed the same audio at the stream's pace (its CPU load, no interpreter lock shared);
- ``gil``: the passthrough host, and in a thread of this process the same pushes with the
  network replaced by a sleep of its measured time (the worker's Python and numpy, which hold
  the interpreter lock, without the network's CPU).

Printed: per run and in total, the server's xruns (its own late cycles, "driver late", and
cycles a client had not finished, "client late") and the host's callback time, with each
configuration's client-late count as a ratio to the passthrough's. Run with nothing else on
the machine::

    python benchmarks/xrun_split.py --seconds 20 --repeats 6
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live  # noqa: E402  (its test song, host runner and machine name)

RATE = 44100
CONFIGS = ("passthrough", "unet", "cpu", "gil")


class _SleepSession:
    """An ONNX Runtime session stand-in: sleeps (releasing the lock, as a real run does) for the
    real network's time and returns silence of the output's shape."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def run(self, names, feeds):
        x = feeds["magnitude"]
        time.sleep(self.seconds)
        return [np.zeros(x.shape, np.float32) for _ in names]


def _stream(budget: str):
    """The streaming U-Net the budget picks, and how many samples its worker pushes per wake."""
    from rtsep.latency_budget import choose

    c = choose(budget, RATE, 2)
    return c.stream, max(1, c.allowance_samples // 8)


def network_seconds(stream) -> float:
    """Median time of one network run of this stream's window (five runs after a warm-up)."""
    core = stream._core
    x = np.abs(np.random.default_rng(1).standard_normal((1, core.window, 1024, 2))).astype(np.float32)
    names = ["vocals"] if core.vocal_mask else ["vocals", "accompaniment"]
    core.session.run(names, {"magnitude": x})
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        core.session.run(names, {"magnitude": x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def push_at_pace(stream, chunk_samples: int, stop: threading.Event) -> int:
    """Push noise through ``stream`` in real time, ``chunk_samples`` at a time, until ``stop``."""
    chunk = (0.1 * np.random.default_rng(0).standard_normal((chunk_samples, 2))).astype(np.float32)
    due, n = time.perf_counter(), 0
    while not stop.is_set():
        stream.push(chunk)
        n += 1
        due += chunk_samples / RATE
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    return n


def _load_child(seconds: float, budget: str) -> int:
    """``--load-child``: the ``cpu`` configuration's other process."""
    stream, chunk = _stream(budget)
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    print(f"ready {push_at_pace(stream, chunk, stop)}", flush=True)
    return 0


def run(cfg: str, seconds: float, song: np.ndarray, budget: str, sleep_s: float) -> dict:
    stop, child, thread = threading.Event(), None, None
    if cfg == "cpu":
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--load-child", str(seconds + 10),
                                  "--latency", budget], stdout=subprocess.DEVNULL)
        time.sleep(6)  # its imports and network session, before the host starts
    elif cfg == "gil":
        stream, chunk = _stream(budget)
        stream._core.session = _SleepSession(sleep_s)
        thread = threading.Thread(target=push_at_pace, args=(stream, chunk, stop), daemon=True)
        thread.start()
    try:
        r = live.run_one("budget" if cfg == "unet" else "passthrough", 128, seconds, None, song, "int8", budget)
    finally:
        stop.set()
        if child is not None:
            child.kill()
            child.wait(30)
        if thread is not None:
            thread.join(10)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run (default 20)")
    ap.add_argument("--repeats", type=int, default=6, help="rounds of the four configurations (default 6)")
    ap.add_argument("--latency", default="0.3s", help="the U-Net's budget (default 0.3s)")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--load-child", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.load_child:
        return _load_child(args.load_child, args.latency)

    from rtsep.host import audio
    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd not installed (apt-get install jackd2)", file=sys.stderr)
        return 2
    live.RATE = RATE
    song = live.song(rate=RATE)
    configs = [c for c in args.configs.split(",") if c]
    stream, _ = _stream(args.latency)
    sleep_s = network_seconds(stream)
    del stream
    rows = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with JackServer(rate=RATE, period=128) as srv:
        audio.reinitialize()
        for rep in range(args.repeats):
            for cfg in configs:
                before = srv.xrun_counts()
                r = run(cfg, args.seconds, song, args.latency, sleep_s)
                driver, client = (n - n0 for n, n0 in zip(srv.xrun_counts(), before))
                row = {"round": rep, "config": cfg, "dropouts": r["dropouts"], "driver_late": driver,
                       "client_late": client, "callback_pct_p999": r["callback_pct_p999"],
                       "callback_pct_max": r["callback_pct_max"], "load_avg": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        audio.terminate()
    if args.json:  # the rows first: the table below is made from them
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)

    print(f"xrun split: {args.repeats} rounds x {len(configs)} configs x {args.seconds:g} s, alternating; "
          f"JACK dummy backend (not real-time), {RATE} Hz, 128-frame periods; budget {args.latency}; "
          f"network run {1000 * sleep_s:.1f} ms (the gil config's sleep); {live.cpu_name()}, "
          f"{os.cpu_count()} CPUs; started {started}")
    hdr = (f"{'config':<12} {'runs':>4} {'dropouts':>8} {'driver late':>11} {'client late':>11} "
           f"{'client/min':>10} {'vs passthrough':>14} {'cb p99.9%':>9} {'cb max%':>8}")
    print(hdr)
    print("-" * len(hdr))
    per_min = {}
    for cfg in configs:
        rs = [r for r in rows if r["config"] == cfg]
        minutes = len(rs) * args.seconds / 60.0
        per_min[cfg] = sum(r["client_late"] for r in rs) / minutes
    ref = per_min.get("passthrough")
    for cfg in configs:
        rs = [r for r in rows if r["config"] == cfg]
        ratio = "-" if not ref else f"{per_min[cfg] / ref:.2f}x"
        print(f"{cfg:<12} {len(rs):>4} {sum(r['dropouts'] for r in rs):>8} {sum(r['driver_late'] for r in rs):>11} "
              f"{sum(r['client_late'] for r in rs):>11} {per_min[cfg]:>10.1f} {ratio:>14} "
              f"{max(r['callback_pct_p999'] for r in rs):>9.1f} {max(r['callback_pct_max'] for r in rs):>8.1f}")
    print("per round, client late: " + "; ".join(
        f"{rep}: " + " ".join(f"{r['config']} {r['client_late']}" for r in rows if r["round"] == rep)
        for rep in range(args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
