"""``rtsep live``: stream an input device (or a file) through the separator to an output."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import RtsepError


def add_parser(sub):
    p = sub.add_parser("live", help="real-time karaoke / vocal monitoring through an audio device",
                       description="Stream input → separator → output in real time. Ctrl-C or --duration "
                                   "stops; a summary (callbacks, dropouts, deadline misses, callback load, "
                                   "latency) is printed at exit.")
    p.add_argument("--input-device", "-i", help="input device index or name part (default: system default)")
    p.add_argument("--output-device", "-o", help="output device index or name part (default: system default)")
    p.add_argument("--source", nargs="+", action=_Sources, metavar="SONG",
                   help="play this audio file as the input (karaoke from a song); several files, a folder or "
                        "an M3U playlist make a queue, played one after the other without a gap")
    p.add_argument("--loop", action="store_true",
                   help="play the --source round and round: a song from its start again, a queue from its "
                        "first song again after the last")
    p.add_argument("--stem-cache", metavar="DIR|off",
                   help="keep the songs' stems in this folder, so a song that comes round again (the queue "
                        "loops, a song sung twice, next week's catalogue) plays without being separated again "
                        "(default: ~/.cache/rtsep/stems, or $RTSEP_STEM_CACHE; the least recently played go "
                        "past 4 GB); off: separate every time")
    p.add_argument("--key", type=float, default=0.0, metavar="N",
                   help="move the song's key by N semitones, -6..+6 (the pitch guide and the score follow)")
    p.add_argument("--tempo", type=float, default=1.0, metavar="R",
                   help="play the song at R times its speed, 0.5..1.5 (pitch kept; the guide's timeline follows)")
    p.add_argument("--mode", choices=("karaoke", "vocals", "mix", "bypass"), default="karaoke",
                   help="karaoke = accompaniment, vocals = voice only (monitoring), mix = both with "
                        "--vocals-db/--accompaniment-db, bypass = latency-matched dry (default karaoke)")
    p.add_argument("--vocals-db", type=float, default=0.0, help="vocals gain in mix mode (dB)")
    p.add_argument("--accompaniment-db", type=float, default=0.0, help="accompaniment gain in mix mode (dB)")
    p.add_argument("--model", help="unet (the default with --source: the song is separated ahead of the "
                                   "playhead), or a recurrent ONNX model file or name (streamed)")
    p.add_argument("--method", choices=("net", "repet", "center"), default="net",
                   help="net: the mask network (default); repet: online REPET-SIM; center: centre-channel "
                        "cancellation (stereo, zero latency)")
    p.add_argument("--latency", metavar="low|quality|TIME",
                   help="latency budget: low (the 11.94 ms recurrent model), quality (the 111.94 ms one) or a "
                        "time such as 150ms, 0.3s, 1s: the best separator whose true delay fits (from about "
                        "0.15 s the streaming U-Net; the output is silent until its pipeline has filled). "
                        "Streams instead of separating a --source ahead (default without --source: low)")
    p.add_argument("--precision", choices=("int8", "float32"), default="int8",
                   help="the recurrent model's dense layers per frame: int8 (default; a quarter less time per "
                        "frame, the same separation to 0.01 dB) or float32 (as trained: file mode's output)")
    p.add_argument("--switchable", action="store_true",
                   help="run the low and quality models side by side (aligned to the quality latency) so "
                        "the GUI or API can switch between them mid-stream")
    p.add_argument("--blocksize", type=int, default=256, help="frames per callback (default 256)")
    p.add_argument("--samplerate", type=int, help="stream rate (default: the device's)")
    p.add_argument("--channels", type=int, default=2, help="channels processed (default 2)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--inline", action="store_true",
                   help="run the separator inside the audio callback instead of on a worker thread "
                        "(one block less latency, no dry fallback on overload)")
    p.add_argument("--mic", action="store_true",
                   help="with --source: mix the input device's microphone into the output (karaoke: sing along)")
    p.add_argument("--mic-channel", type=int, default=0, metavar="N",
                   help="input channel of the microphone, 0-based (default 0)")
    p.add_argument("--mic-db", type=float, default=0.0, metavar="X", help="microphone gain in dB (default 0)")
    p.add_argument("--voice-chain", metavar="SPEC",
                   help="plugins the microphone runs through, e.g. "
                        "'lv2(\"http://plugin.org.uk/swh-plugins/gverb\", roomsize=20), gain(-3)'")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    return p


class _Sources(argparse.Action):
    """``--source`` keeps one item as a string (a file) and several as a list (a queue)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def song_source(args, *, always_queue: bool = False):
    """The host's ``source`` from ``--source``/``--key``/``--tempo``: a path as before, or a
    :class:`~rtsep.host.queue.SongQueue` (several songs, a folder, a playlist, a key or a tempo;
    ``always_queue``: a single song too, when it is separated ahead, for the GUI's controls)."""
    from ..host.keytempo import check_key, check_tempo

    key, tempo = check_key(getattr(args, "key", 0.0)), check_tempo(getattr(args, "tempo", 1.0))
    src = args.source
    if src is None:
        if key or tempo != 1.0:
            raise RtsepError("--key and --tempo need --source SONG")
        if getattr(args, "loop", False):
            raise RtsepError("--loop needs --source SONG")
        return None
    items = [src] if isinstance(src, str) else list(src)
    from pathlib import Path

    from ..host.queue import PLAYLIST_EXTENSIONS, SongQueue

    one_file = len(items) == 1 and not Path(items[0]).is_dir() and \
        Path(items[0]).suffix.lower().lstrip(".") not in PLAYLIST_EXTENSIONS
    chain = (args.model not in (None, "unet") or getattr(args, "method", "net") != "net"
             or getattr(args, "switchable", False) or getattr(args, "latency", None) is not None)
    if one_file and (chain or not always_queue) and not key and tempo == 1.0:
        return items[0]
    if chain:
        raise RtsepError("a queue of songs, --key and --tempo need the songs separated ahead: "
                         "leave out --model, --method, --latency and --switchable")
    from ..host.stem_cache import StemCache

    return SongQueue.from_items(items, key=key, tempo=tempo, loop=bool(getattr(args, "loop", False)),
                                stem_cache=StemCache.from_option(getattr(args, "stem_cache", None)))


