"""Live-path benchmark on a private JACK server (dummy backend), 48 kHz.

For each block size (64, 128, 256 frames; the JACK period is set to the same value) it
runs, in one session, a passthrough host (empty chain, inline) beside the separator
host, on a worker thread (default) and inline in the callback, each for ``--seconds``
(default 60), as a duplex stream fed with a looping test song (the dummy capture is
silent). Prints dropouts, deadline misses and the callback-time distribution
(p50/p99/p99.9/max as % of the block period); for the worker, the worker's per-block
processing time too. ``--json FILE`` also writes the rows.

    python benchmarks/live.py --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

RATE = 48000


def song(seconds=10.0, rate=RATE):
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)))
    voice *= (np.sin(2 * np.pi * 0.5 * t) > 0)
    bed = 0.05 * rng.standard_normal((len(t), 2)) + 0.1 * np.sin(2 * np.pi * 110 * t)[:, None]
    return (bed + voice[:, None] * np.array([0.8, 0.6])).astype(np.float32)


def run_one(config, blocksize, seconds, model, audio_in, precision="int8"):
    from rtsep.plugins import Chain
    from rtsep.host.source import FileSource
    from rtsep.host.stream import LiveHost

    src = FileSource.from_array(audio_in, RATE, 2)
    src.loop = True
    kw = dict(source=src, keep_input=True, blocksize=blocksize, model=model, mode="karaoke",
              operating_point="low", precision=precision)
    if config == "passthrough":
        host = LiveHost(Chain([]), worker=False, **kw)
    else:
        host = LiveHost(worker=(config == "worker"), **kw)
    host.run(seconds, stop_at_source_end=False)
    s = host.stats.summary(skip=16)
    s.update(config=config, blocksize=blocksize, seconds=seconds, latency_samples=host.latency()["total_samples"],
             algorithmic=host.algorithmic_latency, handoff=host.handoff_latency, realtime=host.rt_status["callback"])
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--blocksizes", default="64,128,256")
    ap.add_argument("--configs", default="passthrough,worker,inline")
    ap.add_argument("--model", default=None, help="model (default: the live default)")
    ap.add_argument("--precision", choices=("int8", "float32"), default="int8",
                    help="the recurrent model's dense layers per frame (default int8, the live host's default)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    from rtsep.host import audio
    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd not installed (apt-get install jackd2)", file=sys.stderr)
        return 2
    x = song()
    rows = []
    for bs in [int(b) for b in args.blocksizes.split(",")]:
        with JackServer(rate=RATE, period=bs) as srv:
            audio.reinitialize()
            for cfg in args.configs.split(","):
                r = run_one(cfg, bs, args.seconds, args.model, x, args.precision)
                rows.append(r)
                print(f"  {bs:>4} {cfg:<12} callbacks {r['callbacks']}, dropouts {r['dropouts']}, "
                      f"misses {r['deadline_misses']}", file=sys.stderr, flush=True)
            audio.sd()._terminate()
        audio.sd()._initialize()
    hdr = (f"{'block':>5} {'ms':>5} {'config':<12} {'callbacks':>9} {'dropouts':>8} {'misses':>6} {'fallbk':>6} "
           f"{'p50%':>6} {'p99%':>6} {'p99.9%':>7} {'max%':>6} | {'wrk p99%':>8} {'wrk max%':>8} {'latency':>8}")
    print(f"live benchmark: {args.seconds:g} s per run, 48 kHz, JACK dummy backend (period = block), "
          f"model {args.model or 'default'} ({args.precision}), "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    print(hdr)
    print("-" * len(hdr))
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        print(f"{r['blocksize']:>5} {1000 * r['blocksize'] / RATE:>5.2f} {r['config']:<12} {r['callbacks']:>9} "
              f"{r['dropouts']:>8} {r['deadline_misses']:>6} {r['fallback_blocks']:>6} "
              f"{f(r['callback_pct_p50']):>6} {f(r['callback_pct_p99']):>6} {f(r['callback_pct_p999']):>7} "
              f"{f(r['callback_pct_max']):>6} | {f(r['worker_pct_p99']):>8} {f(r['worker_pct_max']):>8} "
              f"{1000 * r['latency_samples'] / RATE:>6.1f}ms")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
