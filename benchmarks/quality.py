"""Separation quality of the shipped models, run through rtsep's own streaming engine.

MIR-1K protocol (Hsu & Jang 2010; Huang et al. 2014): the 825 test clips (17 singers not in the
training list) mixed at 0 dB vocal-to-accompaniment ratio; GNSDR/GSIR/GSAR of the vocal and the
accompaniment estimate (BSS Eval v3, 512-tap filters, length-weighted means; NSDR = SDR(est) -
SDR(mixture)). Rows: the mixture itself, the oracle ideal ratio mask |V|/(|V|+|A|) through the
models' STFT (upper bound of a real mask at this latency), the published results, every model
(``rtsep.filemode.separate_array``: blocks of 4096 samples through the Separator plugin), and the
classic methods of ``rtsep.methods.BENCHMARK_METHODS`` where available. Vocal activity:
``result.vad`` scored against the MIR-1K vocal/non-vocal labels. Also SDR/SIR/SAR (1 s frames,
median) on the 44.1 kHz stereo song in ../shared/data/songs/ultimate-nz-tour.

BSS Eval is computed with ``rtsep.train.metrics.BssEval`` (identical to
``mir_eval.separation.bss_eval_sources`` to 1e-3 dB, see tests/test_metrics.py, ~25x faster
because the references' Gram matrix is factored once per clip); ``--mir-eval`` uses mir_eval.

    python benchmarks/quality.py            # all 825 clips (~10-20 min on 2 cores)
    python benchmarks/quality.py --quick    # every 8th clip
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SR = 16000
PUBLISHED = [  # vocal GNSDR / GSIR / GSAR, Huang et al. ISMIR 2014 (MIR-1K README)
    ("RPCA (Huang 2012)", 3.15, 4.43, 11.09),
    ("RPCAh+FASST", 3.84, 6.22, 9.19),
    ("MLRR", 3.85, 5.63, 10.70),
    ("RNMF", 4.97, 7.66, 10.03),
    ("DNN (Huang 2014)", 6.93, 10.99, 10.15),
    ("DRNN-2 + discrim (Huang 2014)", 7.45, 13.08, 9.68),
]
# Models these files held before (2026-11-30), kept as published figures (this script, all 825
# clips; the weights are in the git history): label, vocal GNSDR/GSIR/GSAR, accomp.
# GNSDR/GSIR/GSAR, VAD accuracy/F1/precision/recall (at VAD_THRESHOLD unless a fifth value gives
# the model's own threshold), song rows.
PREVIOUS = [
    ("mir1k-protocol.onnx, mono (until 2026-11-30)", (6.40, 10.65, 9.43), (6.16, 8.74, 11.07),
     (0.768, 0.837, 0.928, 0.763), None),
    ("release-low.onnx, mono (until 2026-11-30; trained on test-set singers: not a protocol result)",
     (7.94, 11.32, 11.34), (8.39, 12.02, 11.46), (0.832, 0.888, 0.930, 0.850),
     ((1.63, 5.20, 5.99), (8.99, 9.49, 19.84))),
    ("mir1k-protocol.onnx, stereo, before distillation (until 2026-11-30 evening)", (6.53, 10.59, 9.73),
     (6.41, 9.28, 10.87), (0.832, 0.894, 0.882, 0.907, 0.10), None),
    ("mir1k-protocol.onnx, distilled from the 112 ms model, CPU (until 2026-12-04)", (6.68, 11.00, 9.65),
     (6.47, 9.26, 10.99), (0.830, 0.892, 0.891, 0.893, 0.10), None),
]
from rtsep.plugins.separator import VAD_THRESHOLD  # noqa: E402

DEFAULT_MODELS = ["models/mir1k-protocol.onnx", "models/mir1k-protocol-quality.onnx", "models/release-low.onnx",
                  "models/release-quality.onnx"]

LIVE_MODELS = ["models/mir1k-protocol.onnx", "models/release-low.onnx"]

_W: dict = {}


def _init_worker(args_dict):
    from rtsep.train.data import load_mir1k

    warnings.simplefilter("ignore")
    _W["args"] = args_dict
    _W["data"] = load_mir1k(args_dict["data"], progress=False)
    _W["seps"] = {}


def _separator(path, live=False):
    """File mode, or ``live``: the live host's path (one call per frame, int8 dense layers)."""
    from rtsep.plugins.separator import Separator

    key = (path, live)
    if key not in _W["seps"]:
        _W["seps"][key] = Separator(model=path, sample_rate=SR, channels=1, mode="vocals", max_block=4096, live=live)
    return _W["seps"][key]


