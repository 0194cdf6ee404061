"""Three counts of a JACK server's xruns over the same live run, to choose the GUI's
"server xruns" (docs/gui.md, "Whose fault is a click").

On a private dummy-backend JACK server, a ``LiveHost`` streams the demo song (looped) through
the low-latency model for ``--seconds``, while three counters watch:

* **side client**: an *active* JACK-Client client with no ports and no process callback,
  counting ``set_xrun_callback`` notifications (and, for comparison, an inactive one);
* **server log**: the server's own xrun lines (``JackServer.xrun_counts``: late wake-ups
  of the dummy clock and late clients, as the tests split them), the reference;
* **PortAudio flags**: the host's callbacks whose PortAudio status had an under/overflow
  flag (``stats.dropouts``, what the GUI shows).

Then rtsep's own deadline misses, how many of them fell within ``NEAR_CALLBACKS`` callbacks
of an xrun flag (sampled every 4 ms: could the server's late cycle explain them?), and its
callbacks past their period. One row per round.

    python benchmarks/xrun_counts.py --rounds 3 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name"))
    except Exception:  # noqa: BLE001
        return "unknown CPU"


NEAR_CALLBACKS = 8  # "right after an xrun": the live tests allow two worker blocks per late wake-up


def watch(stats, seconds: float, every_s: float = 0.004):
    """``(callbacks, dropouts, deadline_misses)`` sampled every ``every_s`` for ``seconds``
    (about 1.5 callbacks apart at 128 frames: where each xrun and each miss happened)."""
    rows = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        rows.append((stats.callbacks, stats.dropouts, stats.deadline_misses))
        time.sleep(every_s)
    return rows


def misses_near_xruns(trace, near: int) -> int:
    """Deadline misses whose callback index lies within ``near`` callbacks of an xrun flag's."""
    import numpy as np

    t = np.asarray(trace, dtype=np.int64)
    if len(t) < 2:
        return 0
    cb, dr, dm = t[1:, 0], np.diff(t[:, 1]), np.diff(t[:, 2])
    xruns = np.repeat(cb, dr)
    misses = np.repeat(cb, dm)
    if not len(xruns):
        return 0
    dist = np.abs(misses[:, None] - xruns[None, :]).min(axis=1)
    return int(np.count_nonzero(dist <= near))


def one_round(wav: str, blocksize: int, seconds: float, server) -> dict:
    import jack
    import numpy as np

    from rtsep.host.stream import LiveHost

    counts = {"active": 0, "inactive": 0}

    def counter(key):
        def cb(_delay_usecs):
            counts[key] += 1
        return cb

    active = jack.Client("xrun-active", no_start_server=True)
    active.set_xrun_callback(counter("active"))
    active.activate()
    inactive = jack.Client("xrun-inactive", no_start_server=True)
    inactive.set_xrun_callback(counter("inactive"))
    host = LiveHost(source=wav, blocksize=blocksize, samplerate=server.rate, operating_point="low")
    host.source.loop = True
    try:
        before = dict(counts), server.xrun_counts()
        host.start()
        trace = watch(host.stats, seconds)
        host.stop()
        time.sleep(0.5)  # notifications of the last cycles
        drv, cli = (a - b for a, b in zip(server.xrun_counts(), before[1]))
        st = host.stats
        late = int(np.count_nonzero(st.times() > st.period_s))
        return {"side_active": counts["active"] - before[0]["active"],
                "side_inactive": counts["inactive"] - before[0]["inactive"],
                "log_driver": drv, "log_client": cli, "pa_flags": st.dropouts,
                "misses": st.deadline_misses, "late_callbacks": late, "callbacks": st.callbacks,
                "misses_near_xrun": misses_near_xruns(trace, NEAR_CALLBACKS), "load": os.getloadavg()[0]}
    finally:
        host.close()
        active.deactivate()
        active.close()
        inactive.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--blocksize", type=int, default=128, help="stream block and JACK period (frames)")
    ap.add_argument("--samplerate", type=int, default=48000)
    args = ap.parse_args(argv)

    import tempfile

    import soundfile as sf

    from rtsep.demo_clip import make_demo_clip
    from rtsep.host import audio
    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd is not installed (apt-get install jackd2): nothing to measure", file=sys.stderr)
        return 2
    wav = str(Path(tempfile.mkdtemp(prefix="rtsep-xruns-")) / "demo.wav")
    sf.write(wav, make_demo_clip(args.samplerate)["mixture"], args.samplerate)
    server = JackServer(rate=args.samplerate, period=args.blocksize).start()
    rows = []
    try:
        audio.reinitialize()
        for _ in range(args.rounds):
            rows.append(one_round(wav, args.blocksize, args.seconds, server))
    finally:
        audio.terminate()  # bounded, before the server goes (PortAudio's JACK client asserts otherwise)
        server.stop()

    print(f"xrun counts: {args.blocksize} frames @ {args.samplerate} Hz, JACK dummy backend, "
          f"{args.rounds} x {args.seconds:g} s, {machine()}, {os.cpu_count()} CPUs")
    hdr = (f"{'round':>5s} {'server log (ref.)':>17s} {'driver':>7s} {'client':>7s} {'PortAudio flags':>16s} "
           f"{'side client':>12s} {'inactive client':>16s} {'rtsep misses':>13s} {'late cb':>8s} "
           f"{'near xrun':>10s} {'callbacks':>10s} {'load':>5s}")
    print(hdr)
    print("-" * len(hdr))
    for i, r in enumerate(rows, 1):
        print(f"{i:>5d} {r['log_driver'] + r['log_client']:>17d} {r['log_driver']:>7d} {r['log_client']:>7d} "
              f"{r['pa_flags']:>16d} {r['side_active']:>12d} {r['side_inactive']:>16d} {r['misses']:>13d} "
              f"{r['late_callbacks']:>8d} {r['misses_near_xrun']:>10d} {r['callbacks']:>10d} {r['load']:>5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
