"""``rtsep demo``: separate a clip this project synthesises; no data or sound card needed."""

from __future__ import annotations

import time
from pathlib import Path

import soundfile as sf

from ..filemode import separate_array
from ..io.audiofile import check_writable_dir
from ..model.registry import wants_unet


def add_parser(sub):
    p = sub.add_parser("demo", help="separate a built-in synthetic song and plot the result")
    p.add_argument("-o", "--outdir", default="rtsep-demo", help="output folder (default ./rtsep-demo)")
    p.add_argument("--model", help="'unet' (the default: the pretrained offline U-Net), or an ONNX model file "
                                   "or name in models/")
    p.add_argument("--latency", choices=("low", "quality"), default=None,
                   help="use a recurrent streaming model instead of the U-Net: quality (112 ms) or low (<= 12 ms)")
    p.add_argument("--wiener", action="store_true", help="U-Net: multichannel Wiener filter over its estimates")
    p.add_argument("--samplerate", type=int, default=44100, help="rate of the demo clip (default 44100)")
    p.add_argument("--no-plot", action="store_true", help="skip the spectrogram PNG")
    return p


def run(args) -> int:
    from ..demo_clip import make_demo_clip

    outdir = Path(args.outdir)
    check_writable_dir(outdir)
    clip = make_demo_clip(args.samplerate)
    if wants_unet(args.model, args.latency):
        res, card, delay = _separate_unet(clip["mixture"], args)
    else:
        from ..plugins.separator import Separator  # Numba: only for a recurrent model

        sep = Separator(model=args.model, sample_rate=args.samplerate, channels=2, mode="vocals",
                        latency=args.latency or "quality")
        sep(clip["mixture"][:8192])  # compile/load the jitted kernels first: time the separation only
        t0 = time.perf_counter()
        res = separate_array(clip["mixture"], args.samplerate, separator=sep)
        res.extra["seconds"] = time.perf_counter() - t0
        card = sep.card
        delay = (f"{sep.latency_samples} samples = {1000 * sep.latency_samples / args.samplerate:.2f} ms "
                 f"at {args.samplerate} Hz")
    dt = res.extra["seconds"]
    written = []
    for name, audio in (("mixture", clip["mixture"]), ("vocals", res.vocals), ("accompaniment", res.accompaniment),
                        ("true-vocals", clip["vocals"]), ("true-accompaniment", clip["accompaniment"])):
        path = outdir / f"{name}.wav"
        tmp = outdir / f".{name}.tmp.wav"
        sf.write(tmp, audio, args.samplerate, subtype="FLOAT")
        tmp.replace(path)
        written.append(path)
    dur = len(clip["mixture"]) / args.samplerate
    print(f"model   : {card.name}{' (UNTRAINED PLACEHOLDER)' if card.placeholder else ''}")
    print(f"latency : {delay}")
    print(f"speed   : {dur:.1f} s of audio in {dt:.2f} s ({dur / dt:.0f}x real time)")
    try:
        import numpy as np
        sdr = 10 * np.log10(np.sum(clip["vocals"] ** 2) / np.sum((clip["vocals"] - res.vocals) ** 2))
        print(f"vocal SDR vs. the true stem: {sdr:.1f} dB (mixture: "
              f"{10 * np.log10(np.sum(clip['vocals'] ** 2) / np.sum(clip['accompaniment'] ** 2)):.1f} dB)")
    except Exception:
        pass
    if not args.no_plot:
        from ..plot import plot_spectrograms
        png = plot_spectrograms({"mixture": clip["mixture"], "separated vocals": res.vocals,
                                 "separated accompaniment": res.accompaniment}, args.samplerate,
                                outdir / "spectrograms.png", res.vad, res.vad_times_s, res.vad_threshold,
                                title=f"rtsep demo - model {card.name}, latency {delay}")
        written.append(png)
    print("wrote   : " + ", ".join(str(p) for p in written))
    return 0


def _separate_unet(mixture, args):
    """The offline U-Net over the whole clip: (result without vocal activity, card, delay text)."""
    import numpy as np

    from ..filemode import SeparationResult
    from ..unet import UNetSeparator

    sep = UNetSeparator(args.samplerate, mixture.shape[1], wiener=args.wiener, model=args.model)
    t0 = time.perf_counter()
    vocals, accomp = sep.separate(mixture)
    res = SeparationResult(vocals, accomp, np.zeros(0, np.float32), np.zeros(0), 0, args.samplerate,
                           sep.nonfinite_samples, extra={"seconds": time.perf_counter() - t0})
    return res, sep.card, f"offline ({sep.ahead_samples / args.samplerate:.1f} s of song separated ahead)"