def _unet(wiener, sample_rate=SR, channels=1):
    """The offline U-Net (rtsep.unet), one per setting and worker; MIR-1K clips are resampled
    to its 44.1 kHz and back by its own pipeline."""
    from rtsep.unet import UNetSeparator

    key = ("unet", wiener, sample_rate, channels)
    if key not in _W.setdefault("seps", {}):
        _W["seps"][key] = UNetSeparator(sample_rate, channels, wiener=wiener, threads=1)
    return _W["seps"][key]


def _oracle_irm(mix, v, a, n_fft, hop, m):
    """Ideal ratio mask |V|/(|V|+|A|) applied through the engine's StreamingStft."""
    from rtsep.dsp.stft import StreamingStft

    lat = m - 1
    pad = np.zeros(lat, np.float32)
    st = [StreamingStft.from_setup(n_fft, hop, m, 1, max_block=len(mix) + lat) for _ in range(3)]
    x = [np.ascontiguousarray(np.concatenate([s, pad])[:, None]) for s in (mix, v, a)]
    k = [s.analyze(xx) for s, xx in zip(st, x)]
    M, V, A = (s.spec[:k[0], 0] for s in st)
    mask = np.abs(V) / (np.abs(V) + np.abs(A) + 1e-12)
    st[0].spec[:k[0], 0] = M * mask
    st[0].synthesize(st[0].spec, k[0])
    out = np.zeros((len(x[0]), 1), np.float32)
    st[0].read(out, len(x[0]))
    ve = out[lat:lat + len(mix), 0]
    return ve, mix - ve


def _score(bss, ests):
    if _W["args"]["mir_eval"]:
        import mir_eval

        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(bss, np.asarray(ests), compute_permutation=False)
        return sdr, sir, sar
    return bss(np.asarray(ests, np.float64))


def clip_task(task):
    """Scores of every system on one test clip; returns {row: (len, sdr[2], sir[2], sar[2])}, vad counts."""
    from rtsep.train.data import activity_at_labels, mixture_at_0db, read_vad_labels
    from rtsep.train.metrics import BssEval

    name, idx = task
    args = _W["args"]
    d = _W["data"]
    v, a, mix = mixture_at_0db(*d.clip(name))
    refs = np.stack([v, a])
    bss = refs if args["mir_eval"] else BssEval(refs)
    out, vad = {}, {}
    out["Mixture"] = _score(bss, [mix, mix])
    for setup in args["stfts"]:
        ve, ae = _oracle_irm(mix, v.astype(np.float32), a.astype(np.float32), *setup)
        out[f"Oracle IRM {setup}"] = _score(bss, [ve, ae])
    labels = read_vad_labels(Path(args["mir1k"]) / "labels" / "vocal-nonvocal" / f"{name}.vocal")
    for path, thr in args["models"]:
        from rtsep.filemode import separate_array

        res = separate_array(mix[:, None], SR, separator=_separator(path), blocksize=4096)
        out[path] = _score(bss, [res.vocals[:, 0], res.accompaniment[:, 0]])
        act = activity_at_labels(res.vad, res.vad_times_s, len(labels))
        lab = labels > 0
        counts = []
        for thr in (res.vad_threshold, VAD_THRESHOLD):  # the model's own threshold (the GUI's), and 0.5
            pred = act >= thr
            counts += [np.sum(pred & lab), np.sum(pred & ~lab), np.sum(~pred & lab), np.sum(~pred & ~lab)]
        vad[path] = np.array(counts)
    for path in args.get("live_models", ()):
        from rtsep.filemode import separate_array

        res = separate_array(mix[:, None], SR, separator=_separator(path, live=True), blocksize=4096)
        out[f"live:{path}"] = _score(bss, [res.vocals[:, 0], res.accompaniment[:, 0]])
    for key, wiener in args.get("unet", ()):
        ve, ae = _unet(wiener).separate(mix)
        out[key] = _score(bss, [ve, ae])
    for meth, stride in args["methods"]:
        if idx % stride:
            continue
        from rtsep.methods import separate_method

        try:
            mv, ma = separate_method(meth, mix[:, None], SR)
            if not np.any(mv) or not np.any(ma):
                out[f"method:{meth}"] = ("error", "silent stem on this mono input")
            else:
                out[f"method:{meth}"] = _score(bss, [mv[:, 0], ma[:, 0]])
        except Exception as exc:  # a method may refuse mono input
            out[f"method:{meth}"] = ("error", f"{type(exc).__name__}: {exc}")
    return name, len(mix), out, vad


