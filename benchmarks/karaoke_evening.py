"""The picture of docs/karaoke.md: ``rtsep gui`` over a queue of songs, the key moved +2.

A playlist of three entries (the 40-s demo song, the 12-s demo song at 44.1 kHz, and a file
that is not there), ``--mic``, the key set to +2 semitones from the queue panel while it
plays, and a singer (the demo's own voice moved +2 semitones, sung into the stream's first
JACK input) so that the pitch lane shows the moved guide and a trace on it; dummy JACK
server, 256-frame blocks at 48 kHz, offscreen Qt. Prints the queue's rows and the window's
figures::

    QT_QPA_PLATFORM=offscreen python benchmarks/karaoke_evening.py --screenshot docs/karaoke-evening.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshot", default="docs/karaoke-evening.png")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long the singer sings before the picture")
    ap.add_argument("--key", type=int, default=2)
    ap.add_argument("--blocksize", type=int, default=256)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pedalboard
    from gui import sing_into  # benchmarks/gui.py

    from rtsep.demo_clip import make_demo_clip
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.host import audio
    from rtsep.host.jack import JackServer
    from rtsep.host.queue import SongQueue
    from rtsep.plot import ensure_qt_app

    rate = 48000
    tmp = Path(tempfile.mkdtemp(prefix="rtsep-evening-"))
    clip = make_demo_clip(rate, seconds=40.0)
    sf.write(tmp / "demo.wav", clip["mixture"], rate)
    sf.write(tmp / "demo-44k.flac", make_demo_clip(44100)["mixture"], 44100)
    (tmp / "evening.m3u").write_text("#EXTM3U\n#EXTINF:40,Ana - The demo song\ndemo.wav\n"
                                     "#EXTINF:0,Ben - Not on this disk\nben.flac\n"
                                     "#EXTINF:40,Cleo - The demo song again\ndemo-44k.flac\n")
    voice = clip["vocals"].mean(axis=1).astype(np.float32)
    singer = pedalboard.time_stretch(voice[None, :], rate, 1.0, float(args.key))[0]
    np.save(tmp / "singer.npy", singer.astype(np.float32))

    app = ensure_qt_app()
    server = JackServer(rate=rate, period=args.blocksize).start()
    singer_proc = None
    try:
        audio.reinitialize()
        queue = SongQueue.from_items([tmp / "evening.m3u"])
        spec = HostSpec(source=queue, samplerate=rate, blocksize=args.blocksize,
                        extra={"mic": True, "voice_chain": "gain(0)"})
        win = LiveWindow(spec, fps=30)
        win.show()
        t_end = time.monotonic() + 60
        while not win.host.running and not win.errors and time.monotonic() < t_end:
            app.processEvents()
            time.sleep(0.01)
        win.queue_panel.key.setValue(args.key)  # as a singer would, from the panel
        t_key = time.monotonic()
        while time.monotonic() - t_key < 1.0:
            app.processEvents()
            time.sleep(0.01)
        singer_proc = sing_into(win.host, tmp / "singer.npy", server.name)
        t_end = time.monotonic() + args.seconds
        while time.monotonic() < t_end:
            app.processEvents()
            time.sleep(0.005)
        win.screenshot(args.screenshot)
        s = win.host.summary()
        rows = queue.rows()
        win.close()
        app.processEvents()
    finally:
        if singer_proc is not None:
            try:
                singer_proc.communicate("stop\n", timeout=30)
            except Exception:  # noqa: BLE001
                singer_proc.kill()
        server.stop()
    print(json.dumps({"songs": rows, "callbacks": s["callbacks"], "dropouts": s["dropouts"],
                      "deadline_misses": s["deadline_misses"], "score": s.get("score"),
                      "gui": win.summary(), "errors": win.errors}, indent=1))
    print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
