"""``rtsep process IN -o OUT --chain SPEC``: run a chain of plugins over an audio file.

The output has the input's rate, channels and length, aligned with it sample for sample:
the chain's first ``latency_samples`` output samples are dropped and the chain is flushed
with as many zeros at the end. Written atomically; every error is one line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import AudioFileError
from ..io.audiofile import atomic_outputs, open_input
from ..plugins.base import Plugin
from ..plugins.spec import parse_chain

MAX_BLOCK = 8192
MIN_TAIL = 64  # frames: no block but a file shorter than this is smaller


def add_parser(sub):
    p = sub.add_parser("process", help="run a chain of plugins (LV2, VST3, effects, separator) over a file",
                       description="Run a chain over an audio file; the output has the input's rate, channels and "
                                   "length, latency-compensated. Chain syntax: docs/plugins.md, e.g. "
                                   "'lv2(\"http://plugin.org.uk/swh-plugins/gverb\", roomsize=20), gain(-3)'.")
    p.add_argument("input", metavar="IN", help="input audio file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (WAV, 32-bit float)")
    p.add_argument("--chain", required=True, metavar="SPEC", help="the chain, e.g. 'reverb(room_size=0.3), gain(-3)'")
    p.add_argument("--blocksize", type=int, default=4096, help="frames per block (default 4096)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--json", action="store_true", help="print one JSON summary")
    return p


def compensated(plugin: Plugin, blocks: Iterable[np.ndarray], channels: int) -> Iterator[np.ndarray]:
    """Yield ``plugin``'s output for ``blocks`` without its first ``latency_samples`` samples,
    flushed with zeros so that exactly as many samples come out as went in. The yielded
    arrays are views valid until the next iteration."""
    skip = plugin.latency_samples
    pending = 0  # samples that went in and have not come out yet
    step = plugin.max_block
    for block in blocks:
        for i in range(0, len(block), step):
            out = plugin.process(block[i:i + step])
            drop = min(skip, len(out))
            skip -= drop
            pending += drop  # every dropped sample is owed at the end
            if len(out) > drop:
                yield out[drop:]
    zeros = np.zeros((min(step, 4096), channels), np.float32)
    while pending > 0:  # whole blocks of silence: the tail beyond what is owed is dropped
        out = plugin.process(zeros)
        drop = min(skip, len(out))
        skip -= drop
        take = min(len(out) - drop, pending)
        pending -= take
        if take:
            yield out[drop:drop + take]


def run(args) -> int:
    src, dst = Path(args.input), Path(args.output)
    if args.blocksize < 1:
        raise AudioFileError(f"--blocksize must be >= 1, got {args.blocksize}")
    if dst.exists() and not args.force:
        raise AudioFileError(f"{dst} exists (use --force to overwrite)")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise AudioFileError(f"{dst} is the input file; write the output elsewhere")
    with open_input(src) as f:
        rate, channels, frames = f.samplerate, f.channels, f.frames
        blocksize = min(args.blocksize, MAX_BLOCK)
        chain = parse_chain(args.chain, rate, channels, max_block=blocksize + MIN_TAIL)
        nonfinite = 0

        def blocks():
            nonlocal nonfinite
            while True:
                left = frames - f.tell()
                # a short last block joins the one before (pedalboard cannot orient a block
                # of fewer frames than channels)
                n = left if left < blocksize + MIN_TAIL else blocksize
                try:
                    block = f.read(n, dtype="float32", always_2d=True)
                except Exception as exc:
                    raise AudioFileError(f"{src}: cannot decode ({str(exc).strip()[:120]})") from None
                if not len(block):
                    return
                bad = ~np.isfinite(block)
                if bad.any():  # NaN/Inf would poison every plugin's state: zeroed, and counted
                    nonfinite += int(bad.sum())
                    block[bad] = 0.0
                yield block

        t0 = time.perf_counter()
        written = 0
        try:
            with atomic_outputs([dst], rate, channels) as (out,):
                for y in compensated(chain, blocks(), channels):
                    out.write(y)
                    written += len(y)
        except OSError as exc:
            raise AudioFileError(f"cannot write {dst}: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - t0
    summary = {"input": str(src), "output": str(dst), "sample_rate": rate, "channels": channels,
               "frames": written, "latency_samples": chain.latency_samples,
               "latency_ms": 1000.0 * chain.latency_samples / rate, "chain": [repr(p) for p in chain],
               "nonfinite_samples": nonfinite, "seconds": seconds,
               "x_real_time": frames / rate / max(seconds, 1e-9)}
    if args.json:
        print(json.dumps(summary))
    else:
        note = f", {nonfinite} NaN/Inf samples zeroed" if nonfinite else ""
        print(f"{src} -> {dst} ({len(chain)} plugin(s), latency {chain.latency_samples} samples compensated, "
              f"{frames / rate:.1f} s in {seconds:.2f} s{note})")
    return 0
