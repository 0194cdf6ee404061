"""Quality against delay: the streaming U-Net's ladder beside the recurrent models and the offline U-Net.

For each ladder point (rtsep.unet.ladder.points(), file mode of the same stream a live run outputs:
``StreamingUNet.separate``), the recurrent models (release-low, release-quality: the Separator plugin
in file mode, ``rtsep.filemode.separate_array``) and the offline U-Net (whole 11.9 s segments; the
reference's band-limited stems and the full-band accompaniment), all in one run:

* true delay: the algorithmic delay plus the live path's compute allowance (the recurrent models:
  their algorithmic latency; the offline U-Net: none, it separates ahead of the playhead);
* vocals / accompaniment SDR on the 44.1 kHz stereo song ``ultimate-nz-tour`` (mir_eval
  ``bss_eval_images_framewise``, 1 s windows and hop, median over frames);
* with ``--mir1k N``: vocal GNSDR on N MIR-1K test clips (every k-th of splits.json's test list,
  0 dB mixtures, 16 kHz mono into each separator: the U-Nets resample to 44.1 kHz and back;
  BSS Eval v3 sources via rtsep.train.metrics.BssEval, length-weighted NSDR);
* CPU load: the time of one step (one ``push`` of a step's samples: STFT, network, masks, inverse)
  over the step's duration, on one and on two ONNX Runtime threads, median of interleaved rounds;
  beside it the same rounds' time of a reference call (the dynamic-T U-Net on 64 frames, one
  thread), as a ratio, so that a busy machine shows as a slow reference.

Writes benchmarks/results/latency_ladder.txt and docs/latency.png (pyqtgraph's exporter).

    python benchmarks/latency_ladder.py                 # song, cost (~5-10 min on 2 busy cores)
    python benchmarks/latency_ladder.py --mir1k 24      # and 24 MIR-1K test clips
    python benchmarks/latency_ladder.py --extra 128/4/4 --extra 128/3/4:mirror4   # more points
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SONG = "ultimate-nz-tour"
HOP = 1024


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        name = "?"
    return f"{name}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"


def parse_point(text: str):
    """``W/L/S[:mirrorP][:band][:vocal]`` → a LadderPoint with a one-step compute allowance (full
    band and vocals extended unless ``band``; ``vocal``: the vocal U-Net's own mask)."""
    from rtsep.unet.ladder import LadderPoint

    head, *opts = text.split(":")
    w, lk, s = (int(x) for x in head.split("/"))
    future, p, full, mask = "edge", 0, True, "ratio"
    for o in opts:
        if o == "band":
            full = False
        elif o == "vocal":
            mask = "vocal"
        else:
            future = o.rstrip("0123456789")
            p = int(o[len(future):])
    return LadderPoint(w, lk, s, s * HOP, float("nan"), float("nan"), future=future, future_frames=p, full_band=full,
                       extend_vocals=full, mask=mask)


def point_key(p) -> str:
    return f"{p.name}:{p.future}{p.future_frames}:{p.mask}:{p.full_band}"


def label(p) -> str:
    extra = f", {p.future} {p.future_frames}" if p.future_frames else ""
    extra += ", vocal U-Net mask" if p.mask == "vocal" else ", ratio masks"
    return f"U-Net stream {p.name}{extra}{'' if p.full_band else ', band-limited'}"


def systems(args):
    """[(key, label, true_delay_s, separate(audio, sr) -> (vocals, accompaniment))]."""
    from rtsep.filemode import separate_array
    from rtsep.unet import UNetSeparator
    from rtsep.unet.ladder import points
    from rtsep.unet.streaming import StreamingUNet

    out = []
    for lat, name in (("low", "release-low (GRU)"), ("quality", "release-quality (GRU)")):
        probe = separate_array(np.zeros((4096, 2), np.float32), 44100, latency=lat)
        out.append((f"rnn-{lat}", name, probe.latency_samples / 44100,
                    lambda a, sr, lat=lat: (lambda r: (r.vocals, r.accompaniment))(
                        separate_array(a, sr, latency=lat, blocksize=4096))))
    for full in (False, True):
        out.append((f"offline{'-full' if full else ''}",
                    f"unet-2stems offline{' (full-band accompaniment)' if full else ' (reference: band-limited)'}",
                    0.0, lambda a, sr, full=full: UNetSeparator(sr, a.shape[1] if a.ndim > 1 else 1,
                                                                 full_band=full, threads=1).separate(a)))
    pts = list(points()) + [parse_point(e) for e in args.extra]
    for p in pts:
        out.append((point_key(p), label(p), p.true_delay_samples_44k / 44100,
                    lambda a, sr, p=p: StreamingUNet(p, sr, a.shape[1] if a.ndim > 1 else 1).separate(a)))
    return out, pts


def song_scores(systems_, data: Path, seconds: float | None = None) -> dict:
    import mir_eval
    import soundfile as sf

    root = data / "songs" / SONG
    mix, sr = sf.read(root / "mixture.flac", dtype="float32", always_2d=True)
    refs = np.stack([sf.read(root / f"{s}.flac", dtype="float32", always_2d=True)[0]
                     for s in ("vocals", "accompaniment")]).astype(np.float64)
    if seconds:  # a quick check of the script itself
        mix, refs = mix[:int(seconds * sr)], refs[:, :int(seconds * sr)]
    rows = {}
    for key, name, _, sep in systems_:
        t0 = time.time()
        v, a = sep(mix, sr)
        t1 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sdr = mir_eval.separation.bss_eval_images_framewise(
                refs, np.stack([v, a]).astype(np.float64), window=sr, hop=sr, compute_permutation=False)[0]
        rows[key] = [float(np.median(s[np.isfinite(s)])) for s in sdr]
        print(f"  song  {name}: vocals {rows[key][0]:.2f} accompaniment {rows[key][1]:.2f} dB "
              f"(separate {t1 - t0:.1f} s)", flush=True)
    return {"rows": rows, "seconds": len(mix) / sr, "sr": sr, "channels": mix.shape[1]}


def mir1k_scores(systems_, data: Path, n: int) -> dict:
    import json

    import soundfile as sf

    from rtsep.train.data import mir1k_root, mixture_at_0db
    from rtsep.train.metrics import BssEval

    root = mir1k_root(data)
    test = json.loads((root / "splits.json").read_text())["test"]
    names = test[::max(1, len(test) // n)][:n]
    acc = {key: [0.0, 0.0] for key, *_ in systems_}  # length-weighted NSDR sum, length
    for i, name in enumerate(names):
        stems = [sf.read(root / "clips" / f"{name}.{s}.opus", dtype="float32")[0] for s in ("vocals", "accompaniment")]
        v, a, mix = mixture_at_0db(*stems)
        bss = BssEval(np.stack([v, a]))
        base = bss(np.stack([mix, mix]).astype(np.float64))[0][0]
        for key, _, _, sep in systems_:
            ve, ae = sep(mix, 16000)
            sdr = bss(np.stack([ve.reshape(-1), ae.reshape(-1)]).astype(np.float64))[0][0]
            acc[key][0] += len(mix) * (sdr - base)
            acc[key][1] += len(mix)
        print(f"  MIR-1K clip {i + 1}/{len(names)} {name}", flush=True)
    return {"gnsdr": {k: s / max(n_, 1) for k, (s, n_) in acc.items()}, "clips": len(names)}


def cost(pts, rounds: int, steps: int) -> dict:
    """Median seconds per step at 1 and 2 threads, and the reference call's, interleaved."""
    from rtsep.unet.dynamic import dynamic_session
    from rtsep.unet.separator import unet_model_path
    from rtsep.unet.streaming import StreamingUNet

    rng = np.random.default_rng(0)
    ref_sess = dynamic_session(unet_model_path(), 1)
    ref_x = np.abs(rng.standard_normal((1, 64, 1024, 2))).astype(np.float32)
    streams = {}
    for t in (1, 2):
        sessions = {v: dynamic_session(unet_model_path(), t, vocals_only=v) for v in (False, True)}
        for p in pts:
            su = StreamingUNet(p, 44100, 2, session=sessions[p.mask == "vocal"])
            su.push(0.1 * rng.standard_normal((p.window_frames * HOP, 2)).astype(np.float32))  # fill
            streams[(p.name, p.future_frames, p.mask, t)] = su
    times = {k: [] for k in streams}
    ref = []
    for _ in range(rounds):
        for k, su in streams.items():
            block = 0.1 * rng.standard_normal((su.step_samples, 2)).astype(np.float32)
            for _ in range(steps):
                t0 = time.perf_counter()
                su.push(block)
                times[k].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref_sess.run(None, {"magnitude": ref_x})
            ref.append(time.perf_counter() - t0)
    return {"step_s": {k: float(np.median(v)) for k, v in times.items()},
            "step_p95_s": {k: float(np.percentile(v, 95)) for k, v in times.items()},
            "ref_s": float(np.median(ref))}


def plot(path: Path, entries, offline) -> None:
    """Vocals and accompaniment SDR against true delay (ms, log axis)."""
    from rtsep.plot import ensure_qt_app

    ensure_qt_app()
    import pyqtgraph as pg
    import pyqtgraph.exporters

    win = pg.GraphicsLayoutWidget()
    win.setBackground("w")
    win.resize(1100, 480)
    colours = {"stream": (31, 119, 180), "rnn": (214, 39, 40), "extra": (150, 150, 150)}
    names = {"stream": "streaming U-Net (the ladder)", "rnn": "recurrent models",
             "extra": "other stream points (plain scheme, --extra)"}
    for col, (stem, title) in enumerate(((0, "vocals SDR (dB)"), (1, "accompaniment SDR (dB)"))):
        pl = win.addPlot(row=0, col=col, title=f"{SONG}: {title} vs true delay")
        pl.setLogMode(x=True, y=False)
        pl.showGrid(x=True, y=True, alpha=0.3)
        pl.setLabel("bottom", "true delay (ms)")
        pl.getAxis("bottom").setTicks([[(np.log10(v), str(v)) for v in (10, 20, 50, 100, 200, 500, 1000, 2000)]])
        pl.addLegend(offset=(-10, -10))
        for kind in ("rnn", "stream", "extra"):
            pts = sorted((ms, sc[stem]) for k, ms, sc in entries if k == kind and ms > 0)
            if pts:
                pen = None if kind == "extra" else pg.mkPen(colours[kind], width=2)
                pl.plot([p[0] for p in pts], [p[1] for p in pts], pen=pen, symbol="o" if kind != "extra" else "t",
                        symbolBrush=colours[kind], symbolPen=colours[kind], name=names[kind])
        for value, name, style in ((offline[0][stem], "offline U-Net (reference)", pg.QtCore.Qt.PenStyle.DashLine),
                                   (offline[1][stem], "offline U-Net, full band", pg.QtCore.Qt.PenStyle.DotLine)):
            line = pl.plot([10, 2000], [value, value], pen=pg.mkPen((60, 60, 60), width=1.5, style=style), name=name)
            line.setZValue(-1)
    pg.QtWidgets.QApplication.processEvents()
    exporter = pg.exporters.ImageExporter(win.scene())
    exporter.parameters()["width"] = 1100
    path.parent.mkdir(parents=True, exist_ok=True)
    exporter.export(str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--mir1k", type=int, default=0, metavar="N", help="score N MIR-1K test clips too")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved cost rounds")
    ap.add_argument("--steps", type=int, default=5, help="steps timed per point and round")
    ap.add_argument("--extra", action="append", default=[], metavar="W/L/S[:mirrorP][:band]",
                    help="also measure this point (compute allowance: one step)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "latency_ladder.txt"))
    ap.add_argument("--png", default=str(REPO / "docs" / "latency.png"))
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--song-seconds", type=float, help="score only the song's first seconds (a quick check)")
    args = ap.parse_args()
    data = Path(args.data)
    t_start = time.time()
    header = [f"$ python benchmarks/latency_ladder.py {' '.join(sys.argv[1:])}".rstrip()
              + f"     ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", f"# machine: {machine()}"]
    print("\n".join(header), flush=True)
    systems_, pts = systems(args)
    song = song_scores(systems_, data, args.song_seconds)
    mir = mir1k_scores(systems_, data, args.mir1k) if args.mir1k else None
    costs = None if args.no_cost else cost(pts, args.rounds, args.steps)

    rows = song["rows"]
    off = rows["offline"]
    lines = header + [
        f"# song {SONG}: {song['seconds']:.1f} s, {song['sr']} Hz, {song['channels']} ch; SDR = median framewise "
        "(1 s) BSS Eval images SDR, mir_eval; gap = this row minus the offline U-Net (reference) in this run",
        "# true delay = algorithmic (4 + L + S - 1 hops - 1 sample) + compute allowance (U-Net points); "
        "CPU load = median time of one step / step duration (1 and 2 ONNX Runtime threads)",
    ]
    if mir:
        lines.append(f"# MIR-1K: vocal GNSDR on {mir['clips']} test clips (0 dB mixtures, 16 kHz mono)")
    if costs:
        lines.append(f"# reference call (dynamic-T U-Net, 64 frames, 1 thread) in the same rounds: "
                     f"{1000 * costs['ref_s']:.1f} ms median")
    head = f"{'separator':<52} {'true delay':>10} {'vocals':>7} {'(gap)':>7} {'accomp':>7} {'(gap)':>7}"
    head += f" {'MIR-1K':>7}" if mir else ""
    head += f" {'load 1t':>8} {'load 2t':>8} {'step 1t ms':>10} {'/ref':>5}" if costs else ""
    lines += ["", head, "-" * len(head)]
    entries = []
    from rtsep.unet.ladder import points

    ladder = points()
    for key, name, delay_s, _ in systems_:
        v, a = rows[key]
        line = (f"{name:<52} {('%.0f ms' % (1000 * delay_s)) if delay_s else 'offline':>10} {v:7.2f} {v - off[0]:+7.2f} "
                f"{a:7.2f} {a - off[1]:+7.2f}")
        if mir:
            line += f" {mir['gnsdr'][key]:7.2f}"
        p = next((p for p in pts if point_key(p) == key), None)
        if costs:
            if p is not None:
                s1 = costs["step_s"][(p.name, p.future_frames, p.mask, 1)]
                s2 = costs["step_s"][(p.name, p.future_frames, p.mask, 2)]
                dur = p.step_frames * HOP / 44100
                line += f" {100 * s1 / dur:7.0f}% {100 * s2 / dur:7.0f}% {1000 * s1:10.1f} {s1 / costs['ref_s']:5.2f}"
            else:
                line += f" {'':>8} {'':>8} {'':>10} {'':>5}"
        lines.append(line)
        kind = ("stream" if p in ladder else "extra") if p is not None else ("rnn" if key.startswith("rnn") else "offline")
        entries.append((kind, 1000 * delay_s, (v, a)))
    lines.append(f"\n# {time.time() - t_start:.0f} s in all")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    plot(Path(args.png), entries, (rows["offline"], rows["offline-full"]))
    print(f"wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
