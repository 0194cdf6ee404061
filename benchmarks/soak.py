"""Soak benchmark (issue #25): a queue looping for a long evening, beside a bypassed run of the
same length in the same session.

Two runs, one after the other, each on a fresh private JACK server (dummy backend, period =
``--blocksize``) and for ``--minutes`` each:

* ``evening``: ``rtsep gui`` as a user runs it (offscreen Qt, 60 fps): a queue of three demo
  songs (``rtsep.demo_clip``; 40 s at 48 kHz, 40 s at 44.1 kHz, 30 s at 48 kHz with the default
  ``--song-seconds 40``, so the queue wraps many times and the resampling is covered) with the queue's loop on, mode karaoke (the U-Net
  separating ahead of the playhead), ``--mic`` with a singer (the first song's voice, looped,
  from a process of its own) playing into the stream's first JACK input, and a voice chain of
  real plugins (swh-lv2's gverb, then ``gain(-3)``; pedalboard's reverb when the LV2 is missing).
* ``bypassed``: the same host, queue, mic, singer, voice chain and window, in mode ``bypass``
  and with no separator at all: the ahead engine's stems come from a pass-through (vocals = the
  dry song, accompaniment = silence; no network runs), so the pitch guide and score still track
  a voice (the song's) while the output is the dry song. Everything else is the same code path.

Both keep the songs' stems on disk as ``rtsep gui`` does (``--stem-cache``), each run in a fresh
folder: the first pass through the queue separates every song, the passes after it play the
stems back. ``--stem-cache off`` separates every song on every pass (the separation's own cost,
over the whole run).

Every ~5 s it samples callbacks, dropouts (PortAudio's xrun flags: the GUI's "server xruns"),
the JACK server's own xrun reports (driver late / client late), deadline misses and the GUI's
"rtsep misses" (misses + callbacks past their period), the process's resident memory
(``VmRSS``), the song at the playhead and how often the queue wrapped. Memory growth is from
the end of the first song (the first time the playhead is on another song) to the end of the run.

Criteria (issue #25): deadline misses == 0 in the evening run; its dropouts <= the bypassed
run's; resident memory growth after the first song < 20 MB.

    QT_QPA_PLATFORM=offscreen python benchmarks/soak.py                # 2 x 30 minutes
    QT_QPA_PLATFORM=offscreen python benchmarks/soak.py --minutes 1 --out /tmp/soak.txt
    QT_QPA_PLATFORM=offscreen python benchmarks/soak.py --minutes 1 --song-seconds 8 --out /tmp/soak.txt  # wraps

Over a loop of the queue it found the separation view keeping the whole dry input of a song
separated ahead (192 kB/s, fixed in rtsep/gui/separation.py).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live import cpu_name  # noqa: E402  (benchmarks/live.py)
from rtsep.gui.priority import GUI_RT_PRIORITY  # noqa: E402  (no Qt: os only)
from rtsep.host import realtime  # noqa: E402

GVERB_CHAIN = 'lv2("http://plugin.org.uk/swh-plugins/gverb", roomsize=20, revtime=1.5), gain(-3)'
BUILTIN_CHAIN = "reverb(room_size=0.5), gain(-3)"
SONG_RATES = (48000, 44100, 48000)  # the queue's songs: file rates,
SONG_LENGTHS = (1.0, 1.0, 0.75)     # and lengths in --song-seconds
SAMPLE_S = 5.0
GROWTH_LIMIT_MB = 20.0

# The singer: the voice looped into the stream's first input until a line arrives on stdin.
SINGER = ("import sys, threading, numpy as np\n"
          "from rtsep.host.jack import JackPlayer\n"
          "v = np.load(sys.argv[1])\n"
          "p = JackPlayer(v, [sys.argv[2]], name='soak-singer').start()\n"
          "print('ready', flush=True)\n"
          "p.play()\n"
          "stop = threading.Event()\n"
          "threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()\n"
          "while not stop.wait(0.05):\n"
          "    if p.pos >= len(v):\n"
          "        p.pos = 0\n"
          "p.stop()\n"
          "print('scheduling', p.rt_status, flush=True)\n")


class PassStems:
    """The bypassed run's 'separator': no network; vocals = the dry song (the pitch guide still
    tracks a voice), accompaniment = silence. ``(sample_rate, channels) -> self`` like
    :func:`rtsep.host.ahead.default_stems`."""

    name = "none (bypassed)"

    def __init__(self, sample_rate: int, channels: int):
        self.channels = channels

    def stream(self, blocks):
        for x in blocks:
            yield x, np.zeros_like(x)


class ServerXruns:
    """The JACK server's xrun reports, counted as its log grows (as ``JackServer.xrun_counts``
    does) without keeping the log: ``read_log`` keeps all of it in this process, megabytes of
    xrun lines in half an hour on a loaded machine, which would count as the host's growth."""

    def __init__(self, server):
        self._file = server._logfile
        self._offset, self._rest = 0, b""
        self.driver = self.client = 0
        # client-late reports by "client/state": rtsep is "PortAudio", the singer "soak-singer";
        # Triggered: woken but not yet running at the deadline (its thread was not scheduled),
        # Running: it started and did not finish (it ran long, or waited, e.g. for a lock)
        self.by_client: dict[str, int] = {}
        self._after_driver = False  # a late wake-up leaves every client unfinished: not theirs

    def counts(self) -> tuple[int, int]:
        """``(driver, client)`` xruns reported so far."""
        while chunk := os.pread(self._file.fileno(), 1 << 16, self._offset):
            self._offset += len(chunk)
            *lines, self._rest = (self._rest + chunk).split(b"\n")
            for line in (raw.decode(errors="replace") for raw in lines):
                if "JackTimedDriver::Process XRun" in line:
                    self.driver, self._after_driver = self.driver + 1, True
                elif "was not finished" in line:
                    if not self._after_driver:
                        self.client += 1
                        who = line.split("client = ", 1)[-1].replace(" was not finished, state = ", "/")
                        self.by_client[who.strip()] = self.by_client.get(who.strip(), 0) + 1
                elif line.strip():
                    self._after_driver = False
        return self.driver, self.client


