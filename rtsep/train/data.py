"""MIR-1K loading (decoded once into a cache) and on-the-fly mixing for training."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000


def default_data_dir() -> Path:
    """``../shared/data`` relative to the repository root (overridable with RTSEP_DATA)."""
    env = os.environ.get("RTSEP_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return (repo / ".." / "shared" / "data").resolve()


def default_cache_dir() -> Path:
    return Path(os.environ.get("RTSEP_CACHE", Path.home() / ".cache" / "rtsep"))


def _decode(path: str, stereo: bool = False) -> np.ndarray:
    """16 kHz float32: mono ``(samples,)``, or with ``stereo`` ``(samples, 2)`` (mono files
    duplicated, channels beyond two dropped)."""
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != SR:
        import soxr

        x = soxr.resample(x, sr, SR)
    if stereo:
        return np.ascontiguousarray(x[:, [0, min(1, x.shape[1] - 1)]], dtype=np.float32)
    return np.ascontiguousarray(x.mean(axis=1), dtype=np.float32)


def _try_decode(job):
    path, stereo = job
    try:
        return _decode(path, stereo)
    except Exception:
        return None


def _decode_pair(args):
    clips, name = args
    v = _decode(str(Path(clips) / f"{name}.vocals.opus"))
    a = _decode(str(Path(clips) / f"{name}.accompaniment.opus"))
    n = min(len(v), len(a))
    return name, v[:n], a[:n]


@dataclass
class Mir1k:
    """All MIR-1K clips concatenated: ``vocals``/``accomp`` float32, ``offsets`` (n+1,)."""

    names: list[str]
    vocals: np.ndarray
    accomp: np.ndarray
    offsets: np.ndarray
    splits: dict
    vad: np.ndarray | None = None

    def index(self, name: str) -> int:
        return self._idx[name]

    def __post_init__(self):
        self._idx = {n: i for i, n in enumerate(self.names)}

    def clip(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        i = self._idx[name]
        a, b = self.offsets[i], self.offsets[i + 1]
        return np.asarray(self.vocals[a:b]), np.asarray(self.accomp[a:b])

    def clip_vad(self, name: str) -> np.ndarray:
        i = self._idx[name]
        return np.asarray(self.vad[self.offsets[i]:self.offsets[i + 1]])

    def clip_energy(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean power of each clip's vocal and accompaniment (cached)."""
        if not hasattr(self, "_energy"):
            ev = np.array([_energy(self.vocals[a:b]) for a, b in zip(self.offsets[:-1], self.offsets[1:])])
            ea = np.array([_energy(self.accomp[a:b]) for a, b in zip(self.offsets[:-1], self.offsets[1:])])
            self._energy = (ev, ea)
        return self._energy

    def singer(self, name: str) -> str:
        return name.split("_")[0]


def mir1k_root(data_dir: str | os.PathLike | None = None) -> Path:
    root = Path(data_dir) if data_dir else default_data_dir()
    m = root / "mir1k"
    if not (m / "clips").is_dir() or not (m / "splits.json").is_file():
        raise FileNotFoundError(f"MIR-1K not found at {m}")
    return m