def song_task(args):
    """Release model (and methods) on the 44.1 kHz stereo song: median framewise BSS Eval images."""
    import mir_eval
    import soundfile as sf

    from rtsep.filemode import separate_array

    warnings.simplefilter("ignore")
    root = Path(args["data"]) / "songs" / "ultimate-nz-tour"
    mix, sr = sf.read(root / "mixture.flac", dtype="float32", always_2d=True)
    voc, _ = sf.read(root / "vocals.flac", dtype="float32", always_2d=True)
    acc, _ = sf.read(root / "accompaniment.flac", dtype="float32", always_2d=True)
    refs = np.stack([voc, acc]).astype(np.float64)
    systems = {}
    for path, _ in args["song_models"]:
        res = separate_array(mix, sr, model=path, blocksize=4096)
        systems[path] = (res.vocals, res.accompaniment)
        if path in args.get("live_models", ()):
            from rtsep.plugins.separator import Separator

            live = Separator(path, sample_rate=sr, channels=mix.shape[1], max_block=4096, live=True)
            res = separate_array(mix, sr, separator=live, blocksize=4096)
            systems[f"live:{path}"] = (res.vocals, res.accompaniment)
    for key, wiener in args.get("unet", ()):
        systems[key] = _unet(wiener, sr, mix.shape[1]).separate(mix)
    systems["Mixture"] = (mix, mix)
    for meth, _ in args["methods"]:
        if meth == "rpca":
            continue  # minutes per song; skipped here
        from rtsep.methods import separate_method

        try:
            systems[f"method:{meth}"] = separate_method(meth, mix, sr)
        except Exception:
            pass
    rows = {}
    for key, (ve, ae) in systems.items():
        t0 = time.time()
        sdr, _isr, sir, sar, _ = mir_eval.separation.bss_eval_images_framewise(
            refs, np.stack([ve, ae]).astype(np.float64), window=sr, hop=sr, compute_permutation=False)

        def med(x):
            x = x[np.isfinite(x)]
            return float(np.median(x)) if len(x) else float("nan")

        rows[key] = [(med(sdr[s]), med(sir[s]), med(sar[s])) for s in range(2)]
        rows[key].append(time.time() - t0)
    return sr, mix.shape, rows


