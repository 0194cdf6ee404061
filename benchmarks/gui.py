"""GUI cost benchmark: display frames per second while streaming, and the audio dropouts
with and without the GUI, in one run, on a private dummy-backend JACK server.

    python benchmarks/gui.py                      # 128 frames @ 48 kHz, 2 rounds x 6 s
    python benchmarks/gui.py --seconds 10 --rounds 3 --json out.json

Configurations, interleaved round by round so that a change in machine load hits all:

* ``no GUI``: ``LiveHost.run`` (what ``rtsep live`` does);
* ``GUI``: the ``rtsep gui`` window (offscreen without a display) at 60 fps, its thread
  at SCHED_FIFO 5 when permitted (the default);
* ``GUI, normal thread``: the same window with the GUI thread left at normal priority.

The source is the synthetic demo song (``rtsep.demo_clip``), looped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="streaming time per configuration and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--model", help="ONNX model (default: the release/placeholder model)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    from rtsep.host.jack import JackServer, have_jackd

    if not have_jackd():
        print("jackd is not installed (apt-get install jackd2): nothing to measure", file=sys.stderr)
        return 2
    from rtsep.plot import ensure_qt_app

    app = ensure_qt_app()
    import numpy as np
    import soundfile as sf
    from pyqtgraph.Qt import QtCore

    from rtsep.demo_clip import make_demo_clip
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.host import audio

    tmp = Path(tempfile.mkdtemp(prefix="rtsep-gui-bench-"))
    wav = tmp / "demo.wav"
    sf.write(wav, make_demo_clip(args.samplerate)["mixture"], args.samplerate)
    configs = (("no GUI", None), ("GUI", 5), ("GUI, normal thread", 0))
    rows = {name: [] for name, _ in configs}
    server = JackServer(rate=args.samplerate, period=args.blocksize).start()
    try:
        audio.reinitialize()
        for rnd in range(args.rounds):
            for name, prio in configs:
                spec = HostSpec(source=str(wav), samplerate=args.samplerate, blocksize=args.blocksize,
                                model=args.model, loop=True)
                host = spec.build()
                gui = {}
                if prio is None:
                    host.run(args.seconds)
                else:
                    win = LiveWindow(spec, host, fps=args.fps, gui_priority=prio)
                    win.closed.connect(app.quit)
                    QtCore.QTimer.singleShot(int(args.seconds * 1000), win.close)
                    win.show()
                    app.exec()
                    gui = win.summary()
                    gui["paint_fps"] = round(win.paint_counter.count / max(1e-9, args.seconds), 1)
                    gui["sched"] = "SCHED_FIFO 5" if prio else "normal"
                    win.deleteLater()
                    app.processEvents()
                s = host.stats.summary(skip=8)
                rows[name].append({"callbacks": s["callbacks"], "dropouts": s["dropouts"],
                                   "deadline_misses": s["deadline_misses"],
                                   "callback_pct_p99": s["callback_pct_p99"], **gui})
                print(f"round {rnd + 1} {name:20s} {rows[name][-1]}", file=sys.stderr, flush=True)
                time.sleep(0.3)
    finally:
        try:
            audio.sd()._terminate()  # before the server goes: PortAudio's JACK client asserts otherwise
        except Exception:
            pass
        server.stop()

    def total(name, key):
        vals = [r.get(key) for r in rows[name] if r.get(key) is not None]
        return vals

    print(f"\nGUI benchmark: {args.blocksize} frames @ {args.samplerate} Hz "
          f"({1000 * args.blocksize / args.samplerate:.2f} ms blocks), JACK dummy backend, "
          f"{args.rounds} x {args.seconds:g} s per configuration, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    hdr = f"{'configuration':22s} {'GUI fps':>8s} {'min fps':>8s} {'paints/s':>9s} {'tick ms':>8s} " \
          f"{'callbacks':>10s} {'dropouts':>9s} {'deadline misses':>16s} {'cb p99 %':>9s}"
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for name, _ in configs:
        cb = sum(total(name, "callbacks"))
        dr = sum(total(name, "dropouts"))
        dm = sum(total(name, "deadline_misses"))
        fps = total(name, "fps_mean")
        fmin = total(name, "fps_min")
        paints = total(name, "paint_fps")
        tick = total(name, "tick_ms_mean")
        p99 = total(name, "callback_pct_p99")
        f = lambda v, d=1: f"{np.mean(v):.{d}f}" if v else "-"  # noqa: E731
        print(f"{name:22s} {f(fps):>8s} {(f'{min(fmin):.1f}' if fmin else '-'):>8s} {f(paints):>9s} "
              f"{f(tick, 2):>8s} {cb:>10d} {dr:>9d} {dm:>16d} {f(p99):>9s}")
        summary[name] = {"fps_mean": float(np.mean(fps)) if fps else None, "fps_min": min(fmin) if fmin else None,
                         "paints_per_s": float(np.mean(paints)) if paints else None, "callbacks": cb,
                         "dropouts": dr, "deadline_misses": dm, "rounds": rows[name]}
    if args.json:
        Path(args.json).write_text(json.dumps({"blocksize": args.blocksize, "samplerate": args.samplerate,
                                               "seconds": args.seconds, "rounds": args.rounds,
                                               "results": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
