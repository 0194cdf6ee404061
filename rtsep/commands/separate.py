"""``rtsep separate``: split files into vocals.wav and accompaniment.wav."""

from __future__ import annotations

import sys
import time

from ..errors import RtsepError
from ..filemode import FileSeparator, expand_inputs, output_paths, prepare_outdir

STEMS_BY_MODE = {"both": ("vocals", "accompaniment"), "karaoke": ("accompaniment",), "vocals": ("vocals",)}


def add_parser(sub):
    p = sub.add_parser("separate", help="separate audio files into vocals and accompaniment",
                       description="Run the streaming separator over files, faster than real time. Writes "
                                   "OUTDIR/<name>/vocals.wav and accompaniment.wav, aligned to the input.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders of audio files")
    p.add_argument("-o", "--outdir", default="separated", help="output folder (default: ./separated)")
    p.add_argument("--model", help="'unet' (the default: the pretrained offline U-Net), or an ONNX model file "
                                   "or name in models/")
    p.add_argument("--wiener", action="store_true",
                   help="U-Net: multichannel Wiener filter over its estimates (norbert)")
    p.add_argument("--full-band", action="store_true",
                   help="U-Net: keep the mixture above 11 kHz in the accompaniment (Spleeter drops it from both stems)")
    p.add_argument("--method", choices=("net", "repet", "rpca", "center"), default="net",
                   help="net: the mask network (default); repet: online REPET-SIM; rpca: robust PCA; "
                        "center: centre-channel cancellation (stereo)")
    p.add_argument("--latency", metavar="low|quality|TIME", default=None,
                   help="separate as a live stream would instead of with the offline U-Net: low (the 11.94 ms "
                        "recurrent model), quality (the 111.94 ms one) or a latency budget such as 150ms, 0.3s, "
                        "1s (the best separator whose true delay fits; the streaming U-Net from about 0.15 s): "
                        "the stems equal what `rtsep live --latency` outputs, aligned to the input")
    p.add_argument("--mode", choices=("both", "karaoke", "vocals"), default="both",
                   help="which stems to write: both (default), karaoke = accompaniment only, vocals only")
    p.add_argument("--blocksize", type=int, default=16384,
                   help="frames per streaming step of a recurrent model (default 16384; any size gives the same "
                        "stems within float rounding)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--plot", action="store_true", help="also write spectrograms.png beside the stems")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, metavar="N",
                   help="separate N files at a time in N local processes (with --ray: at most N at a time)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run one task per file on an existing Ray cluster: 'auto' (the one `ray start` brought "
                        "up on this machine), HOST:PORT or ray://HOST:10001; inputs and OUTDIR must be on storage "
                        "every node sees (pip install \"rtsep[cluster]\"; see docs/cluster.md)")
    p.add_argument("--json", action="store_true",
                   help="end with one JSON summary: files, seconds of audio, x real time, failures")
    return p


def run(args) -> int:
    if args.latency is not None:
        from ..latency_budget import parse_budget

        args.latency = parse_budget(args.latency).text  # bad text: one line, before any file
    paths = expand_inputs(args.inputs)
    outdir = prepare_outdir(args.outdir)
    # FileSeparator's options, the same for a local run and every task of a batch job.
    options = dict(model=args.model, blocksize=args.blocksize, latency=args.latency, method=args.method,
                   wiener=args.wiener, full_band=args.full_band)
    if args.ray or args.workers is not None or args.json:
        return _run_job(args, paths, outdir, options)
    fs = FileSeparator(progress=not args.quiet, **options)
    failed = 0
    placeholder = False
    for path in paths:
        outs = output_paths(outdir, path, STEMS_BY_MODE[args.mode])
        existing = [p for p in outs.values() if p.exists()]
        if existing and not args.force:
            print(f"skipped {path}: {existing[0]} exists (use --force to overwrite)")
            continue
        t0 = time.perf_counter()
        try:
            outs, res = fs.separate(path, outdir, stems=STEMS_BY_MODE[args.mode])
        except RtsepError as exc:
            print(f"rtsep: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        dt = time.perf_counter() - t0
        dur = res.extra["duration_s"]
        placeholder |= bool(getattr(res.extra.get("card"), "placeholder", False))
        note = f", {res.nonfinite_samples} NaN/Inf samples zeroed" if res.nonfinite_samples else ""
        if args.plot:
            from ..plot import plot_separation
            png = plot_separation(path, outs, res, outdir / path.stem / "spectrograms.png")
            note += f", plot {png}"
        names = ",".join(outs)
        print(f"{path} -> {next(iter(outs.values())).parent}/{{{names}}}.wav "
              f"({dur:.1f} s in {dt:.2f} s, {_speed(dur / max(dt, 1e-9))} real time{note})")
    if placeholder:
        print("note: the model used is the untrained placeholder; separation quality is meaningless",
              file=sys.stderr)
    if failed:
        print(f"rtsep: {failed} of {len(paths)} input(s) failed", file=sys.stderr)
        return 1
    return 0


def _speed(x: float) -> str:
    """``48x``; below 10x one decimal (a streaming U-Net budget runs near real time)."""
    return f"{x:.0f}x" if x >= 10 else f"{x:.1f}x"


def _run_job(args, paths, outdir, options) -> int:
    """One task per file on a backend (rtsep.batch, rtsep.cluster): one bar, one summary."""
    from ..batch import InlineBackend, JobSpec, ProcessBackend, run_and_report

    spec = JobSpec.create(outdir, STEMS_BY_MODE[args.mode], options, force=args.force, plot=args.plot)
    if args.ray:
        from ..cluster import RayBackend
        backend = RayBackend(args.ray, max_in_flight=args.workers)
    elif args.workers is not None:
        backend = ProcessBackend(args.workers)
    else:
        backend = InlineBackend()
    return run_and_report(paths, spec, backend, as_json=args.json, progress=not args.quiet)
