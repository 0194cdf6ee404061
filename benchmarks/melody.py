"""Melody accuracy of ``rtsep.pitch`` from separated vocals: ``rtsep melody``'s settings beside plain pYIN.

Two trackers share librosa's pYIN: ``rtsep melody`` (``rtsep.pitch.song_melody``: whole song at the
file's rate, ~46 ms frames, 0.1-semitone grid, threshold prior Beta(2, 9.43), an 18 dB level gate,
YIN-refined) and the live karaoke tracker (``rtsep.pitch.reference_melody`` / ``MelodyTracker``: 16 kHz,
64 ms frames, 0.25-semitone grid, librosa's prior, a 20 dB gate from the levels so far, 1 s chunks).
The reference for both is PLAIN pYIN (librosa's defaults: 65-1000 Hz, 0.1 semitone, Beta(2, 18), no
gate, frames of the same length as ``rtsep melody``'s) run on the same separated vocals.

MIR-1K: each test clip (825 clips of the 17 singers outside the protocol's training list; ``--quick``
every 25th, ``--step N`` every Nth) is mixed at 0 dB vocal-to-accompaniment ratio (accompaniment
scaled to the vocal's energy, as in the separation protocol). The trackers run on

- the TRUE vocal (ceiling: the tracker's own error),
- the vocals SEPARATED by the pretrained U-Net (``rtsep.unet``, what ``rtsep melody`` uses) and by
  rtsep's mask network (``mir1k-protocol-quality.onnx``: trained only on the 175 training clips),
- the MIXTURE (floor: no separation),

and are scored with ``mir_eval.melody`` against the clip's pitch labels (semitones per 40 ms frame,
20 ms hop, frame k centred at 20 + 20 k ms; 0 = unvoiced): raw pitch accuracy (RPA, within 50 cents
on frames voiced in the labels), raw chroma accuracy (RCA, octave-folded), overall accuracy (OA:
voicing and pitch), voicing recall / false alarm; clip means. Reference rows in the same run:
librosa's plain YIN with an energy gate (no voicing model) on the true vocal, and the microphone
tracker ``StreamingPitch`` (YIN per 10 ms hop, 128-frame blocks) on the true vocal.

The 44.1 kHz song (``songs/ultimate-nz-tour``): the truth is plain pYIN on the TRUE vocal stem
(44.1 kHz, 2048-sample frames, 10 ms hop, 65-1000 Hz); each tracker runs on the same separated
vocals of the mixture; also scored against each tracker's own melody of the true stem, so the
choice of truth shows. Speed on the song, and the time and peak memory of ``song_melody`` on a
5-minute song (the song repeated) in a fresh process.

"Singer score": the karaoke score (``rtsep.pitch.Scorer``, 50 cents, octave-folded) that the true
vocal, sung into ``StreamingPitch``, earns against the reference melody of that row: what a
perfect singer would see.

    python benchmarks/melody.py --quick     # every 25th test clip (33 clips)
    python benchmarks/melody.py --step 5    # every 5th (165 clips)
    python benchmarks/melody.py             # all 825 clips (~1 h on 2 idle cores)
"""

from __future__ import annotations

import argparse
import json
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
LABEL_HOP_S, LABEL_FRAME_S = 0.02, 0.04
NET_MODEL = "models/mir1k-protocol-quality.onnx"
METRICS = ("Raw Pitch Accuracy", "Raw Chroma Accuracy", "Overall Accuracy", "Voicing Recall",
           "Voicing False Alarm")
ROWS = [  # key, label
    ("file", "rtsep melody on U-Net separated vocals"),
    ("plain", "plain pYIN on U-Net separated vocals"),
    ("file_true", "rtsep melody on TRUE vocal (ceiling)"),
    ("true", "pYIN tracker on TRUE vocal (ceiling)"),
    ("unet", "pYIN tracker on U-Net separated vocals"),
    ("net", "pYIN tracker on rtsep net separated vocals"),
    ("mix", "pYIN tracker on MIXTURE (floor)"),
    ("yin", "ref: plain YIN + energy gate on TRUE vocal"),
    ("live", "ref: StreamingPitch (mic) on TRUE vocal"),
]