def rss_mb() -> float:
    """This process's resident memory (``VmRSS``) in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def voice_chain_spec(rate: int, blocksize: int) -> tuple[str, str | None]:
    """``(spec, note)``: gverb + gain when swh-lv2 loads, else pedalboard's reverb + gain."""
    from rtsep.plugins.spec import parse_chain

    try:
        parse_chain(GVERB_CHAIN, rate, 2, max(blocksize, 1024))
        return GVERB_CHAIN, None
    except Exception as exc:  # noqa: BLE001 - any reason it cannot load: the built-in chain
        return BUILTIN_CHAIN, f"swh-lv2 gverb not available ({str(exc).splitlines()[0]}): built-in reverb instead"


def make_songs(tmp: Path, song_seconds: float) -> tuple[list[Path], Path]:
    """The queue's demo songs as files, and the singer's voice (``.npy``, 48 kHz mono)."""
    import soundfile as sf

    from rtsep.demo_clip import make_demo_clip

    paths, voice = [], None
    for k, (rate, length) in enumerate(zip(SONG_RATES, SONG_LENGTHS)):
        clip = make_demo_clip(rate, seconds=length * song_seconds, seed=k)
        p = tmp / f"song{k + 1}-{rate // 1000}k.{'wav' if rate == 48000 else 'flac'}"
        sf.write(p, clip["mixture"], rate)
        paths.append(p)
        if voice is None:
            voice = clip["vocals"].mean(axis=1).astype(np.float32)
    np.save(tmp / "singer.npy", voice)
    return paths, tmp / "singer.npy"