def print_songs(rows, file) -> None:
    """One line per song of a queue: title, duration, ahead_s, score, state."""
    for i, r in enumerate(rows, 1):
        dur = "-" if r["duration"] is None else f"{r['duration']:.1f} s"
        ahead = "-" if r["ahead_s"] is None else f"{r['ahead_s']:.1f} s"
        score = "-" if r["score"] is None else f"{r['score']:.1f}"
        print(f"  {i:2d}. {r['title']}: {dur}, {r['state']}, separated ahead {ahead}, score {score}", file=file)


def mic_options(args) -> dict:
    """The LiveHost keyword arguments of the microphone options (shared with ``rtsep gui``)."""
    if not getattr(args, "mic", False):
        if getattr(args, "voice_chain", None) or getattr(args, "mic_db", 0.0) or getattr(args, "mic_channel", 0):
            raise RtsepError("--voice-chain, --mic-db and --mic-channel need --mic")
        return {}
    return {"mic": True, "mic_channel": args.mic_channel, "mic_db": args.mic_db, "voice_chain": args.voice_chain}


def _fmt_ms(x):
    return "-" if x is None else f"{x:.1f}%"


def run(args) -> int:
    from ..host.stream import LiveHost

    if args.duration is not None and args.duration <= 0:
        raise RtsepError("--duration must be > 0")
    if args.latency is not None:
        from ..latency_budget import parse_budget

        parse_budget(args.latency)  # bad text: one line before any device opens
    source = song_source(args)
    host = LiveHost(input_device=args.input_device, output_device=args.output_device, source=source,
                    samplerate=args.samplerate, blocksize=args.blocksize, channels=args.channels,
                    mode=args.mode, vocals_db=args.vocals_db, accompaniment_db=args.accompaniment_db,
                    model=args.model, operating_point=args.latency, worker=not args.inline,
                    method=args.method, switchable=args.switchable, precision=args.precision,
                    **mic_options(args))
    if args.loop:  # a single song played from a path (a queue already loops)
        host.source.loop = True
    log = sys.stderr if args.json else sys.stdout
    for note in host.notes:
        print(f"rtsep: note: {note}", file=log)
    try:
        host.start()
    except BaseException:
        host.close()  # its threads and child processes (--mic's pitch tracker) would hold up the exit
        raise
    lat = host.latency()
    src = f"file {host.source.path}" if host.source else f"input device {host.input_device}"
    if getattr(host.source, "queue", None) is not None:
        src = f"a queue of {len(host.source.queue)} songs from {host.source.path}"
    if host.ahead is not None:
        how = f"separated ahead by {host.ahead.producer.name} ({host.ahead.producer.speed_x:.0f}x real time)"
    else:
        how = "worker thread" if host.worker else "inline"
    mic = f", microphone in {host.input_device} ch {host.mic.channel}" if host.mic is not None else ""
    print(f"streaming {src}{mic} → output device {host.output_device}: {host.sample_rate} Hz, "
          f"{host.blocksize} frames ({1000 * host.blocksize / host.sample_rate:.2f} ms), mode {host.mode}, "
          f"{how}; latency {lat['total_ms']:.1f} ms "
          f"(algorithmic {lat['algorithmic_ms']:.1f} + hand-off {lat['handoff_ms']:.1f} + "
          f"device {lat['device_ms']:.1f}). Ctrl-C stops.", file=log, flush=True)
    if host.separator is not None and host.separator.card.placeholder:
        print("rtsep: note: the model is an untrained placeholder: it does not really separate", file=log)
    queue = getattr(host.source, "queue", None)
    said = [0]

    def tell(_host):  # a song of the queue that could not be played: one line each
        for line in queue.messages[said[0]:]:
            print(f"rtsep: note: {line}", file=log, flush=True)
        said[0] = len(queue.messages)

    try:
        reason = host.run(args.duration, on_tick=tell if queue is not None else None)
    finally:
        host.close()
    if queue is not None:
        tell(host)
    s = host.summary(skip=8)
    s["stopped"] = reason
    if queue is not None:
        c = queue.controls
        p = host.ahead.producer if host.ahead else None
        s.update({"key": c.key, "tempo": c.tempo, "songs": queue.rows(),
                  "render_speed_x": round(p.render_speed_x, 1) if p else None,
                  # songs separated whole this run / played from the stem cache (--stem-cache)
                  "songs_separated": p.songs_separated if p else None,
                  "songs_cached": p.songs_cached if p else None,
                  "stem_cache": queue.stem_cache.folder if queue.stem_cache else None})
    if hasattr(host.separator, "compute_load"):  # --latency TIME: the streaming U-Net's worker
        s["unet_worker"] = host.separator.compute_load()
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"stopped ({reason}): {s['callbacks']} callbacks, {s['dropouts']} dropouts "
          f"(in under/over {s['input_underflows']}/{s['input_overflows']}, out under/over "
          f"{s['output_underflows']}/{s['output_overflows']}), {s['deadline_misses']} deadline misses, "
          f"{s['fallback_blocks']} dry-fallback blocks")
    print(f"callback time (% of the {s['block_period_ms']} ms block): p50 {_fmt_ms(s['callback_pct_p50'])}, "
          f"p99 {_fmt_ms(s['callback_pct_p99'])}, max {_fmt_ms(s['callback_pct_max'])}")
    if "ahead_s" in s:
        print(f"separated ahead by {s['ahead_model']}: at least {s['ahead_s']} s ahead of the playhead")
    if host.mic is not None:
        score = "-" if s.get("score") is None else f"{s['score']:.1f}"
        print(f"microphone: {s['mic_latency_samples']} samples to the output (one block + the voice chain); "
              f"score {score}")
    if queue is not None:
        print(f"queue: {len(queue)} songs, key {queue.controls.key:+g} semitones, tempo {queue.controls.tempo:g}")
        print_songs(s["songs"], sys.stdout)
    print(f"end-to-end latency {lat['total_samples']} samples = {lat['total_ms']:.2f} ms: algorithmic "
          f"{lat['algorithmic_samples']} + hand-off {lat['handoff_samples']} + device in "
          f"{lat['device_input_samples']} + out {lat['device_output_samples']} (as PortAudio reports)")
    return 0
