"""Engine benchmark: per-block time of STFT -> model -> ISTFT, and file-mode speed.

Each figure stands beside a reference measured in the same process: the same processing
(same windows, same ONNX model, same frames) written with plain numpy per block, without
Numba. The process is pinned to one core and ONNX Runtime uses one thread.

    python benchmarks/engine.py [--model PATH] [--seconds 20] [--rate 48000]

Targets (issue 2): file mode >= 100x real time; p99.9 <= 25 % of the block period at
128 frames, 48 kHz.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from rtsep import Separator
from rtsep.model.onnx_model import MaskModel


class NumpySeparator:
    """Reference: the separator's streaming STFT in plain numpy (karaoke output)."""

    def __init__(self, sep: Separator):
        w = sep.stft.windows
        self.wa, self.ws = w.analysis, w.synthesis
        self.n_fft, self.hop, self.tail = w.n_fft, w.hop, w.synthesis_len
        self.latency = sep.latency_samples
        self.channels = sep.channels
        self.model = MaskModel(sep.card.path)
        self.n_model = sep.card.n_bins
        self.gain = sep._in_gain
        self.edge = sep._edge_bins
        self.look = sep.lookahead_frames
        self.span = self.n_fft + (self.look + 1) * self.hop  # history both buffers keep: >= latency + hop
        self.hist = np.zeros((self.span, self.channels))  # last input samples, oldest first
        self.acc = np.zeros((self.span, self.channels))  # overlap-add over the same span of time
        self.waiting: list[np.ndarray] = []  # spectra waiting for their (look-ahead) mask
        self.since = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        out = []
        i = 0
        n = len(block)
        while i < n:
            take = min(self.hop - self.since, n - i)
            chunk = np.nan_to_num(block[i:i + take].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            self.hist = np.concatenate([self.hist[take:], chunk])
            self.acc = np.concatenate([self.acc[take:], np.zeros((take, self.channels))])
            self.since += take
            i += take
            if self.since == self.hop:
                self.since = 0
                spec = np.fft.rfft(self.hist[-self.n_fft:] * self.wa[:, None], axis=0)  # (bins, channels)
                mono = spec[:self.n_model].sum(axis=1) * self.gain
                x = np.zeros((1, self.n_model, 2), np.float32)
                x[0, :len(mono), 0], x[0, :len(mono), 1] = mono.real, mono.imag
                mask, _ = self.model.run(x)
                self.waiting.append(spec)
                if len(self.waiting) > self.look:
                    spec = self.waiting.pop(0)  # the frame this mask belongs to
                    m = np.empty(spec.shape[0])
                    k = min(len(m), self.n_model)
                    m[:k] = mask[0, :k]
                    m[k:] = mask[0, self.n_model - self.edge:].mean() if self.edge else 0.0
                    frame = np.fft.irfft(spec * m[:, None], self.n_fft, axis=0) * self.ws[:, None]
                    end = self.span - self.look * self.hop  # that frame ended look*hop ago
                    self.acc[end - self.tail:end] += frame[self.n_fft - self.tail:]
            # The chunk's outputs are the samples `latency` behind it: final by now.
            lo, hi = self.span - self.latency - take, self.span - self.latency
            out.append(self.hist[lo:hi] - self.acc[lo:hi])
        return np.concatenate(out).astype(np.float32)


def block_times(proc, x: np.ndarray, blocksize: int) -> np.ndarray:
    times = []
    for i in range(0, len(x) - blocksize + 1, blocksize):
        blk = x[i:i + blocksize]
        t0 = time.perf_counter_ns()
        proc.process(blk)
        times.append(time.perf_counter_ns() - t0)
    return np.array(times) / 1e6  # ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--channels", type=int, default=2)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    rng = np.random.default_rng(0)
    sr, ch = args.rate, args.channels
    x = (0.1 * rng.standard_normal((int(args.seconds * sr), ch))).astype(np.float32)
    # Blocks are timed as the live host runs them: one bound model call per frame.
    sep = Separator(args.model, sample_rate=sr, channels=ch, mode="karaoke", max_block=2048, live=True)
    card = sep.card
    print(f"model {card.name}{' (placeholder)' if card.placeholder else ''}, {sr} Hz x {ch} ch, "
          f"STFT {sep.stft.n_fft}/{sep.stft.hop}/{sep.stft.windows.synthesis_len}, "
          f"latency {sep.latency_samples} samples = {1000 * sep.latency_samples / sr:.2f} ms, one core\n")

    # The reference must compute the same thing, or the comparison means nothing.
    ref = NumpySeparator(sep)
    n_check = sr
    y_ref = np.concatenate([ref.process(x[i:i + 500]) for i in range(0, n_check, 500)])
    sep.reset()
    y = np.concatenate([sep.process(x[i:i + 500]).copy() for i in range(0, n_check, 500)])
    print(f"check: rtsep vs numpy reference, max |diff| = {np.max(np.abs(y - y_ref)):.2e}\n")
    assert np.max(np.abs(y - y_ref)) < 1e-4, "the numpy reference does not compute the same thing"

    print("| block | period ms | engine p50 | p99 | p99.9 | max | numpy ref p50 | p99 | p99.9 | max "
          "| p99.9 % of period | speed-up p99.9 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bs in (64, 128, 256, 512, 2048):
        period = 1000 * bs / sr
        sep.reset()
        block_times(sep, x[:sr], bs)  # warm-up
        sep.reset()
        t_e = block_times(sep, x, bs)
        r = NumpySeparator(sep)
        t_r = block_times(r, x[:int(min(args.seconds, 10) * sr)], bs)
        qe = np.percentile(t_e, [50, 99, 99.9])
        qr = np.percentile(t_r, [50, 99, 99.9])
        print(f"| {bs} | {period:.2f} | {qe[0]:.3f} | {qe[1]:.3f} | {qe[2]:.3f} | {t_e.max():.3f} | "
              f"{qr[0]:.3f} | {qr[1]:.3f} | {qr[2]:.3f} | {t_r.max():.3f} | {100 * qe[2] / period:.1f} % | "
              f"{qr[2] / qe[2]:.1f}x |")
    print("\n(times in ms per block; engine = Separator(live=True), as the live host runs it)\n")

    print("| file mode (4096-frame blocks) | model | latency ms | x real time | numpy ref x RT | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    secs = min(args.seconds, 10)
    # file mode batches blocks of >= 4 model frames (Separator's default, live=False)
    points = [("low", Separator(args.model, sample_rate=sr, channels=ch, mode="karaoke"))]
    if args.model is None:  # also the file-mode default: the quality operating point
        points.append(("quality", Separator(None, sample_rate=sr, channels=ch, mode="karaoke", latency="quality")))
    for point, s in points:
        s.reset()
        t0 = time.perf_counter()
        s(x, blocksize=4096)
        rt_engine = args.seconds / (time.perf_counter() - t0)
        r = NumpySeparator(s)
        t0 = time.perf_counter()
        for i in range(0, int(secs * sr), 4096):
            r.process(x[i:i + 4096])
        rt_ref = secs / (time.perf_counter() - t0)
        print(f"| {point} | {s.card.name} | {1000 * s.latency_samples / sr:.1f} | {rt_engine:.0f}x | "
              f"{rt_ref:.0f}x | {rt_engine / rt_ref:.1f}x |")


if __name__ == "__main__":
    main()
