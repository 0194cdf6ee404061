"""``rtsep devices``: the audio devices PortAudio sees."""

from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("devices", help="list audio input and output devices",
                       description="List the audio devices PortAudio sees: index, name, host API, "
                                   "input/output channels and default sample rate. Pass the index or "
                                   "part of the name to `rtsep live --input-device/--output-device`.")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    return p


def run(args) -> int:
    from ..host import audio

    devs = audio.list_devices()
    sd = audio.sd()
    d_in, d_out = sd.default.device
    if args.json:
        print(json.dumps(devs))
        return 0
    if not devs:
        print("no audio devices found (no sound card, and no JACK server running?)")
        return 0
    print(f"{'':2}{'#':>3}  {'name':<32} {'host API':<28} {'in':>3} {'out':>3} {'rate':>7}")
    for d in devs:
        mark = (">" if d["index"] == d_in else " ") + ("<" if d["index"] == d_out else " ")
        print(f"{mark}{d['index']:>3}  {d['name'][:32]:<32} {d['hostapi'][:28]:<28} "
              f"{d['max_input_channels']:>3} {d['max_output_channels']:>3} {d['default_samplerate']:>7.0f}")
    print("> default input, < default output")
    return 0
