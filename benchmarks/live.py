"""Live-path benchmark on a private JACK server (dummy backend), 48 kHz.

For each block size (64, 128, 256 frames; the JACK period is set to the same value) it
runs, in one session, a passthrough host (empty chain, inline) beside the separator
host, on a worker thread (default) and inline in the callback, each for ``--seconds``
(default 60), as a duplex stream fed with a looping test song (the dummy capture is
silent). Prints dropouts, deadline misses and the callback-time distribution
(p50/p99/p99.9/max as % of the block period); for the worker, the worker's per-block
processing time too. ``--json FILE`` also writes the rows.

``--latency 0.3s`` adds a ``budget`` config: the host streams what that latency budget picks
(the streaming U-Net from about 0.16 s, rtsep.latency_budget), inline (its network in its own
worker process), and the table gains its worker's busy share and longest push against the compute
allowance. ``--rate 44100`` runs the server at the U-Net's own rate (no resampling).

    python benchmarks/live.py --seconds 20
    python benchmarks/live.py --seconds 60 --blocksizes 128 --configs passthrough,budget --latency 0.3s --rate 44100
    python benchmarks/live.py --seconds 60 --blocksizes 128 --configs passthrough,budget --latency 0.3s --rate 44100 --repeats 3
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


def run_one(config, blocksize, seconds, model, audio_in, precision="int8", budget=None):
    from rtsep.plugins import Chain
    from rtsep.host.source import FileSource
    from rtsep.host.stream import LiveHost

    src = FileSource.from_array(audio_in, RATE, 2)
    src.loop = True
    kw = dict(source=src, keep_input=True, blocksize=blocksize, model=model, mode="karaoke",
              operating_point="low", precision=precision)
    if config == "passthrough":
        host = LiveHost(Chain([]), worker=False, **kw)
    elif config == "budget":  # what --latency BUDGET picks; the U-Net runs inline with its own worker
        host = LiveHost(**dict(kw, model=None, operating_point=budget))
    else:
        host = LiveHost(worker=(config == "worker"), **kw)
    host.run(seconds, stop_at_source_end=False)
    s = host.stats.summary(skip=16)
    s.update(config=config if config != "budget" else f"budget {budget}", blocksize=blocksize, seconds=seconds,
             latency_samples=host.latency()["total_samples"], algorithmic=host.algorithmic_latency,
             handoff=host.handoff_latency, realtime=host.rt_status["callback"], notes=host.notes)
    if hasattr(host.separator, "compute_load"):
        s["unet_worker"] = host.separator.compute_load()
        s["ladder_point"] = host.separator.ladder_point.name
        host.separator.close()
    return s


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "CPU unknown"


def main(argv=None):
    global RATE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--blocksizes", default="64,128,256")
    ap.add_argument("--configs", default="passthrough,worker,inline")
    ap.add_argument("--model", default=None, help="model (default: the live default)")
    ap.add_argument("--precision", choices=("int8", "float32"), default="int8",
                    help="the recurrent model's dense layers per frame (default int8, the live host's default)")
    ap.add_argument("--latency", metavar="BUDGET", default="0.3s",
                    help="the budget config's latency budget (default 0.3s)")
    ap.add_argument("--rate", type=int, default=RATE, help="the JACK server's rate (default 48000)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the configs this many times, alternating (the dummy server's own late cycles "
                         "vary from minute to minute; totals are compared)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    RATE = args.rate

    from rtsep.host import audio
    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd not installed (apt-get install jackd2)", file=sys.stderr)
        return 2
    x = song(rate=RATE)
    rows = []
    for bs in [int(b) for b in args.blocksizes.split(",")]:
        with JackServer(rate=RATE, period=bs) as srv:
            audio.reinitialize()
            for cfg in [c for _ in range(max(1, args.repeats)) for c in args.configs.split(",")]:
                before = srv.xrun_counts()
                r = run_one(cfg, bs, args.seconds, args.model, x, args.precision, args.latency)
                # the server's own late cycles (driver) and clients not finished in a cycle
                r["server_xruns"] = [n - n0 for n, n0 in zip(srv.xrun_counts(), before)]
                rows.append(r)
                print(f"  {bs:>4} {cfg:<12} callbacks {r['callbacks']}, dropouts {r['dropouts']}, "
                      f"misses {r['deadline_misses']}", file=sys.stderr, flush=True)
            audio.terminate()  # bounded, before the server goes; re-initialised when next needed
    hdr = (f"{'block':>5} {'ms':>5} {'config':<12} {'callbacks':>9} {'dropouts':>8} {'misses':>6} {'fallbk':>6} "
           f"{'p50%':>6} {'p99%':>6} {'p99.9%':>7} {'max%':>6} | {'wrk p99%':>8} {'wrk max%':>8} {'latency':>8}")
    print(f"live benchmark: {args.seconds:g} s per run, {RATE / 1000:g} kHz, JACK dummy backend (period = block), "
          f"model {args.model or 'default'} ({args.precision}), {cpu_name()}, "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    hdr = hdr.replace("config      ", "config            ")
    print(hdr)
    print("-" * len(hdr))
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        print(f"{r['blocksize']:>5} {1000 * r['blocksize'] / RATE:>5.2f} {r['config']:<18} {r['callbacks']:>9} "
              f"{r['dropouts']:>8} {r['deadline_misses']:>6} {r['fallback_blocks']:>6} "
              f"{f(r['callback_pct_p50']):>6} {f(r['callback_pct_p99']):>6} {f(r['callback_pct_p999']):>7} "
              f"{f(r['callback_pct_max']):>6} | {f(r['worker_pct_p99']):>8} {f(r['worker_pct_max']):>8} "
              f"{1000 * r['latency_samples'] / RATE:>6.1f}ms")
    print("server xruns (driver late / client late) per run: "
          + ", ".join(f"{r['blocksize']} {r['config']} {r['server_xruns'][0]}/{r['server_xruns'][1]}" for r in rows))
    if args.repeats > 1:
        for bs in sorted({r["blocksize"] for r in rows}):
            tot = {}
            for r in (r for r in rows if r["blocksize"] == bs):
                t = tot.setdefault(r["config"], [0, 0, 0, 0, 0])
                for k, v in enumerate((1, r["dropouts"], r["deadline_misses"], *r["server_xruns"])):
                    t[k] += v
            print(f"totals at {bs} frames over alternating runs: " + "; ".join(
                f"{c} x{t[0]}: dropouts {t[1]}, misses {t[2]}, server xruns {t[3]}/{t[4]}" for c, t in tot.items()))
            sep = next((c for c in tot if c.startswith("budget")), None)
            if "passthrough" in tot and sep is not None:
                ok = tot[sep][2] == 0 and tot[sep][1] <= tot["passthrough"][1]
                print(f"issue #23 item 3 at {bs} frames ({sep}: 0 deadline misses, dropouts <= passthrough's, "
                      f"totals): {tot[sep][2]} misses, {tot[sep][1]} vs {tot['passthrough'][1]} dropouts -> "
                      f"{'PASS' if ok else 'FAIL'}")
    for r in rows:
        w = r.get("unet_worker")
        if w:
            print(f"{r['config']} at {r['blocksize']} frames: streaming U-Net {r['ladder_point']}, worker busy "
                  f"{100 * w['busy_share']:.0f}% of the audio time, longest push {w['push_ms_max']:.1f} ms "
                  f"(p99 {w['push_ms_p99']:.1f}) of its {w['allowance_ms']:.1f} ms allowance; {r['notes'][-1]}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