def per_frame_ms(path, n=2000, live=False):
    """Median and p99 ms of one frame: the whole graph (a stereo model with a side), or
    ``live``: the live host's call (features in Numba from a stereo frame, int8 network)."""
    from rtsep.dsp.features import mid_side_features, mono_features
    from rtsep.model.onnx_model import MaskModel

    mm = MaskModel(path, threads=1)
    rng = np.random.default_rng(0)
    spec = rng.standard_normal((1, mm.n_bins, 2)).astype(np.float32)
    if live:
        core = mm.enable_live(True)
        if core is None:
            return float("nan"), float("nan")
        stream = (rng.standard_normal((1, 2, mm.n_bins)) + 1j * rng.standard_normal((1, 2, mm.n_bins))).astype(np.complex64)
        feats = np.zeros((1, core.n_features), np.float32)
        kernel = mid_side_features if mm.stereo else mono_features

        def run():
            kernel(stream, 1, 0.5, core.mean, core.std, feats)
            mm.run_features(feats)
    elif mm.stereo:
        def run():
            mm.run_stereo(spec, spec)
    else:
        def run():
            mm.run(spec)
    for _ in range(200):
        run()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts)), 1000 * float(np.percentile(ts, 99))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--live", nargs="*", default=LIVE_MODELS, metavar="MODEL",
                   help="also score these (of --models) through the live host's path: one call per frame, "
                        "int8 dense layers (default: the two <= 12 ms models; none: --live with no value)")
    p.add_argument("--quick", action="store_true", help="every 8th test clip")
    p.add_argument("--limit", type=int, default=0, help="at most N clips (debugging)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--data", default=None, help="data dir (default ../shared/data from the repo root)")
    p.add_argument("--method-stride", type=int, default=8, help="classic methods on every Nth evaluated clip")
    p.add_argument("--rpca-stride", type=int, default=128, help="RPCA (slow) on every Nth evaluated clip")
    p.add_argument("--no-methods", action="store_true")
    p.add_argument("--no-song", action="store_true")
    p.add_argument("--no-unet", action="store_true", help="skip the offline U-Net rows (models/unet-2stems.onnx)")
    p.add_argument("--no-unet-wiener", action="store_true", help="skip the U-Net + Wiener filter row")
    p.add_argument("--mir-eval", action="store_true", help="score with mir_eval itself (slow)")
    p.add_argument("--out", default=None, help="markdown file (default benchmarks/results/quality.md; "
                   "quality-quick.md with --quick)")
    args = p.parse_args(argv)
    cmd = "python benchmarks/quality.py " + " ".join(argv if argv is not None else sys.argv[1:])

    from rtsep.model.onnx_model import MaskModel
    from rtsep.train.data import default_data_dir, load_mir1k, mir1k_root

    data_dir = Path(args.data) if args.data else default_data_dir()
    try:
        mroot = mir1k_root(data_dir)
    except FileNotFoundError as exc:
        sys.exit(f"{exc}: see ../shared/data/README.md")
    data = load_mir1k(data_dir)
    test = list(data.splits["test"])
    if args.quick:
        test = test[::8]
    if args.limit:
        test = test[:args.limit]
    models = [str(Path(m)) for m in args.models if Path(m).is_file()]
    missing = [m for m in args.models if not Path(m).is_file()]
    cards = {m: MaskModel(m).card for m in models}
    stft_setups = {(c.n_fft, c.hop, c.synthesis_len) for c in cards.values()} or {(1024, 96, 192)}
    stfts = sorted(stft_setups, key=lambda st: st[2])
    methods = []
    if not args.no_methods:
        try:
            import rtsep.methods as rm

            if hasattr(rm, "BENCHMARK_METHODS") and hasattr(rm, "separate_method"):
                for name in rm.BENCHMARK_METHODS:
                    methods.append((name, args.rpca_stride if name == "rpca" else args.method_stride))
        except ImportError:
            pass
    live_models = [m for m in models if any(Path(m) == Path(x) for x in args.live)]
    wargs = dict(data=str(data_dir), mir1k=str(mroot), models=[(m, cards[m].vad_threshold) for m in models],
                 live_models=live_models,
                 methods=methods, stfts=stfts, mir_eval=args.mir_eval,
                 song_models=[(m, 0) for m in models if "release" in Path(m).stem] or [(m, 0) for m in models[-1:]])
    if not args.no_unet and (REPO / "models" / "unet-2stems.onnx").is_file():
        wargs["unet"] = [("unet-2stems", False)] + ([] if args.no_unet_wiener else [("unet-2stems + Wiener", True)])

    timing = {m: per_frame_ms(m) for m in models}
    timing.update({f"live:{m}": per_frame_ms(m, live=True) for m in live_models})
    t0 = time.time()
    from tqdm import tqdm

    results, vads, lens = {}, {}, {}
    song = None
    with Pool(args.jobs, initializer=_init_worker, initargs=(wargs,)) as pool:
        song_async = None
        song_dir = data_dir / "songs" / "ultimate-nz-tour"
        if not args.no_song and (song_dir / "mixture.flac").is_file() and (models or wargs.get("unet")):
            song_async = pool.apply_async(song_task, (wargs,))
        tasks = [(n, i) for i, n in enumerate(test)]
        for name, n, out, vad in tqdm(pool.imap_unordered(clip_task, tasks, chunksize=2), total=len(tasks),
                                      desc="MIR-1K test clips"):
            lens[name] = n
            for k, val in out.items():
                results.setdefault(k, {})[name] = val
            for k, val in vad.items():
                vads[k] = vads.get(k, 0) + val
        if song_async is not None:
            song = song_async.get()
    wall = time.time() - t0

    # aggregate
    mixrow = results["Mixture"]

    def agg(key):
        rows = results.get(key, {})
        ok = {n: r for n, r in rows.items() if not isinstance(r[0], str)}
        errs = {n: r for n, r in rows.items() if isinstance(r[0], str)}
        if not ok:
            return None, len(errs), next(iter(errs.values()))[1] if errs else ""
        w = np.array([lens[n] for n in ok], float)
        sdr = np.array([ok[n][0] for n in ok])
        sir = np.array([ok[n][1] for n in ok])
        sar = np.array([ok[n][2] for n in ok])
        msdr = np.array([mixrow[n][0] for n in ok])
        nsdr = sdr - msdr
        wm = lambda x: (w[:, None] * x).sum(0) / w.sum()  # noqa: E731
        return dict(gnsdr=wm(nsdr), gsir=wm(sir), gsar=wm(sar), gsdr=wm(sdr), clips=len(ok)), len(errs), ""

    def f(x):
        return "∞" if x > 100 else f"{x:.2f}"

    lines = []
    lines.append("# Separation quality\n")
    lines.append(f"Command: `{cmd}`  ")
    lines.append(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {len(test)} MIR-1K test clips "
                 f"({sum(lens.values()) / SR / 60:.1f} min); wall time {wall / 60:.1f} min with {args.jobs} processes.  ")
    lines.append("Models run through `rtsep.filemode.separate_array` (the streaming engine, blocks of 4096). "
                 "BSS Eval v3 (512-tap filters) via `rtsep.train.metrics.BssEval` "
                 + ("(here: mir_eval itself)" if args.mir_eval else "(equal to mir_eval's bss_eval_sources, tests/test_metrics.py)")
                 + ". GNSDR/GSIR/GSAR: clip-length-weighted means; mixtures at 0 dB.\n")
    lines.append("## MIR-1K protocol (825 test clips of 17 singers; models trained only on the 175 `train` clips "
                 "unless noted)\n" if not (args.quick or args.limit) else
                 "## MIR-1K protocol, subset (`--quick`: every 8th test clip)\n")
    lines.append("| system | latency | vocal GNSDR | GSIR | GSAR | accomp. GNSDR | GSIR | GSAR | clips |")
    lines.append("|---|---|---|---|---|---|---|---|---|")

    def fmt_row(label, lat, r, clips):
        return (f"| {label} | {lat} | {f(r['gnsdr'][0])} | {f(r['gsir'][0])} | {f(r['gsar'][0])} | "
                f"{f(r['gnsdr'][1])} | {f(r['gsir'][1])} | {f(r['gsar'][1])} | {clips} |")

    r, _, _ = agg("Mixture")
    lines.append(fmt_row("Mixture (no separation)", "0", r, r["clips"]))
    for stft in stfts:
        r, _, _ = agg(f"Oracle IRM {stft}")
        lines.append(fmt_row(f"Oracle ideal ratio mask, {stft[0]}/{stft[1]}/{stft[2]} STFT (upper bound)",
                             f"{(stft[2] - 1) / SR * 1000:.2f} ms (no look-ahead)", r, r["clips"]))
    for label, g, s, a in PUBLISHED:
        lines.append(f"| published: {label} | offline | {g:.2f} | {s:.2f} | {a:.2f} | | | | 825 |")
    if not (args.quick or args.limit):
        for label, v, a, _, _ in PREVIOUS:
            lines.append(f"| published: {label} | 11.94 ms | {v[0]:.2f} | {v[1]:.2f} | {v[2]:.2f} | {a[0]:.2f} | "
                         f"{a[1]:.2f} | {a[2]:.2f} | 825 |")
    for m in models:
        r, _, _ = agg(m)
        c = cards[m]
        note = "" if "protocol" in Path(m).stem else " (trained on test-set singers: not a protocol result)"
        lines.append(fmt_row(f"**{Path(m).name}**{note}", f"{c.latency_ms:.2f} ms", r, r["clips"]))
        if m in live_models:
            r, _, _ = agg(f"live:{m}")
            lines.append(fmt_row(f"{Path(m).name}, live path (one call per frame, int8 dense layers){note}",
                                 f"{c.latency_ms:.2f} ms", r, r["clips"]))
    for key, wiener in wargs.get("unet", ()):
        r, _, _ = agg(key)
        lines.append(fmt_row(f"**{key}** (Spleeter's pretrained U-Net, Deezer's own training data: not a protocol "
                             "result; 16 kHz mono resampled to 44.1 kHz stereo and back)",
                             "offline (11.9 s segments)", r, r["clips"]))
    for meth, stride in methods:
        r, nerr, msg = agg(f"method:{meth}")
        if r is None:
            lines.append(f"| rtsep.methods `{meth}` | | n/a: {msg[:80]} | | | | | | {nerr} failed |")
        else:
            lines.append(fmt_row(f"rtsep.methods `{meth}` (1 in {stride} clips)", "see method", r, r["clips"]))
    for m in missing:
        lines.append(f"| {m} | missing | | | | | | | |")

    lines.append("\n## Vocal activity (MIR-1K vocal/non-vocal labels, 40 ms frames / 20 ms hop; "
                 "nearest `result.vad` frame; the engine's activity min(vad head, 5 x vocal energy share) "
                 "at the threshold the GUI uses: the model's own `activity_threshold`, chosen on its validation clips by "
                 "`python -m rtsep.train.calibrate`, else 0.5)\n")
    lines.append("| model | threshold | frame accuracy | vocal F1 | precision | recall | label frames |")
    lines.append("|---|---|---|---|---|---|---|")
    for m in models:
        own = cards[m].activity_threshold
        rows = [(Path(m).name, VAD_THRESHOLD if own is None else own, vads[m][:4])]
        if own is not None and own != VAD_THRESHOLD:
            rows.append((f"{Path(m).name} at the default threshold", VAD_THRESHOLD, vads[m][4:]))
        for label, thr, (tp, fp, fn, tn) in rows:
            acc = (tp + tn) / (tp + fp + fn + tn)
            prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            f1 = 2 * prec * rec / max(prec + rec, 1e-12)
            lines.append(f"| {label} | {thr:.2f} | {acc:.3f} | {f1:.3f} | {prec:.3f} | {rec:.3f} | {tp + fp + fn + tn} |")
    if not (args.quick or args.limit):
        for label, _, _, (acc, f1, prec, rec, *thr), _ in PREVIOUS:
            lines.append(f"| published: {label} | {(thr or [VAD_THRESHOLD])[0]:.2f} | {acc:.3f} | {f1:.3f} | "
                         f"{prec:.3f} | {rec:.3f} | 328286 |")
    lab_pos = (vads[models[0]][0] + vads[models[0]][2]) / vads[models[0]][:4].sum() if models else 0
    lines.append(f"\n(Always answering \"vocal\" scores accuracy {lab_pos:.3f}, F1 {2 * lab_pos / (1 + lab_pos):.3f}.)\n")

    lines.append("## Models\n")
    lines.append("| model | STFT n_fft/hop/synthesis_len | algorithmic latency | params | ONNX Runtime per frame (1 thread, median / p99) |")
    lines.append("|---|---|---|---|---|")
    for m in models:
        c = cards[m]
        lines.append(f"| {Path(m).name} | {c.n_fft}/{c.hop}/{c.synthesis_len} @ {c.sample_rate} Hz | "
                     f"{c.latency_samples} samples = {c.latency_ms:.2f} ms | {c.extra.get('params', '?')} | "
                     f"{timing[m][0]:.3f} / {timing[m][1]:.3f} ms |")
        if m in live_models:
            t = timing[f"live:{m}"]
            lines.append(f"| {Path(m).name}, live path (features in Numba, int8 dense layers) | | | | "
                         f"{t[0]:.3f} / {t[1]:.3f} ms |")

    if song is not None:
        sr, shape, rows = song
        lines.append(f"\n## Song: ultimate-nz-tour (SiSEC 2011 dev, {shape[0] / sr:.0f} s, {sr} Hz, {shape[1]} ch)\n")
        lines.append("mir_eval `bss_eval_images_framewise`, 1 s windows and hop, median over frames (dB).\n")
        lines.append("| system | vocal SDR | SIR | SAR | accomp. SDR | SIR | SAR |")
        lines.append("|---|---|---|---|---|---|---|")
        for label, _, _, _, song_rows in PREVIOUS:
            if song_rows is not None:
                (a1, b1, c1), (a2, b2, c2) = song_rows
                lines.append(f"| published: {label.split(' (')[0]} | {f(a1)} | {f(b1)} | {f(c1)} | {f(a2)} | {f(b2)} | "
                             f"{f(c2)} |")
        for key, rr in rows.items():
            label = Path(key).name if key.endswith(".onnx") else key.replace("method:", "rtsep.methods ")
            if key.startswith("live:"):
                label = f"{Path(key[5:]).name}, live path (int8)"
            (a1, b1, c1), (a2, b2, c2) = rr[0], rr[1]
            lines.append(f"| {label} | {f(a1)} | {f(b1)} | {f(c1)} | {f(a2)} | {f(b2)} | {f(c2)} |")

    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / (
        "quality.md" if not (args.quick or args.limit) else "quality-quick.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
