"""Measure the classic separators (rtsep.methods) on MIR-1K and on the 44.1 kHz stereo song.

MIR-1K: every ``--every``-th clip of the ``test`` split (``splits.json``), 0 dB mixtures
(accompaniment scaled to the vocal's energy, then added), vocal GNSDR/GSIR/GSAR =
length-weighted means over clips, NSDR = SDR(estimate) - SDR(mixture), with
``mir_eval.separation.bss_eval_sources`` (references = [vocals, accompaniment]).

Song: ``songs/ultimate-nz-tour`` (stereo), SDR of each stem per channel with
``bss_eval_sources`` on [vocals, accompaniment] of that channel, averaged over the two
channels, and the same for the mixture itself (so the improvement is visible).

Usage:
    python benchmarks/methods.py [--every 8] [--methods repet,rpca,ibm,irm] [--no-song] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RTSEP_DATA", REPO.parent / "shared" / "data"))


def load_clip(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    import soundfile as sf

    clips = DATA / "mir1k" / "clips"
    v, sr = sf.read(str(clips / f"{name}.vocals.opus"), dtype="float32")
    a, sr2 = sf.read(str(clips / f"{name}.accompaniment.opus"), dtype="float32")
    assert sr == sr2
    n = min(len(v), len(a))
    return v[:n].reshape(n, -1).mean(1), a[:n].reshape(n, -1).mean(1), sr


def mix_0db(v: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ev, ea = float(np.sum(v.astype(np.float64) ** 2)), float(np.sum(a.astype(np.float64) ** 2))
    a = (a * np.sqrt(ev / ea)).astype(np.float32) if ea > 0 else a
    return v + a, a


def bss(refs: np.ndarray, ests: np.ndarray):
    from mir_eval.separation import bss_eval_sources

    sdr, sir, sar, _ = bss_eval_sources(refs, ests, compute_permutation=False)
    return sdr, sir, sar


def run_method(method: str, mix: np.ndarray, v: np.ndarray, a: np.ndarray, sr: int):
    from rtsep.methods import ideal_mask, separate_method

    x = mix[:, None]
    if method == "ibm":
        ve, ae = ideal_mask("binary", x, v[:, None], a[:, None], sr)
    elif method == "irm":
        ve, ae = ideal_mask("ratio", x, v[:, None], a[:, None], sr)
    elif method == "rpca-huang":  # Huang et al. 2012 exactly as published: binary mask, gain 1
        ve, ae = separate_method("rpca", x, sr, gain=1.0)
    else:
        ve, ae = separate_method(method, x, sr)
    return ve[:, 0], ae[:, 0]


def eval_clip(args):
    name, methods = args
    v, a, sr = load_clip(name)
    mix, a = mix_0db(v, a)
    refs = np.stack([v, a])
    m_sdr, m_sir, m_sar = bss(refs, np.stack([mix, mix]))
    res = {"name": name, "len": len(v), "mix_sdr": float(m_sdr[0]), "mix_sdr_acc": float(m_sdr[1])}
    for m in methods:
        t = time.perf_counter()
        ve, ae = run_method(m, mix, v, a, sr)
        dt = time.perf_counter() - t
        sdr, sir, sar = bss(refs, np.stack([ve, ae]))
        res[m] = {"sdr": float(sdr[0]), "sir": float(sir[0]), "sar": float(sar[0]), "sdr_acc": float(sdr[1]),
                  "nsdr": float(sdr[0] - m_sdr[0]), "nsdr_acc": float(sdr[1] - m_sdr[1]), "seconds": dt}
    return res


def mir1k(methods, every: int, workers: int):
    splits = json.loads((DATA / "mir1k" / "splits.json").read_text())
    names = splits["test"][::every]
    with ProcessPoolExecutor(workers) as ex:
        rows = list(ex.map(eval_clip, [(n, methods) for n in names]))
    w = np.array([r["len"] for r in rows], dtype=np.float64)
    summary = {"clips": len(rows), "every": every, "seconds_audio": float(w.sum() / 16000)}
    for m in methods:
        g = lambda key: float(np.sum(w * np.array([r[m][key] for r in rows])) / w.sum())  # noqa: E731
        summary[m] = {"GNSDR": g("nsdr"), "GSIR": g("sir"), "GSAR": g("sar"), "GNSDR_acc": g("nsdr_acc"),
                      "sec_per_clip": float(np.mean([r[m]["seconds"] for r in rows]))}
    return summary, rows


def song(methods):
    import soundfile as sf

    from rtsep.methods import ideal_mask, separate_method

    d = DATA / "songs" / "ultimate-nz-tour"
    mix, sr = sf.read(str(d / "mixture.flac"), dtype="float32", always_2d=True)
    v, _ = sf.read(str(d / "vocals.flac"), dtype="float32", always_2d=True)
    a, _ = sf.read(str(d / "accompaniment.flac"), dtype="float32", always_2d=True)

    def score(ve, ae):
        out = []
        for c in range(mix.shape[1]):
            sdr, sir, sar = bss(np.stack([v[:, c], a[:, c]]), np.stack([ve[:, c], ae[:, c]]))
            out.append((sdr[0], sdr[1], sir[0], sar[0]))
        s = np.mean(out, axis=0)
        return {"sdr_vocals": float(s[0]), "sdr_acc": float(s[1]), "sir_vocals": float(s[2]), "sar_vocals": float(s[3])}

    res = {"mixture": score(mix, mix)}
    for m in methods:
        t = time.perf_counter()
        if m == "ibm":
            ve, ae = ideal_mask("binary", mix, v, a, sr)
        elif m == "irm":
            ve, ae = ideal_mask("ratio", mix, v, a, sr)
        elif m == "rpca-huang":
            ve, ae = separate_method("rpca", mix, sr, gain=1.0)
        else:
            ve, ae = separate_method(m, mix, sr)
        dt = time.perf_counter() - t
        res[m] = score(ve, ae)
        res[m]["seconds"] = dt
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--every", type=int, default=8, help="use every N-th MIR-1K test clip")
    p.add_argument("--methods", default="repet,rpca,ibm,irm", help="MIR-1K methods (comma-separated)")
    p.add_argument("--song-methods", default="repet,rpca,center,ibm,irm")
    p.add_argument("--no-mir1k", action="store_true")
    p.add_argument("--no-song", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", help="write all results (with per-clip rows) here")
    args = p.parse_args(argv)
    out = {}
    if not args.no_mir1k:
        methods = [m for m in args.methods.split(",") if m]
        summary, rows = mir1k(methods, args.every, args.workers)
        out["mir1k"] = summary
        out["mir1k_rows"] = rows
        print(f"MIR-1K test[::{args.every}]: {summary['clips']} clips, {summary['seconds_audio']:.0f} s, 0 dB mixtures")
        print(f"{'method':12s} {'GNSDR':>7s} {'GSIR':>7s} {'GSAR':>7s} {'GNSDR(acc)':>10s} {'s/clip':>7s}")
        for m in methods:
            s = summary[m]
            print(f"{m:12s} {s['GNSDR']:7.2f} {s['GSIR']:7.2f} {s['GSAR']:7.2f} {s['GNSDR_acc']:10.2f} {s['sec_per_clip']:7.2f}")
        sys.stdout.flush()
    if not args.no_song:
        methods = [m for m in args.song_methods.split(",") if m]
        res = song(methods)
        out["song"] = res
        print("ultimate-nz-tour (44.1 kHz stereo, 18 s), bss_eval_sources per channel, mean of L/R")
        print(f"{'method':12s} {'SDR voc':>8s} {'SDR acc':>8s} {'SIR voc':>8s} {'SAR voc':>8s}")
        for m, s in res.items():
            print(f"{m:12s} {s['sdr_vocals']:8.2f} {s['sdr_acc']:8.2f} {s['sir_vocals']:8.2f} {s['sar_vocals']:8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
