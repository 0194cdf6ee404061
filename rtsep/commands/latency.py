"""``rtsep latency``: measure the audio round trip through a loopback."""

from __future__ import annotations

import json
import sys

from ..errors import one_line


def add_parser(sub):
    p = sub.add_parser("latency", help="measure the round-trip latency through a loopback",
                       description="Play a log sweep on the output, record it on the input through a "
                                   "loopback cable (or, with --jack-loopback, the stream's own JACK ports "
                                   "wired out→in) and find it by cross-correlation, --repeat times. Reports "
                                   "the round trip, the part PortAudio attributes to device buffers, and the "
                                   "separator chain's algorithmic latency.")
    p.add_argument("--input-device", "-i", help="input device index or name part")
    p.add_argument("--output-device", "-o", help="output device index or name part")
    p.add_argument("--jack-loopback", action="store_true",
                   help="connect PortAudio:out_0 → PortAudio:in_0 on the JACK server (no cable)")
    p.add_argument("--iodelay", action="store_true",
                   help="with --jack-loopback: also run jack_iodelay on the server and compare")
    p.add_argument("--blocksize", type=int, default=256, help="frames per callback (default 256)")
    p.add_argument("--samplerate", type=int, help="stream rate (default: the device's)")
    p.add_argument("--repeat", type=int, default=5, help="number of measurements (default 5)")
    p.add_argument("--model", help="model whose algorithmic latency to report (default: the release model)")
    p.add_argument("--inline", action="store_true", help="report the chain latency of `rtsep live --inline`")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def chain_latency(rate: int, blocksize: int, model=None, inline: bool = False) -> dict:
    """Algorithmic latency of the live chain at ``rate`` (separator + worker hand-off)."""
    try:
        from ..plugins.separator import Separator

        sep = Separator(model, sample_rate=rate, channels=1, max_block=max(blocksize, 1024))
        alg = int(sep.latency_samples)
    except Exception as exc:  # report, don't fail the measurement
        return {"algorithmic_samples": None, "error": one_line(exc)}
    handoff = 0 if inline else blocksize + min(32, blocksize)
    return {"algorithmic_samples": alg, "algorithmic_ms": round(1000 * alg / rate, 3),
            "handoff_samples": handoff, "handoff_ms": round(1000 * handoff / rate, 3)}


def run(args) -> int:
    from ..host.latency import measure

    res = measure(args.input_device, args.output_device, blocksize=args.blocksize, repeat=args.repeat,
                  jack_loopback=args.jack_loopback, samplerate=args.samplerate)
    rate = res["sample_rate"]
    res["chain"] = chain_latency(rate, args.blocksize, args.model, args.inline)
    if res["chain"].get("algorithmic_samples") is not None:
        tot = res["round_trip_samples"] + res["chain"]["algorithmic_samples"] + res["chain"]["handoff_samples"]
        res["live_end_to_end_samples"] = round(tot, 2)
        res["live_end_to_end_ms"] = round(1000 * tot / rate, 3)
    if args.iodelay:
        if not args.jack_loopback:
            print("rtsep: note: --iodelay needs --jack-loopback; ignored", file=sys.stderr)
        else:
            from ..host.jack import run_iodelay

            iod = run_iodelay(2.5)
            res["jack_iodelay_samples"] = iod
            res["jack_iodelay_plus_portaudio_block"] = iod + res["portaudio_extra_block_samples"]
            res["agrees_with_jack_iodelay"] = abs(res["jack_iodelay_plus_portaudio_block"]
                                                  - res["round_trip_samples"]) <= 2.0
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"round trip: {res['round_trip_samples']:.1f} samples = {res['round_trip_ms']:.2f} ms at {rate} Hz "
          f"(median of {len(res['measurements'])}; min {res['min_samples']:.1f}, max {res['max_samples']:.1f}, "
          f"std {res['std_samples']:.2f})")
    print(f"  device buffers as PortAudio reports: {res['device_latency_samples']} samples = "
          f"{res['device_latency_ms']:.2f} ms (in {res['device_input_latency_samples']} + out "
          f"{res['device_output_latency_samples']})")
    if "jack_period" in res:
        print(f"  JACK loop: one server cycle {res['jack_loop_cycle_samples']} + PortAudio's block adaptation "
              f"{res['portaudio_extra_block_samples']} = {res['expected_samples']} expected")
    if "jack_iodelay_samples" in res:
        print(f"  jack_iodelay: {res['jack_iodelay_samples']:.1f} + PortAudio block "
              f"{res['portaudio_extra_block_samples']} = {res['jack_iodelay_plus_portaudio_block']:.1f} "
              f"({'agrees' if res['agrees_with_jack_iodelay'] else 'DISAGREES'})")
    ch = res["chain"]
    if ch.get("algorithmic_samples") is not None:
        print(f"  chain: algorithmic {ch['algorithmic_samples']} ({ch['algorithmic_ms']:.2f} ms) + worker hand-off "
              f"{ch['handoff_samples']} ({ch['handoff_ms']:.2f} ms) → live end to end "
              f"{res['live_end_to_end_samples']:.0f} samples = {res['live_end_to_end_ms']:.2f} ms")
    else:
        print(f"  chain latency unknown: {ch.get('error')}")
    if res["dropouts"]:
        print(f"  warning: {res['dropouts']} dropouts during the measurement")
    return 0
