"""``rtsep info``: the chain, the model card, the STFT setup and the algorithmic latency."""

from __future__ import annotations

import json

from ..errors import RtsepError
from ..model.registry import wants_unet


def add_parser(sub):
    p = sub.add_parser("info", help="show the model, STFT setup and algorithmic latency")
    p.add_argument("--model", help="ONNX model file or name in models/, or 'unet' (the offline U-Net, default "
                                   "for files) (default: the release model of --latency)")
    p.add_argument("--latency", default="low", metavar="low|quality|TIME",
                   help="operating point whose default model to show (default low: live input), or a latency "
                        "budget such as 150ms, 0.3s, 1s: which separator it picks, its window, look-ahead, step, "
                        "delay and the CPU it needs on this machine (measured now)")
    p.add_argument("--samplerate", type=int, default=48000, help="stream rate to describe (default 48000)")
    p.add_argument("--channels", type=int, default=2, help="stream channels (default 2)")
    p.add_argument("--precision", choices=("int8", "float32"), default="int8",
                   help="the live host's network precision to describe (as `rtsep live --precision`)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args) -> int:
    from ..latency_budget import is_budget, parse_budget

    args.latency = parse_budget(args.latency).text  # bad text: one line
    if is_budget(args.latency):
        if args.model is not None:
            raise RtsepError("--latency with a time picks the model itself: drop --model")
        return _budget_info(args)
    if args.model is not None and wants_unet(args.model, None):
        return _unet_info(args)
    from ..plugins.separator import Separator  # Numba: only for a recurrent model

    # as the live host builds it: one call per frame, the network in --precision
    sep = Separator(model=args.model, sample_rate=args.samplerate, channels=args.channels, latency=args.latency,
                    live=True, precision=args.precision, max_block=1024)
    d = sep.describe()
    d["chain"] = ["Separator"]
    d["operating_point"] = "custom model" if args.model else args.latency
    if args.json:
        print(json.dumps(d))
        return 0
    m, s = d["model"], d["stft"]
    print(f"chain        : {' -> '.join(d['chain'])}")
    print(f"operating pt : {d['operating_point']}")
    print(f"model        : {m['name']} ({m['path']}){'  [UNTRAINED PLACEHOLDER]' if m['placeholder'] else ''}")
    if m.get("description"):
        print(f"               {m['description']}")
    print(f"model rate   : {m['sample_rate']} Hz, n_fft {m['n_fft']}, hop {m['hop']}, "
          f"synthesis {m['synthesis_len']} samples")
    for key in ("params", "license"):
        if key in m:
            print(f"{key:<13}: {m[key]}")
    print(f"stream       : {d['sample_rate']} Hz, {d['channels']} channel(s)")
    print(f"stream STFT  : {s['window']} window, n_fft {s['n_fft']}, hop {s['hop']}, "
          f"synthesis {s['synthesis_len']}")
    print(f"latency      : {d['latency_samples']} samples = {d['latency_ms']:.2f} ms (algorithmic)")
    print(f"live network : {d['network_precision']} (one call per frame; files: float32)")
    return 0


def _unet_info(args) -> int:
    """The offline U-Net: card, licence, source, and the song time a player separates ahead."""
    from ..unet import UNetSeparator

    d = UNetSeparator(args.samplerate, args.channels, model=args.model).describe()
    d["chain"] = ["UNetSeparator"]
    d["operating_point"] = "files (offline U-Net)"
    if args.json:
        print(json.dumps(d))
        return 0
    m = d["model"]
    print(f"chain        : {' -> '.join(d['chain'])}")
    print(f"operating pt : {d['operating_point']}")
    print(f"model        : {m['name']} ({m['path']})")
    print(f"               {m['description']}")
    print(f"source       : {m['source']}")
    print(f"license      : {m['license']}")
    print(f"params       : {m['params']}")
    print(f"model rate   : {m['sample_rate']} Hz, n_fft {m['n_fft']}, hop {m['hop']}, {m['bins']} bins, "
          f"segments of {m['segment_frames']} frames")
    print(f"stream       : {d['sample_rate']} Hz, {d['channels']} channel(s)"
          f"{' (resampled to 44100 Hz and back)' if d['resampled'] else ''}")
    print(f"latency      : offline; a player needs {d['ahead_samples']} samples = {d['ahead_s']:.2f} s of the "
          "song separated ahead of the playhead (one segment)")
    return 0


def _budget_info(args) -> int:
    """``--latency TIME``: the separator the budget picks at ``--samplerate``, its delays and the CPU
    it needs here (measured now, a second or two)."""
    from ..latency_budget import choose, measure_load

    choice = choose(args.latency, args.samplerate, args.channels)
    d = choice.describe()
    d["channels"] = args.channels
    d["cpu"] = measure_load(choice, args.channels)
    if args.json:
        print(json.dumps(d))
        return 0
    cpu = d["cpu"]
    print(f"budget       : {d['budget']} ({d['budget_ms']:.1f} ms)")
    print(f"separator    : {d['model']}" + (f", ladder point {d['ladder_point']}" if choice.is_unet else
                                             f" (operating point {d['operating_point']})"))
    if choice.is_unet:
        print(f"window       : {d['window_frames']} frames, look-ahead {d['lookahead_frames']}, step "
              f"{d['step_frames']} (hop 1024 at 44.1 kHz; {d['step_samples']} samples per step here)")
        print(f"expected SDR : vocals {d['expected_sdr_db']['vocals']:.2f} dB, accompaniment "
              f"{d['expected_sdr_db']['accompaniment']:.2f} dB (the ladder's song figures)")
    print(f"stream       : {d['sample_rate']} Hz, {d['channels']} channel(s)")
    print(f"delay        : {d['delay_samples']} samples = {d['delay_ms']:.2f} ms (algorithmic "
          f"{d['algorithmic_samples']} = {d['algorithmic_ms']:.2f} ms + compute allowance "
          f"{d['allowance_samples']} = {d['allowance_ms']:.2f} ms); the output is silent until it has passed")
    if choice.is_unet:
        print(f"cpu          : {100 * cpu['load']:.0f}% of the step time per step (median; worst "
              f"{100 * cpu['load_max']:.0f}%), {cpu['compute_ms_median']:.1f} ms of a {cpu['step_ms']:.1f} ms "
              f"step on {cpu['threads']} thread(s); {cpu['method']}")
    else:
        print(f"cpu          : {100 * cpu['load']:.1f}% of one core; {cpu['method']}")
    return 0
