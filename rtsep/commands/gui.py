"""``rtsep gui``: the live host in a window (spectrograms, vocal activity, meters, controls;
with ``--source SONG --mic``, the karaoke pitch lane, score, microphone meter and the voice
chain's controls)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from ..errors import RtsepError


def add_parser(sub):
    from . import live

    # Same options as `rtsep live` (taken from its parser, so they never drift apart).
    scratch = argparse.ArgumentParser(add_help=False).add_subparsers()
    live_parser = live.add_parser(scratch)
    p = sub.add_parser("gui", help="the live separation in a window: spectrograms, vocal activity, meters",
                       description="Like `rtsep live`, in a window: scrolling spectrograms of the input and of "
                                   "the separated vocals, the separator's vocal activity, level meters, latency "
                                   "and load readouts, and controls for mode, levels, bypass, start/stop and "
                                   "devices. Without a display, --duration S --screenshot PNG runs headless.")
    for action in live_parser._actions:
        if action.dest != "help":
            p._add_action(action)
    p.add_argument("--screenshot", metavar="PNG", help="save a PNG of the window when --duration ends")
    p.add_argument("--fps", type=float, default=60.0, help="display rate to aim at (default 60)")
    p.add_argument("--gui-priority", type=int, default=5, metavar="N",
                   help="run the GUI thread at SCHED_FIFO N while streaming from a real-time audio "
                        "server, below the audio threads, so that it is never preempted while holding the "
                        "interpreter lock the audio callback needs (default 5; 0 = normal priority; a server "
                        "that is not real-time, or where not permitted: normal priority)")
    return p


def _close_host(host) -> None:
    """Stop the stream and end the host's background threads (the song's producer)."""
    close = getattr(host, "close", None)
    (close or host.stop)()


def _headless() -> bool:
    return os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal")


def run(args) -> int:
    if args.duration is not None and args.duration <= 0:
        raise RtsepError("--duration must be > 0")
    if not 1 <= args.fps <= 240:
        raise RtsepError("--fps must be 1..240")
    if not 0 <= args.gui_priority <= 40:
        raise RtsepError("--gui-priority must be 0..40 (below the audio threads' 50 and 60)")
    if args.screenshot and args.duration is None:
        raise RtsepError("--screenshot needs --duration (the picture is taken when it ends)")
    if args.latency is not None:
        from ..latency_budget import parse_budget

        parse_budget(args.latency)  # low, quality or a time budget (the host picks the separator)
    from ..plot import ensure_qt_app

    app = ensure_qt_app()
    if _headless() and args.duration is None:
        raise RtsepError("no display (offscreen Qt): give --duration S (and --screenshot PNG) to run headless")
    from ..gui.window import HostSpec, LiveWindow
    from . import live

    source = live.song_source(args, always_queue=True)  # a song separated ahead: a queue of one (key, tempo)
    spec = HostSpec(input_device=args.input_device, output_device=args.output_device, source=source,
                    samplerate=args.samplerate, blocksize=args.blocksize, channels=args.channels,
                    mode=args.mode, vocals_db=args.vocals_db, accompaniment_db=args.accompaniment_db,
                    model=args.model, worker=not args.inline, loop=args.loop)
    if getattr(args, "latency", None) is not None:
        spec.extra["operating_point"] = args.latency
    if getattr(args, "switchable", False):
        spec.extra["switchable"] = True
    if getattr(args, "method", "net") != "net":
        spec.extra["method"] = args.method
    spec.extra.update(live.mic_options(args))  # --mic, --mic-channel, --mic-db, --voice-chain
    host = spec.build()
    log = sys.stderr if args.json else sys.stdout
    for note in host.notes:
        print(f"rtsep: note: {note}", file=log)
    win = LiveWindow(spec, host, fps=args.fps, gui_priority=args.gui_priority)
    result = {"stopped": "closed"}

    def finish():
        result["stopped"] = "duration"
        # Stop the audio first: rendering a whole window for the picture holds the
        # interpreter lock for tens of ms. The picture shows the last display tick.
        win.host.stop()
        if args.screenshot:
            try:
                win.screenshot(args.screenshot)
            except OSError as exc:
                result["screenshot_error"] = str(exc)
        win.close()

    if args.duration is not None:
        from pyqtgraph.Qt import QtCore

        QtCore.QTimer.singleShot(int(args.duration * 1000), finish)
    win.closed.connect(app.quit)

    def interrupted(*_):
        result["stopped"] = "interrupted"
        win.close()

    old_sigint = signal.signal(signal.SIGINT, interrupted)  # the display timer lets Python see it
    win.show()
    try:
        app.exec()
    except KeyboardInterrupt:
        result["stopped"] = "interrupted"
    finally:
        _close_host(win.host)
        signal.signal(signal.SIGINT, old_sigint)
    if "screenshot_error" in result:
        raise RtsepError(f"cannot save the screenshot: {result['screenshot_error']}")
    host = win.host
    s = host.summary(skip=8) if hasattr(host, "summary") else host.stats.summary(skip=8)
    s.update(result)
    s.update({"gui": win.summary(), "latency": host.latency(), "sample_rate": host.sample_rate,
              "blocksize": host.blocksize, "mode": host.mode, "errors": win.errors})
    queue = getattr(host.source, "queue", None)
    if queue is not None:
        s.update({"key": queue.controls.key, "tempo": queue.controls.tempo, "songs": queue.rows()})
    if args.screenshot:
        s["screenshot"] = str(args.screenshot)
    if args.json:
        print(json.dumps(s))
        return 1 if win.errors else 0
    g = s["gui"]
    print(f"stopped ({s['stopped']}): {s['callbacks']} callbacks, {s['dropouts']} dropouts, "
          f"{s['deadline_misses']} deadline misses; GUI {g['fps_mean']} fps (min {g['fps_min']}), "
          f"tick {g['tick_ms_mean']} ms avg / {g['tick_ms_max']} ms max")
    if getattr(host, "mic", None) is not None:
        score = "-" if s.get("score") is None else f"{s['score']:.1f}"
        print(f"microphone: {s.get('mic_latency_samples')} samples to the output; score {score}")
    if queue is not None:
        live.print_songs(s["songs"], sys.stdout)
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    for e in win.errors:
        print(f"rtsep: error: {e}", file=sys.stderr)
    return 1 if win.errors else 0
