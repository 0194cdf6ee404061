"""Choose a model's vocal-activity threshold on its validation clips; write it into the file.

The engine's vocal activity is ``min(vad head, 5 x vocal energy share)`` per frame
(rtsep.plugins.separator); a threshold turns it into "voice" / "no voice" (the GUI's light,
the ``vad`` of file mode, benchmarks/quality.py's accuracy). One threshold for every model
(0.5) suits none in particular: a model trained on two singers is less sure of unseen voices
than one trained on seventeen. This command runs the engine over the validation clips of the
model's split (``protocol``: the held-out songs abjones_1 and amy_14 of the training singers;
``release``: singers bobon and tammy) as 0 dB mixtures, as quality.py scores the test clips,
scores frame accuracy against the MIR-1K vocal/non-vocal labels on a grid of thresholds and
picks the best (ties: the one nearest 0.5). With ``--write`` it stores the choice as the
model's ``activity_threshold`` metadata, which the separator uses in place of 0.5.

    python -m rtsep.train.calibrate models/mir1k-protocol.onnx --split protocol [--write]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
SR = 16000


def validation_names(data, split: str) -> list[str]:
    from .train import make_split

    return make_split(data, split)[1]


def activity_accuracy(model: str, data, names: list[str], root: Path) -> np.ndarray:
    """Frame accuracy of the engine's activity at every threshold of ``GRID`` over ``names``
    (MIR-1K label frames: 40 ms, 20 ms hop; each takes the nearest activity frame)."""
    from ..filemode import separate_array
    from ..plugins.separator import Separator
    from .data import activity_at_labels, mixture_at_0db, read_vad_labels

    sep = Separator(model, sample_rate=SR, channels=1, mode="vocals", max_block=4096)
    right, total = np.zeros(len(GRID)), 0
    for name in names:
        _, _, mix = mixture_at_0db(*data.clip(name))  # as the test mixtures
        labels = read_vad_labels(root / "labels" / "vocal-nonvocal" / f"{name}.vocal") > 0
        res = separate_array(mix[:, None], SR, separator=sep, blocksize=4096)
        act = activity_at_labels(res.vad, res.vad_times_s, len(labels))
        right += [(np.sum((act >= t) == labels)) for t in GRID]
        total += len(labels)
    return right / max(total, 1)


def best_threshold(acc: np.ndarray) -> float:
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return float(GRID[best[np.argmin(np.abs(GRID[best] - 0.5))]])


def write_threshold(path: str, threshold: float, note: str) -> None:
    """Set ``activity_threshold`` (and its provenance) in the model's metadata; atomic."""
    import onnx

    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["activity_threshold"] = f"{threshold:.2f}"
    meta["activity_threshold_source"] = note
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    tmp = f"{path}.{os.getpid()}.tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def main(argv=None) -> None:
    from .data import load_mir1k, mir1k_root

    p = argparse.ArgumentParser(prog="python -m rtsep.train.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--split", required=True, choices=["protocol", "release"])
    p.add_argument("--data", default=None)
    p.add_argument("--write", action="store_true", help="store the choice in the model file")
    args = p.parse_args(argv)
    data = load_mir1k(args.data, progress=False)
    names = validation_names(data, args.split)
    acc = activity_accuracy(args.model, data, names, mir1k_root(args.data))
    for t, a in zip(GRID, acc):
        print(f"threshold {t:.2f}  frame accuracy {a:.4f}")
    thr = best_threshold(acc)
    note = (f"chosen by rtsep.train.calibrate on the {args.split} split's {len(names)} validation clips "
            f"(0 dB): frame accuracy {acc[list(GRID).index(thr)]:.4f} at {thr:.2f}, "
            f"{acc[list(GRID).index(0.5)]:.4f} at 0.50")
    print(f"best: {thr:.2f}  ({note})")
    if args.write:
        write_threshold(args.model, thr, note)
        print(f"wrote activity_threshold={thr:.2f} into {args.model}")


if __name__ == "__main__":
    main()
