"""The trials behind rtsep/unet/ladder.py's choices, on the 44.1 kHz song (exploration harness).

Runs the network once per frame K on the window whose newest real frame is K and keeps the vocal
masks of its newest 24 frames; any (look-ahead L, step S) scheme is then assembled from those
without running the network again (a frame f output by the step at K = ceil((f + L) / S) * S
takes window K's mask at position K - f), which is what ``StreamingUNet`` computes (the same
figures as benchmarks/latency_ladder.py to 0.01 dB). Scores: mir_eval ``bss_eval_images_framewise``,
1 s, median. Each trial prints ``tag L S (vocals, accompaniment)``; a whole run takes ~40 min on
two busy cores.

    python benchmarks/unet_stream_trials.py                   # every trial
    python benchmarks/unet_stream_trials.py future wiener     # some of them
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtsep.unet.dynamic import dynamic_session  # noqa: E402
from rtsep.unet.model import ratio_masks  # noqa: E402
from rtsep.unet.separator import unet_model_path  # noqa: E402
from rtsep.unet.stft import HOP, N_FFT, analyse, overlap_add, synthesise  # noqa: E402

F = 1024
SONG = REPO.parent / "shared" / "data" / "songs" / "ultimate-nz-tour"


class Song:
    def __init__(self):
        import soundfile as sf

        self.mix, self.sr = sf.read(SONG / "mixture.flac", dtype="float32", always_2d=True)
        self.refs = np.stack([sf.read(SONG / f"{s}.flac", dtype="float32", always_2d=True)[0]
                              for s in ("vocals", "accompaniment")]).astype(np.float64)
        self.n = len(self.mix)
        self.frames = -(-(self.n + N_FFT) // HOP)
        padded = np.zeros(((self.frames + 3) * HOP, 2), np.float32)
        padded[N_FFT:N_FFT + self.n] = self.mix
        self.spec = analyse(padded, self.frames)                          # (ch, frames, 2049)
        self.mag = np.abs(self.spec[:, :, :F]).transpose(1, 2, 0).copy()  # (frames, F, ch)

    def score(self, vocals, accomp):
        import mir_eval

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sdr = mir_eval.separation.bss_eval_images_framewise(
                self.refs, np.stack([vocals, accomp]).astype(np.float64), window=self.sr, hop=self.sr,
                compute_permutation=False)[0]
        return tuple(round(float(np.median(s[np.isfinite(s)])), 2) for s in sdr)

    def synth(self, vspec, full_band=True):
        band = self.spec.copy()
        if not full_band:
            band[:, :, F:] = 0
        y = overlap_add(synthesise(np.stack([vspec, band - vspec]))).reshape(2, 2, -1)[:, :, N_FFT:N_FFT + self.n]
        return y[0].T, y[1].T


def window_masks(song, sess, w, future="edge", p=0, vocal=False, keep=24):
    """masks[K, j]: the vocal mask of frame K - j from the window whose newest real frame is K."""
    out = np.zeros((song.frames, keep, F, 2), np.float16)
    r = w - p
    for k in range(song.frames):
        x = np.zeros((w, F, 2), np.float32)
        src = song.mag[max(k - r + 1, 0):k + 1]
        x[r - len(src):r] = src
        if future == "mirror":
            x[r:] = x[r - 2:r - 2 - p:-1]
        elif future == "repeat":
            x[r:] = x[r - 1]
        if vocal:
            v = sess.run(["vocals"], {"magnitude": x[None]})[0][0]
            m = np.clip(np.divide(v, x, out=np.zeros_like(v), where=x > 0), 0, 1)
        else:
            v, a = sess.run(["vocals", "accompaniment"], {"magnitude": x[None]})
            m = ratio_masks(v[0], a[0], 2.0, 1e-10, first_only=True)
        out[k, :min(keep, r)] = m[r - 1::-1][:keep]
    return out


def assemble(song, masks, lk, s, avg=1, extend=True):
    """Vocal STFT of scheme (L, S); ``avg``: mean with the masks of the ``avg - 1`` earlier windows."""
    vm = np.zeros((song.frames, F, 2), np.float32)
    for f in range(song.frames):
        k = min(-(-(f + lk) // s) * s, song.frames - 1)
        got = [masks[k - i * s, k - i * s - f].astype(np.float32) for i in range(avg)
               if 0 <= k - i * s - f < masks.shape[1]]
        vm[f] = np.mean(got, axis=0)
    vs = np.zeros_like(song.spec)
    vs[:, :, :F] = vm.transpose(2, 0, 1) * song.spec[:, :, :F]
    if extend:
        vs[:, :, F:] = vm[:, F - 128:].mean(axis=1).T[:, :, None] * song.spec[:, :, F:]
    return vs


def wiener(song, masks, lk, s, ctx):
    """Vocal STFT of (L, S) with norbert's filter over the window's newest ``ctx`` frames."""
    from rtsep.unet.wiener import wiener_stems

    vs = np.zeros_like(song.spec)
    for k in range(0, song.frames + s, s):
        kc = min(k, song.frames - 1)
        fr = np.arange(kc - ctx + 1, kc + 1)
        fr = fr[fr >= 0]
        mk = masks[kc, kc - fr].astype(np.float32).transpose(2, 0, 1)
        ratio = np.sqrt(mk / np.maximum(1 - mk, 1e-6))   # V / A from the exponent-2 ratio mask
        mag = np.abs(song.spec[:, fr, :F])
        st = wiener_stems((ratio / (1 + ratio) * mag).astype(np.float32), (mag / (1 + ratio)).astype(np.float32),
                          song.spec[:, fr])
        for i, f in enumerate(fr):
            if k - lk - s + 1 <= f <= k - lk:
                vs[:, f] = st[0, :, i]
    vs[:, :, F:] = 0
    return vs


def main() -> int:
    wanted = set(sys.argv[1:]) or {"plain", "band", "future", "average", "wiener", "context", "vocal"}
    song = Song()
    both = dynamic_session(unet_model_path(), 1)
    half = dynamic_session(unet_model_path(), 1, vocals_only=True)
    t0 = time.time()
    m128 = window_masks(song, both, 128)
    if "plain" in wanted or "band" in wanted:
        m64 = window_masks(song, both, 64)
        for lk, s in ((0, 2), (2, 4), (4, 4), (8, 8), (16, 8)):
            for name, m in (("W64", m64), ("W128", m128)):
                print(name, "plain band-limited", lk, s,
                      song.score(*song.synth(assemble(song, m, lk, s, extend=False), full_band=False)), flush=True)
                print(name, "full band", lk, s, song.score(*song.synth(assemble(song, m, lk, s, extend=False))))
                print(name, "full band + vocals extended", lk, s, song.score(*song.synth(assemble(song, m, lk, s))))
    if "future" in wanted:
        for future, p in (("mirror", 4), ("mirror", 8), ("repeat", 4)):
            m = window_masks(song, both, 128, future, p)
            for lk, s in ((0, 2), (2, 4)):
                print("W128", future, p, lk, s, song.score(*song.synth(assemble(song, m, lk, s, extend=False))), flush=True)
    if "average" in wanted:
        print("W128 average of 2 windows", 4, 4, song.score(*song.synth(assemble(song, m128, 4, 4, avg=2, extend=False))))
    if "wiener" in wanted:
        for lk, s, ctx in ((4, 4, 24), (2, 4, 24), (4, 4, 12)):
            print("W128 wiener", ctx, lk, s, song.score(*song.synth(wiener(song, m128, lk, s, ctx))), flush=True)
    if "context" in wanted:
        m = window_masks(song, both, 192)
        for lk, s in ((3, 3), (4, 4), (1, 4), (0, 2)):
            print("W192", lk, s, song.score(*song.synth(assemble(song, m, lk, s))), flush=True)
    if "vocal" in wanted:
        m = window_masks(song, half, 128, vocal=True)
        for lk, s in ((0, 2), (1, 2), (1, 3), (2, 3), (3, 3), (4, 4), (8, 8), (16, 8)):
            print("W128 vocal U-Net mask", lk, s, song.score(*song.synth(assemble(song, m, lk, s))), flush=True)
            print("W128 ratio masks     ", lk, s, song.score(*song.synth(assemble(song, m128, lk, s))), flush=True)
    print(f"# {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