_W: dict = {}


def _init(args: dict) -> None:
    warnings.simplefilter("ignore")
    _W["args"] = args
    from rtsep.plugins.separator import Separator

    _W["net"] = Separator(model=str(REPO / NET_MODEL), sample_rate=SR, channels=1, mode="vocals")
    if args["unet"]:
        from rtsep.unet import UNetSeparator

        _W["unet"] = UNetSeparator(SR, 1, threads=1)


def labels(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    pv = np.loadtxt(root / "labels" / "pitch" / f"{name}.pv", ndmin=1)
    times = LABEL_FRAME_S / 2 + LABEL_HOP_S * np.arange(len(pv))
    return times, np.where(pv > 0, 440.0 * 2.0 ** ((pv - 69.0) / 12.0), 0.0)


def plain_yin(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa.yin at the tracker's framing; voiced where the frame is within 30 dB of the loudest."""
    import librosa

    from rtsep.pitch.reference import FMAX_HZ, FMIN_HZ, FRAME_LENGTH

    f0 = librosa.yin(x, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=SR, frame_length=FRAME_LENGTH, hop_length=160)
    rms = librosa.feature.rms(y=x, frame_length=FRAME_LENGTH, hop_length=160)[0][:len(f0)]
    f0 = np.where(rms > 10 ** (-30 / 20) * rms.max(), f0, 0.0)
    return np.arange(len(f0)) * 0.01, f0


def plain_pyin(x: np.ndarray, sr: int):
    """librosa.pyin with its defaults (65-1000 Hz, 0.1 semitone, Beta(2, 18)), no gate: a Melody.
    Frames as ``rtsep melody``'s at this rate (2048 samples at 44.1 kHz, 1024 at 16 kHz), 10 ms hop."""
    import librosa

    from rtsep.pitch import Melody
    from rtsep.pitch.song import frame_length

    mono = x.mean(axis=1) if x.ndim == 2 else x
    hop = round(0.01 * sr)
    f0, voiced, _ = librosa.pyin(mono, fmin=65.0, fmax=1000.0, sr=sr, frame_length=frame_length(sr), hop_length=hop)
    return Melody(hop / sr, np.where(voiced, f0, 0.0))


def singer_score(melody, track) -> float:
    from rtsep.pitch import Scorer

    s = Scorer(melody)
    for t, f in track:
        s.update(t, f)
    return s.score


def clip_task(name: str):
    import mir_eval
    import soundfile as sf

    from rtsep.filemode import separate_array
    from rtsep.pitch import reference_melody, song_melody

    args = _W["args"]
    root = Path(args["mir1k"])
    v, _ = sf.read(root / "clips" / f"{name}.vocals.opus", dtype="float32")
    a, _ = sf.read(root / "clips" / f"{name}.accompaniment.opus", dtype="float32")
    n = min(len(v), len(a))
    v, a = v[:n], a[:n]
    ev, ea = float(np.sum(v.astype(np.float64) ** 2)), float(np.sum(a.astype(np.float64) ** 2))
    mix = (v + a * np.float32(np.sqrt(ev / ea) if ea > 0 else 1.0)).astype(np.float32)
    dur = n / SR
    secs: dict[str, float] = {}

    t0 = time.perf_counter()
    sources = {"true": v, "mix": mix}
    sources["net"] = separate_array(mix, SR, separator=_W["net"]).vocals[:, 0]
    secs["sep:net"] = time.perf_counter() - t0
    if "unet" in _W:
        t0 = time.perf_counter()
        sources["unet"] = _W["unet"].separate(mix)[0]
        secs["sep:unet"] = time.perf_counter() - t0

    ref_t, ref_f = labels(root, name)
    t0 = time.perf_counter()
    track = live_track_rate(v, SR)
    secs["live"] = time.perf_counter() - t0
    out = {}
    runs = [(key, x, reference_melody) for key, x in sources.items()] + [("file_true", v, song_melody)]
    if "unet" in sources:
        runs += [("file", sources["unet"], song_melody), ("plain", sources["unet"], plain_pyin)]
    for key, x, tracker in runs:
        t0 = time.perf_counter()
        m = tracker(x, SR)
        secs[key] = time.perf_counter() - t0
        scores = mir_eval.melody.evaluate(ref_t, ref_f, m.times_s, m.f0_hz)
        out[key] = [scores[k] for k in METRICS] + [singer_score(m, track)]
    t0 = time.perf_counter()
    yt, yf = plain_yin(v)
    secs["yin"] = time.perf_counter() - t0
    out["yin"] = [mir_eval.melody.evaluate(ref_t, ref_f, yt, yf)[k] for k in METRICS] + [np.nan]
    lt = np.array([t for t, _ in track])
    lf = np.array([f for _, f in track])
    out["live"] = [mir_eval.melody.evaluate(ref_t, ref_f, lt, lf)[k] for k in METRICS] + [np.nan]
    return name, dur, out, {k: dur / s for k, s in secs.items()}


def song_rows(data: Path, unet: bool) -> list[str]:
    """The 44.1 kHz stereo song: each tracker on the same separated vocals, scored against plain pYIN
    on the true stem (and against each tracker's own melody of the true stem); speed and memory."""
    import mir_eval
    import soundfile as sf

    from rtsep.filemode import separate_array
    from rtsep.pitch import MelodyTracker, reference_melody, song_melody

    root = data / "songs" / "ultimate-nz-tour"
    if not (root / "vocals.flac").is_file():
        return [f"# song: not found at {root}"]
    warnings.simplefilter("ignore")
    mix, sr = sf.read(root / "mixture.flac", dtype="float32", always_2d=True)
    voc, _ = sf.read(root / "vocals.flac", dtype="float32", always_2d=True)
    dur = len(mix) / sr
    # In the order of the truths A, B, C below.
    trackers = {"plain pYIN": plain_pyin, "rtsep melody (song_melody)": song_melody,
                "live tracker (reference_melody)": reference_melody}
    for fn in trackers.values():
        fn(voc[:sr], sr)  # warm-up (librosa import, Numba)
    truths, speed = {}, {}
    for label, fn in trackers.items():
        t0 = time.perf_counter()
        truths[label] = fn(voc, sr)
        speed[label] = dur / (time.perf_counter() - t0)
    tracker = MelodyTracker(sr)
    t0 = time.perf_counter()
    for i in range(0, len(voc), sr):
        tracker.push(voc[i:i + sr])
    tracker.finish()
    t_chunks = time.perf_counter() - t0
    same = float(np.mean(np.abs(tracker.melody.f0_hz - truths["live tracker (reference_melody)"].f0_hz) < 1.0))
    t0 = time.perf_counter()
    plain_yin_rate(voc, sr)
    t_yin = time.perf_counter() - t0
    track = live_track_rate(voc.mean(axis=1), sr)
    lines = [f"# song ultimate-nz-tour ({dur:.0f} s, {sr} Hz stereo): speed on the true vocal stem, one process"]
    lines += [f"{label:<46} {x:8.1f}x real time" for label, x in speed.items()]
    lines += [f"{'live tracker, 1 s chunks (as the karaoke host)':<46} {dur / t_chunks:8.1f}x real time, "
              f"{100 * same:.1f} % of frames equal to its whole-song run",
              f"{'plain librosa.yin at the same rate (reference)':<46} {dur / t_yin:8.1f}x real time",
              "", "# melody from separated vocals, mir_eval against pYIN on the TRUE vocal stem. Truth A: plain pYIN",
              "# (44.1 kHz, 2048-sample frames, 65-1000 Hz); B: rtsep melody's settings; C: the live tracker's.",
              "# Singer score: the true stem sung into StreamingPitch against the row's melody (true stem's own "
              f"melody: {singer_score(truths['rtsep melody (song_melody)'], track):.1f}).",
              f"{'vocals / tracker':<46} {'RPA A':>6} {'OA A':>6} {'VR A':>6} {'VFA A':>6} {'RPA B':>6} {'OA B':>6} "
              f"{'RPA C':>6} {'OA C':>6} {'singer':>7}"]
    seps = {"rtsep net": lambda: separate_array(mix, sr).vocals}
    if unet:
        from rtsep.unet import UNetSeparator
        seps = {"U-Net": lambda: UNetSeparator(sr, mix.shape[1]).separate(mix)[0], **seps}
    for sep_label, sep in seps.items():
        t0 = time.perf_counter()
        vocals = sep()
        t_sep = time.perf_counter() - t0
        for label, fn in trackers.items():
            est = fn(vocals, sr)
            cols = []
            for k, truth in enumerate(truths.values()):
                sc = mir_eval.melody.evaluate(truth.times_s, truth.f0_hz, est.times_s, est.f0_hz)
                keys = METRICS[0:1] + METRICS[2:5] if k == 0 else (METRICS[0], METRICS[2])
                cols += [sc[m] for m in keys]
            lines.append(f"{sep_label + ': ' + label.split(' (')[0]:<46} " + " ".join(f"{x:6.3f}" for x in cols)
                         + f" {singer_score(est, track):7.1f}")
        lines.append(f"{'  (separation: ' + sep_label + ')':<46} {dur / t_sep:8.1f}x real time")
    lines += ["", five_minute_cost(root / "vocals.flac")]
    return lines


def _rss_mib() -> float:
    """This process's resident memory now (Linux /proc), MiB."""
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) / 1024


def _five_minute_child(path: str, seconds: int, out) -> None:
    """In a fresh process: the stem repeated to ``seconds``, then ``song_melody``'s time and how far
    its resident memory rose above what the audio and the imports held before the call (sampled
    every 20 ms: the process's lifetime peak would also count the audio's loading)."""
    import threading

    import soundfile as sf

    from rtsep.pitch import song_melody

    voc, sr = sf.read(path, dtype="float32", always_2d=True)
    long = np.ascontiguousarray(np.tile(voc, (seconds * sr // len(voc) + 1, 1))[:seconds * sr])
    del voc
    song_melody(long[:sr], sr)  # imports, Numba: not counted
    base, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_mib())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    song_melody(long, sr)
    secs = time.perf_counter() - t0
    done.set()
    watcher.join()
    out.put((secs, peak[0] - base))


def five_minute_cost(path: Path, seconds: int = 300) -> str:
    """Time and peak-memory growth of ``song_melody`` on the stem at ``path`` repeated to 5 minutes."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_five_minute_child, args=(str(path), seconds, q))
    proc.start()
    secs, mib = q.get()
    proc.join()
    return (f"{f'rtsep melody on a {seconds} s song (the song repeated)':<46} {secs:8.1f} s "
            f"({seconds / secs:.1f}x real time), "
            f"peak memory +{mib:.0f} MiB over the audio and the imports (pieces of 15 s)")


def plain_yin_rate(x: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    mono = x.mean(axis=1) if x.ndim == 2 else x
    return librosa.yin(mono, fmin=65.0, fmax=1050.0, sr=sr, frame_length=4096, hop_length=round(0.01 * sr))


def live_track_rate(x: np.ndarray, sr: int) -> list[tuple[float, float]]:
    from rtsep.pitch import StreamingPitch

    sp = StreamingPitch(sr)
    out, seen = [], 0
    for i in range(0, len(x), 128):
        sp.push(x[i:i + 128])
        if sp.analyses != seen:
            seen = sp.analyses
            out.append(sp.latest())
    return out


def machine() -> str:
    import subprocess

    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown CPU"
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model name")),
                 "unknown CPU")
    return f"{model}, {os.cpu_count()} CPUs"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every 25th test clip")
    p.add_argument("--step", type=int, default=0, help="every Nth test clip")
    p.add_argument("--limit", type=int, default=0, help="at most N clips (debugging)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--no-unet", action="store_true", help="skip the U-Net separator")
    p.add_argument("--no-song", action="store_true", help="skip the 44.1 kHz song")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "melody.txt"))
    args = p.parse_args()
    mir1k = Path(args.data) / "mir1k"
    if not (mir1k / "splits.json").is_file():
        print(f"MIR-1K not found at {mir1k}", file=sys.stderr)
        return 2
    names = json.loads((mir1k / "splits.json").read_text())["test"]
    if args.quick or args.step:
        names = names[::args.step or 25]
    if args.limit:
        names = names[:args.limit]
    unet = False
    if not args.no_unet:
        try:
            from rtsep.unet import unet_model_path
            unet = unet_model_path().is_file()
        except ImportError:
            pass
    wargs = {"mir1k": str(mir1k), "unet": unet}
    t_start = time.time()
    results = []
    with Pool(args.jobs, initializer=_init, initargs=(wargs,)) as pool:
        for k, res in enumerate(pool.imap_unordered(clip_task, names, chunksize=1), 1):
            results.append(res)
            if k % 25 == 0 or k == len(names):
                print(f"  {k}/{len(names)} clips, {time.time() - t_start:.0f} s", file=sys.stderr, flush=True)

    total_s = sum(r[1] for r in results)
    subset = f"every {args.step or 25}th test clip" if args.quick or args.step else "protocol test split"
    lines = [f"# machine: {machine()}",
             f"# rtsep.pitch melody accuracy on MIR-1K ({len(results)} test clips, {total_s / 60:.1f} min, "
             f"0 dB mixtures; {subset})",
             "# mir_eval.melody against the MIR-1K pitch labels; clip means. Singer score: karaoke score of the",
             "# true vocal sung into StreamingPitch against this row's reference (50 cents, octave-folded).",
             "",
             f"{'row':<46} {'RPA':>6} {'RCA':>6} {'OA':>6} {'VR':>6} {'VFA':>6} {'singer score':>13}"]
    for key, label in ROWS:
        vals = np.array([r[2][key] for r in results if key in r[2]], dtype=float)
        if not len(vals):
            lines.append(f"{label:<46} (not run: rtsep.unet or its model is absent)")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reference rows have no singer score
            m = np.nanmean(vals, axis=0)
        score = "" if np.isnan(m[5]) else f"{m[5]:.1f}"
        lines.append(f"{label:<46} " + " ".join(f"{x:6.3f}" for x in m[:5]) + f" {score:>13}")
    lines += ["", "# speed: x real time per step, one process (median over clips; 2 processes ran side by side)"]
    speeds = {k: float(np.median([r[3][k] for r in results if k in r[3]]))
              for k in sorted({k for r in results for k in r[3]})}
    names_ = {"true": "pYIN tracker (reference_melody), true vocal", "mix": "pYIN tracker, mixture",
              "net": "pYIN tracker, net vocals", "unet": "pYIN tracker, U-Net vocals",
              "yin": "plain librosa.yin + gate (reference)", "live": "StreamingPitch, 128-frame blocks",
              "sep:net": "separation: rtsep net (quality twin)", "sep:unet": "separation: U-Net",
              "file": "rtsep melody (song_melody), U-Net vocals", "file_true": "rtsep melody, true vocal",
              "plain": "plain pYIN, U-Net vocals"}
    for k, x in speeds.items():
        lines.append(f"{names_.get(k, k):<46} {x:8.1f}x real time")
    if "yin" in speeds and "true" in speeds:
        lines.append(f"{'pYIN tracker cost / plain YIN cost':<46} {speeds['yin'] / speeds['true']:8.1f}x")
    if not args.no_song:
        lines += [""] + song_rows(Path(args.data), unet)
    lines.append(f"# wall time {time.time() - t_start:.0f} s with {args.jobs} processes; load average "
                 f"{os.getloadavg()[0]:.1f} at the end (other work shares this 2-core machine)")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