def load_mir1k(data_dir=None, cache_dir=None, workers: int = 2, progress: bool = True) -> Mir1k:
    """Decode every clip once into ``cache_dir/mir1k-16k/*.npy`` (memory-mapped afterwards)."""
    root = mir1k_root(data_dir)
    splits = json.loads((root / "splits.json").read_text())
    cache = Path(cache_dir or default_cache_dir()) / "mir1k-16k"
    done = cache / "names.json"
    if not done.is_file():
        names = sorted(p.name[: -len(".vocals.opus")] for p in (root / "clips").glob("*.vocals.opus"))
        cache.mkdir(parents=True, exist_ok=True)
        jobs = [(str(root / "clips"), n) for n in names]
        if workers > 1:
            from multiprocessing import Pool

            with Pool(workers) as pool:
                it = pool.imap(_decode_pair, jobs, chunksize=8)
                res = list(_maybe_tqdm(it, len(jobs), progress, "decode MIR-1K"))
        else:
            res = [_decode_pair(j) for j in _maybe_tqdm(jobs, len(jobs), progress, "decode MIR-1K")]
        lens = np.array([len(r[1]) for r in res])
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        np.save(cache / "vocals.npy", np.concatenate([r[1] for r in res]))
        np.save(cache / "accomp.npy", np.concatenate([r[2] for r in res]))
        np.save(cache / "offsets.npy", offsets)
        tmp = cache / "names.json.tmp"
        tmp.write_text(json.dumps([r[0] for r in res]))
        tmp.replace(done)
    names = json.loads(done.read_text())
    offsets = np.load(cache / "offsets.npy")
    lab_path = cache / "vad.npy"
    if not lab_path.is_file():
        lab = np.zeros(offsets[-1], np.uint8)
        for i, n in enumerate(names):
            a, b = offsets[i], offsets[i + 1]
            lab[a:b] = vad_per_sample(root / "labels" / "vocal-nonvocal" / f"{n}.vocal", b - a)
        np.save(cache / "vad.tmp.npy", lab)
        (cache / "vad.tmp.npy").replace(lab_path)
    return Mir1k(names=names,
                 vocals=np.load(cache / "vocals.npy", mmap_mode="r"),
                 accomp=np.load(cache / "accomp.npy", mmap_mode="r"),
                 offsets=offsets,
                 splits=splits,
                 vad=np.load(lab_path, mmap_mode="r"))


LABEL_FRAME = 640  # 40 ms
LABEL_HOP = 320  # 20 ms


def read_vad_labels(path) -> np.ndarray:
    """MIR-1K vocal/non-vocal labels: one 0/1 per 40 ms frame, 20 ms hop."""
    return np.array([int(float(t)) for t in Path(path).read_text().split()], dtype=np.uint8)


def label_centres(n_labels: int) -> np.ndarray:
    """Sample index of each label frame's centre."""
    return np.arange(n_labels) * LABEL_HOP + LABEL_FRAME // 2


def activity_at_labels(vad: np.ndarray, times_s: np.ndarray, n_labels: int) -> np.ndarray:
    """The engine's activity ``vad`` (frames at ``times_s``, e.g. a ``SeparationResult``'s) at
    each of ``n_labels`` label frames: the value of the frame nearest its centre."""
    lab_t = label_centres(n_labels) / SR
    j = np.clip(np.searchsorted(times_s, lab_t), 1, len(times_s) - 1)
    return vad[np.where(np.abs(times_s[j - 1] - lab_t) <= np.abs(times_s[j] - lab_t), j - 1, j)]