def start_singer(host, voice_npy: Path, server: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SINGER, str(voice_npy), host.jack_ports["in"][0]],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "JACK_DEFAULT_SERVER": server})
    ready = threading.Event()
    threading.Thread(target=lambda: (proc.stdout.readline(), ready.set()), daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("the singer process did not come up within 60 s")
    return proc


def stop_singer(proc) -> str:
    """Stop the singer; returns how its JACK thread was scheduled (``make_realtime``'s status)."""
    if proc is None:
        return "-"
    try:
        out, _ = proc.communicate("stop\n", timeout=30)
        return next((ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("scheduling ")), "?")
    except Exception:  # noqa: BLE001 - its JACK client may hang on a broken server
        proc.kill()
        try:
            proc.communicate(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        return "?"


def run_one(name: str, args, songs: list[Path], voice_npy: Path, chain: str, cleanup: list) -> dict:
    """One run (``evening`` or ``bypassed``) on its own JACK server; returns its row."""
    from rtsep.gui.readout import rtsep_misses
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.host import audio
    from rtsep.host.jack import JackServer
    from rtsep.host.queue import SongQueue
    from rtsep.plot import ensure_qt_app

    app = ensure_qt_app()
    bypassed = name == "bypassed"
    server = JackServer(rate=args.samplerate, period=args.blocksize).start()
    cleanup.append(lambda: server.proc is not None and server.proc.kill())
    singer = win = cache = None
    samples: list[dict] = []
    row: dict = {"run": name, "minutes": args.minutes, "voice_chain": chain}
    try:
        audio.reinitialize()
        # rtsep gui keeps songs' stems on disk (--stem-cache): each run a fresh folder, so its
        # first pass through the queue separates every song and the next passes play them back
        if args.stem_cache:
            from rtsep.host.stem_cache import StemCache

            cache = StemCache(tempfile.mkdtemp(prefix=f"rtsep-soak-stems-{name}-"))
            cleanup.append(lambda: shutil.rmtree(cache.folder, ignore_errors=True))
        row["stem_cache"] = cache is not None
        queue = SongQueue.from_items([str(p) for p in songs], loop=True, stem_cache=cache)
        extra = {"mic": True, "voice_chain": chain}
        if bypassed:
            extra["stems"] = PassStems
        spec = HostSpec(source=queue, samplerate=args.samplerate, blocksize=args.blocksize,
                        mode="bypass" if bypassed else "karaoke", loop=True, extra=extra)
        t_build = time.monotonic()
        win = LiveWindow(spec, fps=args.fps, gui_priority=args.gui_priority)
        win.show()
        while not win.host.running and not win.errors and time.monotonic() - t_build < 120:
            app.processEvents()
            time.sleep(0.01)
        if not win.host.running:
            raise RuntimeError(f"{name}: the stream did not start: {win.errors or 'timeout'}")
        host = win.host
        row["ahead_model"] = host.ahead.producer.name if host.ahead is not None else None
        singer = start_singer(host, voice_npy, server.name)
        cleanup.append(singer.kill)
        first = queue.current
        second = queue.next_index(first)
        rss_at_second: list[float] = []  # RSS each time the playhead moves onto the second song
        xruns = ServerXruns(server)
        xr0 = xruns.counts()  # the server's reports while the host was being built are not the run's
        by0 = dict(xruns.by_client)
        song, wraps, songs_played = queue.current, 0, 1
        rss_first_end = None
        rss_max = rss0 = rss_mb()
        t0 = time.monotonic()
        t_end = t0 + 60.0 * args.minutes
        next_sample = t0
        while True:
            now = time.monotonic()
            app.processEvents()
            cur = queue.current
            if cur is not None and cur != song:  # the playhead moved on to another song
                songs_played += 1
                if cur == first or (song is not None and cur < song):
                    wraps += 1
                if rss_first_end is None:
                    rss_first_end = rss_mb()
                    row["first_song_end_s"] = round(now - t0, 1)
                if cur == second:
                    rss_at_second.append(rss_mb())
                song = cur
            if now >= next_sample or now >= t_end:
                st = host.stats
                rss = rss_mb()
                rss_max = max(rss_max, rss)
                samples.append({"t_s": round(now - t0, 1), "song": song, "wraps": wraps,
                                "callbacks": st.callbacks, "dropouts": st.dropouts,
                                "deadline_misses": st.deadline_misses,
                                "rtsep_misses": rtsep_misses(host, win.readout.recent_load.late)[0],
                                "server_xruns": [n - n0 for n, n0 in zip(xruns.counts(), xr0)],
                                "rss_mb": round(rss, 1),
                                # Python objects the cyclic GC tracks (made since the stream started,
                                # alive or not yet collected; O(1) to read): a count that climbs pass
                                # after pass is objects kept (a cache, or cycles nobody collects)
                                "gc_tracked": host.interpreter.tracked})
                print(f"  {name:9s} {samples[-1]}", file=sys.stderr, flush=True)
                next_sample += SAMPLE_S
            if now >= t_end or win.errors or not host.running:
                break
            time.sleep(0.005)
        s = host.summary(skip=8)
        driver, client = (n - n0 for n, n0 in zip(xruns.counts(), xr0))
        rss_end = rss_mb()
        row.update({"seconds": round(time.monotonic() - t0, 1), "songs_played": songs_played, "wraps": wraps,
                    "callbacks": s["callbacks"], "dropouts": s["dropouts"],
                    "deadline_misses": s["deadline_misses"], "fallback_blocks": s["fallback_blocks"],
                    "rtsep_misses": samples[-1]["rtsep_misses"], "late_callbacks": win.readout.recent_load.late,
                    "server_xruns_driver": driver, "server_xruns_client": client,
                    "server_xruns_by_client": {k: n - by0.get(k, 0) for k, n in sorted(xruns.by_client.items())
                                               if n > by0.get(k, 0)},
                    "callback_pct_p99": s.get("callback_pct_p99"), "callback_pct_max": s.get("callback_pct_max"),
                    "score": s.get("score"), "ahead_s": s.get("ahead_s"), "gc": s.get("gc"),
                    "songs_separated": getattr(host.ahead.producer, "songs_separated", None),
                    "songs_cached": getattr(host.ahead.producer, "songs_cached", None),
                    "rss_start_mb": round(rss0, 1), "rss_first_song_end_mb": None if rss_first_end is None
                    else round(rss_first_end, 1), "rss_end_mb": round(rss_end, 1), "rss_max_mb": round(rss_max, 1),
                    "growth_mb": None if rss_first_end is None else round(rss_end - rss_first_end, 1),
                    "growth_same_point_mb": round(rss_at_second[-1] - rss_at_second[0], 1)
                    if len(rss_at_second) > 1 else None, "rss_at_second_song_mb": [round(v, 1) for v in rss_at_second],
                    "gui": win.summary(), "errors": list(win.errors), "stopped_early": time.monotonic() < t_end,
                    "songs": queue.rows(), "samples": samples})
    finally:
        row["singer_scheduling"] = stop_singer(singer)
        if win is not None:
            win.close()  # stops the stream and the producer's threads
            app.processEvents()
            win.deleteLater()
            app.processEvents()
        audio.terminate()  # bounded, before the server goes: PortAudio's JACK client asserts otherwise
        server.stop()
        if cache is not None:
            shutil.rmtree(cache.folder, ignore_errors=True)
    return row


def floors(row: dict, key: str = "rss_mb") -> list:
    """The least of sample ``key`` in each pass through the queue after the first song ended (a
    wrap's 5-s samples; the first entry: the rest of the first pass). For RSS its floor, not a
    single reading: RSS swings by ~250 MB with the song being separated at that moment. Samples
    without ``key`` (runs before it was recorded) are left out."""
    end = row.get("first_song_end_s")
    least: dict[int, float] = {}
    for smp in row.get("samples", []):
        if key in smp and end is not None and smp["t_s"] >= end:
            w = smp["wraps"]
            least[w] = min(least.get(w, smp[key]), smp[key])
    return [least[w] for w in sorted(least)]


def watchdog(limit_s: float, cleanup: list) -> None:
    """A hung run (a JACK client stuck on a broken server) must not hang the benchmark: after
    ``limit_s`` print every thread's stack, kill the singer and the servers, and exit 3."""
    def fire():
        print(f"soak: still running after {limit_s:.0f} s: giving up", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(all_threads=True)
        for f in cleanup:
            try:
                f()
            except Exception:  # noqa: BLE001
                pass
        os._exit(3)
    t = threading.Timer(limit_s, fire)
    t.daemon = True
    t.start()


def table(rows: list[dict], args, notes: list[str]) -> str:
    ev = next((r for r in rows if r["run"] == "evening"), None)
    by = next((r for r in rows if r["run"] == "bypassed"), None)
    songs = ", ".join(f"{k * args.song_seconds:g} s @ {r / 1000:g} kHz" for r, k in zip(SONG_RATES, SONG_LENGTHS))
    out = [f"soak benchmark: {args.minutes:g} min per run, {args.blocksize} frames @ {args.samplerate} Hz "
           f"({1000 * args.blocksize / args.samplerate:.2f} ms blocks), JACK dummy backend, GUI offscreen "
           f"at {args.fps:g} fps, queue of {len(SONG_RATES)} songs looping ({songs}), --mic with a singer (a JACK client "
           f"of its own, its thread real-time as a sound card's capture would be), "
           f"voice chain {rows[0]['voice_chain'] if rows else '-'}",
           f"machine: {cpu_name()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
           f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    out += notes
    hdr = (f"{'run':9s} {'min':>5s} {'songs':>6s} {'wraps':>6s} {'callbacks':>10s} {'misses':>7s} {'rtsep':>6s} "
           f"{'dropouts':>9s} {'jack xr d/c':>12s} {'RSS 1st end':>12s} {'RSS end':>8s} {'RSS max':>8s} "
           f"{'growth MB':>10s}")
    out += [hdr, "-" * len(hdr)]
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        out.append(f"{r['run']:9s} {r['seconds'] / 60:>5.1f} {r['songs_played']:>6d} {r['wraps']:>6d} "
                   f"{r['callbacks']:>10d} {r['deadline_misses']:>7d} {r['rtsep_misses']:>6d} {r['dropouts']:>9d} "
                   f"{str(r['server_xruns_driver']) + '/' + str(r['server_xruns_client']):>12s} "
                   f"{f(r['rss_first_song_end_mb']):>12s} {f(r['rss_end_mb']):>8s} {f(r['rss_max_mb']):>8s} "
                   f"{f(r['growth_mb']):>10s}")
    out.append("misses: blocks not ready in time (the host's deadline misses); rtsep: the GUI's 'rtsep misses' "
               "(misses + callbacks past their period); dropouts: PortAudio's xrun flags (the GUI's 'server "
               "xruns'); jack xr d/c: the JACK server's own reports, driver late / client late (by client and "
               "state below: PortAudio is rtsep, soak-singer the singer; Triggered: woken but not yet running at "
               "the deadline, Running: started and not finished)")
    for r in rows:
        out.append(f"{r['run']}: separator {r.get('ahead_model')}, stems "
                   f"{'kept on disk (fresh folder)' if r.get('stem_cache') else 'not kept'}: "
                   f"{r.get('songs_separated')} songs separated, {r.get('songs_cached')} from the cache, "
                   f"mode {'bypass' if r['run'] == 'bypassed' else 'karaoke'}"
                   f", first song ended at {r.get('first_song_end_s', '-')} s, fallback blocks {r['fallback_blocks']}, "
                   f"callback p99 {f(r['callback_pct_p99'])}% max {f(r['callback_pct_max'])}% of the block, "
                   f"GUI {r['gui'].get('fps_mean')} fps (min {r['gui'].get('fps_min')}), score {r.get('score')}"
                   + (f", garbage collections {r['gc']['collections']} (longest {r['gc']['max_ms']} ms, "
                      f"{r['gc']['collected_objects']} objects freed)" if r.get("gc") else "")
                   + (", client-late by client/state: " + " ".join(f"{k} {n}" for k, n in
                                                                   r["server_xruns_by_client"].items())
                      if r.get("server_xruns_by_client") else "")
                   + f", singer's thread {r.get('singer_scheduling', '-')}"
                   + (f", errors: {r['errors']}" if r["errors"] else "")
                   + (" (STOPPED EARLY)" if r["stopped_early"] else ""))
    if ev is not None:
        out.append(f"criterion 1, deadline misses == 0 (evening): {ev['deadline_misses']} -> "
                   f"{'PASS' if ev['deadline_misses'] == 0 else 'FAIL'}")
        if by is not None:
            ok = ev["dropouts"] <= by["dropouts"]
            out.append(f"criterion 2, dropouts evening <= bypassed: {ev['dropouts']} vs {by['dropouts']} -> "
                       f"{'PASS' if ok else 'FAIL'}")
        g = ev["growth_mb"]
        same = ev["growth_same_point_mb"]
        rss = floors(ev)
        rise = max(rss) - rss[0] if len(rss) > 1 else None
        out.append(f"criterion 3, RSS growth after the first song < {GROWTH_LIMIT_MB:g} MB (evening): "
                   + ("fewer than two passes after the first song -> NOT MEASURED" if rise is None else
                      f"{rise:.1f} MB (the highest floor of a pass through the queue - the first floor after the "
                      f"first song) -> {'PASS' if rise < GROWTH_LIMIT_MB else 'FAIL'}"))
        gcf = floors(ev, "gc_tracked")
        if gcf:
            out.append("objects the cyclic GC tracks, least of each pass after the first song (evening): "
                       + " ".join(str(v) for v in gcf))
        if rss:
            out.append("RSS floor of each pass after the first song (MB, evening): "
                       + " ".join(f"{v:.1f}" for v in rss)
                       + (f"; bypassed: {' '.join(f'{v:.1f}' for v in floors(by))}" if by is not None else ""))
        out.append("single readings, for comparison: "
                   + ("-" if g is None else f"end of run - end of first song {g:.1f} MB")
                   + ("" if same is None else f"; at the same point of the queue (the playhead moving onto song 2, "
                      f"last time - first time, {ev['wraps']} wraps later) {same:.1f} MB")
                   + ". RSS moves by up to ~250 MB with the song being separated at the moment (each song's stems, "
                   "frames x 6 float32: 46 MB for 40 s at 48 kHz; the decoded song; the network's buffers), "
                   "hence the floors")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of each run (default 30)")
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--fps", type=float, default=60.0, help="display rate (rtsep gui's default 60)")
    ap.add_argument("--song-seconds", type=float, default=40.0,
                    help="length of the first two songs (the third: 3/4 of it); default 40")
    ap.add_argument("--gui-priority", type=int, default=GUI_RT_PRIORITY,
                    help=f"the GUI thread's SCHED_FIFO priority beside a real-time server (0: normal; default "
                         f"{GUI_RT_PRIORITY}, rtsep gui's)")
    ap.add_argument("--runs", default="evening,bypassed", help="which runs, in order (default both)")
    ap.add_argument("--gc-every", type=float, default=None,
                    help="seconds between the stream's garbage collections (default: the host's, "
                    f"{realtime.GC_INTERVAL_S:g}; 0 = none, as before 2026-12-03)")
    ap.add_argument("--stem-cache", choices=("on", "off"), default="on",
                    help="keep the songs' stems on disk as rtsep gui does (default on; a fresh folder per run: "
                         "the first pass separates); off: every pass separates every song again")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--out", default="benchmarks/results/soak.txt", help="write the table here too")
    args = ap.parse_args(argv)
    args.stem_cache = args.stem_cache == "on"
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if args.minutes <= 0 or args.song_seconds < 2 or not runs or any(r not in ("evening", "bypassed") for r in runs):
        ap.error("--minutes must be > 0, --song-seconds >= 2 and --runs a list of evening, bypassed")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.gc_every is not None:
        realtime.GC_INTERVAL_S = max(0.0, args.gc_every)  # read when each host is built
    from rtsep.host.jack import have_jackd
    from rtsep.errors import one_line

    if not have_jackd():
        print("rtsep: error: jackd is not installed (apt-get install jackd2): nothing to measure", file=sys.stderr)
        return 2
    cleanup: list = []
    watchdog(len(runs) * (60.0 * args.minutes + 300.0) + 120.0, cleanup)
    tmp = Path(tempfile.mkdtemp(prefix="rtsep-soak-"))
    songs, voice = make_songs(tmp, args.song_seconds)
    chain, note = voice_chain_spec(args.samplerate, args.blocksize)
    notes = [f"note: {note}"] if note else []
    if note:
        print(f"soak: {note}", file=sys.stderr)
    rows = []
    try:
        for name in runs:
            print(f"soak: {name} run, {args.minutes:g} min", file=sys.stderr, flush=True)
            try:
                rows.append(run_one(name, args, songs, voice, chain, cleanup))
            except Exception as exc:  # noqa: BLE001 - the other run still runs; the table says so
                notes.append(f"{name} run FAILED: {type(exc).__name__}: {one_line(exc)}")
                print(f"soak: {notes[-1]}", file=sys.stderr, flush=True)
            time.sleep(1.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(rows, args, notes)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"blocksize": args.blocksize, "samplerate": args.samplerate,
                                               "minutes": args.minutes, "machine": cpu_name(),
                                               "cpus": os.cpu_count(), "rows": rows}, indent=1))
    return 0 if len(rows) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
