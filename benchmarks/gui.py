"""GUI cost benchmark: display frames per second while streaming, and the audio dropouts
with and without the GUI, in one run, on a private dummy-backend JACK server.

    python benchmarks/gui.py                      # 128 frames @ 48 kHz, 2 rounds x 6 s
    python benchmarks/gui.py --seconds 10 --rounds 3 --json out.json

Configurations, interleaved round by round so that a change in machine load hits all:

* ``no GUI``: ``LiveHost.run`` (what ``rtsep live`` does);
* ``GUI``: the ``rtsep gui`` window (offscreen without a display) at 60 fps, its thread
  at SCHED_FIFO 5 when permitted (the default);
* ``GUI, normal thread``: the same window with the GUI thread left at normal priority.

With ``--karaoke`` two more: ``no GUI, karaoke`` and ``GUI, karaoke``, the same song with
``--mic --voice-chain SPEC`` and a singer (the song's own voice, partly an octave low and
partly 80 cents sharp, 8 s each) played into the stream's first input port from a process of its
own; the window then also draws the pitch lane, the microphone meter and the voice chain's
controls. ``--screenshot PNG`` saves the karaoke window at the end of its last round
(taken while it streams), e.g. docs/karaoke.png:

    python benchmarks/gui.py --karaoke --rounds 1 --seconds 20 --screenshot docs/karaoke.png

The source is the synthetic demo song (``rtsep.demo_clip``), looped.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


GVERB = 'lv2("http://plugin.org.uk/swh-plugins/gverb", roomsize=20, revtime=1.5)'


def singer_voice(vocal, sample_rate: int):
    """A stand-in singer from the song's own voice: in tune for 8 s, an octave low for 8 s
    (right, octave-folded), 80 cents sharp for 8 s (wrong), and so on."""
    import librosa
    import numpy as np

    seg = 8 * sample_rate
    out = vocal.astype(np.float32).copy()
    for k, steps in enumerate((0.0, -12.0, 0.8) * (1 + len(vocal) // (3 * seg))):
        part = vocal[k * seg:(k + 1) * seg]
        if len(part) and steps:
            out[k * seg:k * seg + len(part)] = librosa.effects.pitch_shift(part, sr=sample_rate, n_steps=steps)
    return out


def sing_into(host, voice_npy, server: str):
    """Play the singer into the stream's first input port, from the song's playhead on, in a
    process of its own (a second JACK client in this process can dead-lock against
    PortAudio's when it closes); it stops when a line arrives on its stdin."""
    code = ("import sys, numpy as np\n"
            "from rtsep.host.jack import JackPlayer\n"
            "v = np.load(sys.argv[1])\n"
            "p = JackPlayer(v, [sys.argv[2]], name='bench-singer').start()\n"
            "print('ready', flush=True)\n"
            "p.signal = np.ascontiguousarray(v[int(sys.stdin.readline()) % len(v):])\n"
            "p.play(); sys.stdin.readline(); p.stop()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(voice_npy), host.jack_ports["in"][0]],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "JACK_DEFAULT_SERVER": server})
    proc.stdout.readline()
    proc.stdin.write(f"{int(host.song_position_s * host.sample_rate)}\n")
    proc.stdin.flush()
    return proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="streaming time per configuration and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--model", help="ONNX model (default: the release/placeholder model)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--karaoke", action="store_true", help="add the karaoke configurations (--mic, a singer)")
    ap.add_argument("--only-karaoke", action="store_true", help="run only the karaoke configurations")
    ap.add_argument("--voice-chain", default=GVERB, help=f"voice chain of the karaoke runs (default {GVERB})")
    ap.add_argument("--screenshot", metavar="PNG", help="save the karaoke window (needs --karaoke)")
    ap.add_argument("--song-seconds", type=float, default=30.0, help="length of the demo song")
    args = ap.parse_args(argv)
    args.karaoke = args.karaoke or args.only_karaoke
    if args.screenshot and not args.karaoke:
        ap.error("--screenshot needs --karaoke")

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
    from rtsep.errors import RtsepError
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.host import audio

    tmp = Path(tempfile.mkdtemp(prefix="rtsep-gui-bench-"))
    wav = tmp / "demo.wav"
    clip = make_demo_clip(args.samplerate, seconds=args.song_seconds)
    sf.write(wav, clip["mixture"], args.samplerate)
    configs = [("no GUI", None, False), ("GUI", 5, False), ("GUI, normal thread", 0, False)]
    if args.only_karaoke:
        configs = []
    if args.karaoke:
        configs += [("no GUI, karaoke", None, True), ("GUI, karaoke", 5, True)]
        np.save(tmp / "singer.npy", singer_voice(clip["vocals"].mean(axis=1), args.samplerate))
    rows = {name: [] for name, _, _ in configs}
    server = JackServer(rate=args.samplerate, period=args.blocksize).start()
    try:
        audio.reinitialize()
        for rnd in range(args.rounds):
            for name, prio, karaoke in configs:
                extra = {"mic": True, "voice_chain": args.voice_chain} if karaoke else {}
                spec = HostSpec(source=str(wav), samplerate=args.samplerate, blocksize=args.blocksize,
                                model=args.model, loop=True, extra=extra)
                host = spec.build()
                gui, singer = {}, None
                if prio is None:
                    host.start()
                    singer = sing_into(host, tmp / "singer.npy", server.name) if karaoke else None
                    try:
                        host.run(args.seconds)
                    except RtsepError as exc:  # the stream died (a loaded machine): a row that says so
                        gui = {"error": str(exc)}
                else:
                    win = LiveWindow(spec, host, fps=args.fps, gui_priority=prio)
                    win.closed.connect(app.quit)
                    shot = args.screenshot if karaoke and rnd == args.rounds - 1 else None

                    def finish(win=win, shot=shot):
                        if shot:  # while it streams: the picture of a live window
                            win.screenshot(shot)
                        win.close()
                    QtCore.QTimer.singleShot(int(args.seconds * 1000), finish)
                    win.show()
                    if karaoke:
                        while not host.running and not win.errors:
                            app.processEvents()
                        singer = sing_into(host, tmp / "singer.npy", server.name)
                    app.exec()
                    gui = win.summary()
                    if win.errors:
                        gui["error"] = win.errors[0]
                    gui["paint_fps"] = round(win.paint_counter.count / max(1e-9, args.seconds), 1)
                    gui["sched"] = "SCHED_FIFO 5" if prio else "normal"
                    win.deleteLater()
                    app.processEvents()
                if singer is not None:
                    try:
                        singer.communicate("stop\n", timeout=30)
                    except subprocess.TimeoutExpired:  # its JACK client hangs on a broken server
                        singer.kill()
                        singer.communicate()
                s = host.summary(skip=8) if hasattr(host, "summary") else host.stats.summary(skip=8)
                getattr(host, "close", host.stop)()
                rows[name].append({"callbacks": s["callbacks"], "dropouts": s["dropouts"],
                                   "deadline_misses": s["deadline_misses"],
                                   "callback_pct_p99": s["callback_pct_p99"], "score": s.get("score"), **gui})
                print(f"round {rnd + 1} {name:20s} {rows[name][-1]}", file=sys.stderr, flush=True)
                time.sleep(0.3)
    except BaseException:
        import traceback

        traceback.print_exc()  # now: closing PortAudio below may hang when the audio server is gone
        raise
    finally:
        audio.terminate()  # bounded, before the server goes: PortAudio's JACK client asserts otherwise
        server.stop()

    def total(name, key):
        vals = [r.get(key) for r in rows[name] if r.get(key) is not None]
        return vals

    print(f"\nGUI benchmark: {args.blocksize} frames @ {args.samplerate} Hz "
          f"({1000 * args.blocksize / args.samplerate:.2f} ms blocks), JACK dummy backend, "
          f"{args.rounds} x {args.seconds:g} s per configuration, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    hdr = f"{'configuration':22s} {'GUI fps':>8s} {'min fps':>8s} {'paints/s':>9s} {'tick ms':>8s} " \
          f"{'callbacks':>10s} {'dropouts':>9s} {'deadline misses':>16s} {'cb p99 %':>9s} {'score':>6s}"
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for name, _, _ in configs:
        cb = sum(total(name, "callbacks"))
        dr = sum(total(name, "dropouts"))
        dm = sum(total(name, "deadline_misses"))
        fps = total(name, "fps_mean")
        fmin = total(name, "fps_min")
        paints = total(name, "paint_fps")
        tick = total(name, "tick_ms_mean")
        p99 = total(name, "callback_pct_p99")
        score = total(name, "score")
        failed = total(name, "error")
        f = lambda v, d=1: f"{np.mean(v):.{d}f}" if v else "-"  # noqa: E731
        print(f"{name:22s} {f(fps):>8s} {(f'{min(fmin):.1f}' if fmin else '-'):>8s} {f(paints):>9s} "
              f"{f(tick, 2):>8s} {cb:>10d} {dr:>9d} {dm:>16d} {f(p99):>9s} {f(score, 0):>6s}"
              + (f"  {len(failed)} round(s) failed: {failed[0]}" if failed else ""))
        summary[name] = {"fps_mean": float(np.mean(fps)) if fps else None, "fps_min": min(fmin) if fmin else None,
                         "paints_per_s": float(np.mean(paints)) if paints else None, "callbacks": cb,
                         "dropouts": dr, "deadline_misses": dm, "rounds": rows[name]}
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    if args.json:
        Path(args.json).write_text(json.dumps({"blocksize": args.blocksize, "samplerate": args.samplerate,
                                               "seconds": args.seconds, "rounds": args.rounds,
                                               "results": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