def mixture_at_0db(vocals: np.ndarray, accomp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The protocol's 0 dB mixture of a clip: ``vocals``, the accompaniment scaled to the vocals'
    energy (float64) and their sum (float32)."""
    v = vocals.astype(np.float64)
    a = accomp.astype(np.float64)
    a = a * np.sqrt(np.sum(v ** 2) / max(np.sum(a ** 2), 1e-20))
    return v, a, (v + a).astype(np.float32)


def vad_per_sample(path, length: int) -> np.ndarray:
    """Expand frame labels to samples (each sample takes the label of the nearest frame centre)."""
    lab = read_vad_labels(path)
    if len(lab) == 0:
        return np.zeros(length, np.uint8)
    idx = np.clip(np.round((np.arange(length) - LABEL_FRAME // 2) / LABEL_HOP).astype(np.int64), 0, len(lab) - 1)
    return lab[idx]


def _maybe_tqdm(it, total, on, desc):
    if not on:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc)


def load_extra_accompaniment(directory, cache_dir=None, max_minutes: float = 360.0,
                             stereo: bool = False, workers: int = 1) -> np.ndarray | None:
    """Decode every audio file under ``directory`` (Ogg/FLAC/WAV) to 16 kHz mono ``(samples,)``
    or, with ``stereo``, ``(samples, 2)``; cached. ``workers`` processes decode the files
    (in order: the cache is the same whatever their number)."""
    if not directory:
        return None
    d = Path(directory)
    files = sorted(p for p in d.rglob("*") if p.suffix.lower() in (".ogg", ".opus", ".flac", ".wav"))
    if not files:
        raise FileNotFoundError(f"no audio files under {d}")
    import hashlib

    key = hashlib.sha1("\n".join(str(p) for p in files).encode()).hexdigest()[:12]
    cache = Path(cache_dir or default_cache_dir()) / f"extra-{key}{'-stereo' if stereo else ''}.npy"
    if cache.is_file():
        return np.load(cache, mmap_mode="r")
    out, total = [], 0
    jobs = [(str(p), stereo) for p in files]
    from contextlib import nullcontext
    from multiprocessing import Pool

    # leaving the pool terminates it: the files past max_minutes are not decoded for nothing
    with Pool(workers) if workers > 1 else nullcontext() as pool:
        decoded = pool.imap(_try_decode, jobs) if pool else map(_try_decode, jobs)
        for x in _maybe_tqdm(decoded, len(files), True, "decode extra"):
            if x is None:  # unreadable file: skipped
                continue
            out.append(x)
            total += len(x)
            if total > max_minutes * 60 * SR:
                break
    arr = np.concatenate(out).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npy")  # atomic: parallel runs share the cache
    np.save(tmp, arr)
    tmp.replace(cache)
    return np.load(cache, mmap_mode="r")


def _energy(x):
    return float(np.mean(x.astype(np.float64) ** 2)) + 1e-10


class Mixer:
    """Random training mixtures: vocal and accompaniment crops from different clips.

    The accompaniment is scaled so that the *clip-level* vocal-to-accompaniment ratio (as in
    the protocol's 0 dB mixtures) is uniform in ``[-snr_range, snr_range]`` dB; random overall
    level and polarity. ``sample()`` returns vocal, accompaniment and the vocal's per-sample
    activity label.
    """

    def __init__(self, data: Mir1k, names: list[str], seconds: float, seed: int,
                 extra: np.ndarray | None = None, extra_prob: float = 0.3, snr_range: float = 5.0,
                 same_clip_prob: float = 0.15, augment: bool = True):
        self.augment = augment
        self.data = data
        self.idx = np.array([data.index(n) for n in names])
        self.n = int(round(seconds * SR))
        self.rng = np.random.default_rng(seed)
        self.extra = extra
        self.extra_prob = extra_prob if extra is not None else 0.0
        self.snr_range = snr_range
        self.same_clip_prob = same_clip_prob
        self.ev, self.ea = data.clip_energy()

    def _span(self, i, n=None):
        a, b = int(self.data.offsets[i]), int(self.data.offsets[i + 1])
        n = n or self.n
        if b - a >= n:
            s = a + int(self.rng.integers(0, b - a - n + 1))
            return s, s + n, 0
        return a, b, int(self.rng.integers(0, n - (b - a) + 1))

    def _take(self, arr, s, e, pad, dtype=np.float32, n=None):
        out = np.zeros(n or self.n, dtype)
        out[pad:pad + e - s] = arr[s:e]
        return out

    def _resampled(self, i, arr, semitones, labels=False, span=None):
        """Crop of clip ``i`` played ``2**(semitones/12)`` times faster (pitch and formants move).

        ``span`` (from a previous call) reuses the same source excerpt, so that a vocal and its
        own accompaniment move together; returns ``(crop, labels, span)``."""
        import soxr

        r = 2.0 ** (semitones / 12)
        n_src = int(np.ceil(self.n * r)) + 8
        s, e, pad = span if span is not None else self._span(i, n_src)
        x = self._take(arr, s, e, pad, n=n_src)
        y = soxr.resample(x, SR * r, SR, quality="LQ")
        y = np.pad(y, (0, max(0, self.n - len(y))))[:self.n].astype(np.float32)
        lab = None
        if labels:
            src = self._take(self.data.vad, s, e, pad, np.uint8, n=n_src)
            lab = src[np.minimum((np.arange(self.n) * r).astype(np.int64), n_src - 1)]
        return y, lab, (s, e, pad)

    def _eq(self, x):
        """Random two-band tilt: a one-pole split at 300-3000 Hz, each band +-6 dB."""
        from scipy.signal import lfilter

        fc = np.exp(self.rng.uniform(np.log(300), np.log(3000)))
        a = 1 - np.exp(-2 * np.pi * fc / SR)
        low = lfilter([a], [1, a - 1], x).astype(np.float32)
        gl, gh = 10 ** (self.rng.uniform(-6, 6, 2) / 20)
        return (gl * low + gh * (x - low)).astype(np.float32)

    def sample(self):
        rng, d = self.rng, self.data
        iv = int(rng.choice(self.idx))
        ev = self.ev[iv]
        if self.augment and rng.random() < self.same_clip_prob:
            # the test mixtures pair a vocal with its own accompaniment (same key and tempo, so
            # harmonics overlap): keep such pairs, shifted together into new keys and voices
            semitones = rng.uniform(-4, 4) if rng.random() < 0.8 else 0.0
            v, lab, span = self._resampled(iv, d.vocals, semitones, labels=True)
            acc, _, _ = self._resampled(iv, d.accomp, semitones, span=span)
            if rng.random() < 0.7:
                v = self._eq(v)
            if rng.random() < 0.5:
                acc = self._eq(acc)
            ea = self.ea[iv]
        elif self.augment and rng.random() < 0.8:
            # new "singers": pitch/formant shift by resampling, random spectral tilt
            v, lab, _ = self._resampled(iv, d.vocals, rng.uniform(-4, 4), labels=True)
            if rng.random() < 0.7:
                v = self._eq(v)
            ia = int(rng.choice(self.idx))
            if rng.random() < 0.5:
                acc, _, _ = self._resampled(ia, d.accomp, rng.uniform(-3, 3))
            else:
                s2, e2, pad2 = self._span(ia)
                acc = self._take(d.accomp, s2, e2, pad2)
            if rng.random() < 0.5:
                acc = self._eq(acc)
            ea = self.ea[ia]
            if self.extra is not None and rng.random() < self.extra_prob:
                j = int(rng.integers(0, len(self.extra) - self.n))
                acc = np.array(self.extra[j:j + self.n], dtype=np.float32)
                ea = _energy(acc)
        elif rng.random() < self.same_clip_prob:
            s, e, pad = self._span(iv)
            v = self._take(d.vocals, s, e, pad)
            lab = self._take(d.vad, s, e, pad, np.uint8)
            acc = self._take(d.accomp, s, e, pad)
            ea = self.ea[iv]
        elif self.extra is not None and rng.random() < self.extra_prob:
            s, e, pad = self._span(iv)
            v = self._take(d.vocals, s, e, pad)
            lab = self._take(d.vad, s, e, pad, np.uint8)
            j = int(rng.integers(0, len(self.extra) - self.n))
            acc = np.array(self.extra[j:j + self.n], dtype=np.float32)
            ea = _energy(acc)
        else:
            s, e, pad = self._span(iv)
            v = self._take(d.vocals, s, e, pad)
            lab = self._take(d.vad, s, e, pad, np.uint8)
            ia = int(rng.choice(self.idx))
            s2, e2, pad2 = self._span(ia)
            acc = self._take(d.accomp, s2, e2, pad2)
            ea = self.ea[ia]
        snr = rng.uniform(-self.snr_range, self.snr_range)
        acc = acc * np.float32(np.sqrt(ev / ea) * 10 ** (-snr / 20))
        v = v * np.float32(1 if rng.random() < 0.5 else -1)
        acc = acc * np.float32(1 if rng.random() < 0.5 else -1)
        peak = float(np.abs(v + acc).max()) + 1e-6
        g = np.float32(10 ** (rng.uniform(-20, -1) / 20) / peak)
        return v * g, acc * g, lab

    def batch(self, size: int):
        vs, accs, labs = zip(*(self.sample() for _ in range(size)))
        return np.stack(vs), np.stack(accs), np.stack(labs)
