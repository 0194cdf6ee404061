"""Pack what a GPU training run needs into ``.gpu/`` (git-ignored) for a lent device machine.

The device machine gets a copy of the working tree (tracked files plus carried ignored paths, at
most 64 MiB in all) and nothing else: no ``../shared``, no network. This script puts there

- ``data/mir1k``: the protocol's 175 training clips (Opus, as in ``../shared``), their vocal/non-vocal
  labels and ``splits.json`` (~19 MB; the 825 test clips stay here: they are scored on this machine);
- ``music``: the Debian instrumental music (``--extra-accompaniment``), up to ``--seconds`` of each
  track taken round-robin across albums, re-encoded as 16 kHz stereo Opus at ~28 kbit/s (~22 MB for
  45 tracks, 108 min; the full 304 min do not fit);
- ``whl``: the wheels the trainer needs that the machine's Python 3.12 lacks (soundfile, cffi,
  pycparser, pedalboard, soxr);
- ``run.sh``: the training command (``python -m rtsep.train ... --device cuda --procs 14``), its
  output (the exported model, ``log.csv``, the best weights) written to ``$OUT``.

    python models/gpu_bundle.py --music ~/.cache/rtsep/extra-music
    # then, with the three largest models moved out of the tree (the trainer needs none of them):
    #   device run: command "bash .gpu/run.sh", carry [".gpu"], timeout 570 s

See models/README.md ("Fifth session") for the run it made and what it gave.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = ["soundfile==0.14.0", "cffi", "pycparser", "pedalboard==0.9.26", "soxr==1.1.0"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "any"]
AUDIO = (".ogg", ".opus", ".flac", ".wav")

RUN_SH = r"""#!/bin/bash
# Device run (written by models/gpu_bundle.py): continue the protocol twin on the GPU.
cd "$(dirname "$0")/.." || exit 2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site RTSEP_CACHE=/tmp/cache PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba
nvidia-smi -L; nproc
set -o pipefail
timeout 480 python3 -m rtsep.train --config low --split protocol --stereo --init-from models/mir1k-protocol.onnx \
    --data .gpu/data --extra-accompaniment .gpu/music --extra-prob 0.5 --same-clip 0.5 --mono-prob 0.5 \
    --distill models/mir1k-protocol-quality.onnx --distill-weight 0.5 --device cuda --workdir /tmp/run \
    --out $OUT/mir1k-protocol-gpu.onnx --minutes ${MINUTES:-6.5} --lr 1e-3 --procs ${PROCS:-14} --batch 24 \
    --val-every 1 2>&1 | tr '\r' '\n' | grep -v 's/s\]' | tee $OUT/train.log
rc=$?
cp /tmp/run/log.csv $OUT/ 2>/dev/null
# the best weights too (the whole checkpoint, with the optimiser, is over the 16 MiB a returned file may have)
python3 -c "import torch; ck = torch.load('/tmp/run/best.pt', map_location='cpu', weights_only=False); torch.save(dict(net=ck['net'], state=ck['state']), '$OUT/best_net.pt')"
echo "rc $rc"
"""


def copy_protocol_train(src: Path, dst: Path) -> int:
    """The protocol's training clips, labels and splits from ``src`` (a ``mir1k`` folder)."""
    splits = json.loads((src / "splits.json").read_text())
    (dst / "clips").mkdir(parents=True, exist_ok=True)
    (dst / "labels" / "vocal-nonvocal").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "splits.json", dst / "splits.json")
    for name in splits["train"]:
        for stem in ("vocals", "accompaniment"):
            shutil.copy(src / "clips" / f"{name}.{stem}.opus", dst / "clips" / f"{name}.{stem}.opus")
        shutil.copy(src / "labels" / "vocal-nonvocal" / f"{name}.vocal", dst / "labels" / "vocal-nonvocal")
    return len(splits["train"])


def round_robin(folder: Path) -> list[Path]:
    """Audio files under ``folder``, one per album (parent folder) in turn, so a cut keeps variety."""
    by_album = collections.defaultdict(list)
    for p in sorted(q for q in folder.rglob("*") if q.suffix.lower() in AUDIO):
        by_album[p.parent].append(p)
    order = []
    while any(by_album.values()):
        for album in sorted(by_album):
            if by_album[album]:
                order.append(by_album[album].pop(0))
    return order


def _encode(job) -> float:
    """One track: up to ``seconds`` from 10 s in, 16 kHz stereo Opus; returns its duration (s)."""
    import soundfile as sf

    from rtsep.train.data import SR, _decode

    src, dst, seconds = job
    y = _decode(src, stereo=True)  # the trainer's own decoding: 16 kHz, two channels
    n = int(seconds * SR)
    start = min(10 * SR, max(0, len(y) - n))
    y = y[start:start + n]
    # compression_level 0.97: ~28 kbit/s for 16 kHz stereo (libsndfile's Opus encoder)
    sf.write(dst, y, SR, format="OGG", subtype="OPUS", compression_level=0.97)
    return len(y) / SR


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mir1k", type=Path, default=REPO.parent / "shared" / "data" / "mir1k")
    ap.add_argument("--music", type=Path, required=True, help="the extra music folder (models/README.md)")
    ap.add_argument("--seconds", type=float, default=150.0, help="at most this much of each track")
    ap.add_argument("--out", type=Path, default=REPO / ".gpu")
    a = ap.parse_args(argv)
    if not (a.mir1k / "splits.json").is_file():
        print(f"gpu_bundle: error: no MIR-1K at {a.mir1k}", file=sys.stderr)
        return 1
    tracks = round_robin(a.music)
    if not tracks:
        print(f"gpu_bundle: error: no audio files under {a.music}", file=sys.stderr)
        return 1
    n = copy_protocol_train(a.mir1k, a.out / "data" / "mir1k")
    (a.out / "music").mkdir(parents=True, exist_ok=True)
    jobs = [(str(p), str(a.out / "music" / f"{i:03d}.opus"), a.seconds) for i, p in enumerate(tracks)]
    with Pool() as pool:
        minutes = sum(pool.map(_encode, jobs)) / 60
    wheels = a.out / "whl"
    wheels.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp",
                    *[f"--platform={p}" for p in PLATFORMS], "-d", str(wheels), *WHEELS], check=True)
    (a.out / "run.sh").write_text(RUN_SH)
    size = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file()) / 2 ** 20
    print(f"{a.out}: {n} training clips, {len(jobs)} music tracks ({minutes:.0f} min), wheels, run.sh; "
          f"{size:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
