"""Broken files through the file commands: a correct output or one ``rtsep: error:`` line each.

500 files made from real ones by tests/badfiles.py (seeded): truncations, bit flips in headers
and payloads, wrong extensions, empty streams, NaN samples, odd rates and channel counts. Each
command runs over all of them in one process (as a user's batch would); per file the outcome
must be either complete outputs (same length as what the decoder reads, finite samples) or
exactly one error line naming the file, with no traceback, no partial output and no hang.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from badfiles import make_bad_files
from conftest import ROOT, SHARED_DATA

N_FILES = 500
# Kinds the commands must separate, not reject.
MUST_WORK = {"intact", "odd-shape", "nonfinite"}


def _sources() -> list[Path]:
    song = SHARED_DATA / "songs" / "ultimate-nz-tour" / "mixture.flac"
    clips = sorted((SHARED_DATA / "mir1k" / "clips").glob("*.wav"))[:3]
    real = ([song] if song.is_file() else []) + clips
    # A user's clone has no research data: the committed real-music fixture stands in.
    return real or [ROOT / "tests" / "fixtures" / "unet-demo.flac"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"), _sources(), N_FILES)


def _frames(path: Path) -> int | None:
    """Frames rtsep's decoder reads from ``path``, or None when it refuses the file."""
    from rtsep.errors import RtsepError
    from rtsep.io.audiofile import read_audio

    try:
        audio, _ = read_audio(path)
    except RtsepError:
        return None
    return len(audio)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _errors_by_file(stderr: str, files) -> dict[Path, list[str]]:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("rtsep: error:")]
    return {f.path: [ln for ln in lines if f.path.name in ln] for f in files}


def _refusal_problems(f, errors: list[str]) -> list[str]:
    """What is wrong with a file that got no output: it needs exactly one error line, and a
    valid file must not be refused at all."""
    if len(errors) != 1:
        return [f"{f.path.name}: no output and {len(errors)} error lines"]
    if f.kind in MUST_WORK:
        return [f"{f.path.name}: a valid file was refused: {errors[0]}"]
    return []


def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or ".tmp" in p.name)]


def test_generator_is_seeded_and_covers_every_kind(tmp_path):
    a = make_bad_files(tmp_path / "a", _sources(), 60, seed=7)
    b = make_bad_files(tmp_path / "b", _sources(), 60, seed=7)
    assert [(f.path.name, f.source, f.path.stat().st_size) for f in a] == \
        [(f.path.name, f.source, f.path.stat().st_size) for f in b]
    # libsndfile stamps Ogg streams with a random serial and float WAVs' PEAK chunk with the time;
    # every other file is byte-identical
    stable = [i for i, f in enumerate(a) if f.source not in ("ogg", "wavf") and f.kind != "nonfinite"]
    assert len(stable) > 20
    assert all(a[i].path.read_bytes() == b[i].path.read_bytes() for i in stable)
    assert {f.kind for f in make_bad_files(tmp_path / "c", _sources(), 200)} >= {
        "truncated", "header-bits", "payload-bits", "wrong-extension", "zero-bytes", "no-frames", "intact"}


@pytest.mark.timeout(1500)
def test_separate_500_bad_files(bad_files, tmp_path):
    out = tmp_path / "out"
    proc = _run(["separate", str(bad_files[0].path.parent), "-o", str(out), "--quiet"], timeout=1400)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = _errors_by_file(proc.stderr, bad_files)
    problems = []
    for f in bad_files:
        stems = [out / f.path.stem / f"{s}.wav" for s in ("vocals", "accompaniment")]
        done = [s.is_file() for s in stems]
        if all(done):
            v, va = sf.read(str(stems[0]), dtype="float32", always_2d=True)
            a, _ = sf.read(str(stems[1]), dtype="float32", always_2d=True)
            frames = _frames(f.path)
            if errors[f.path] or len(v) != len(a) or len(v) != frames or not (
                    np.isfinite(v).all() and np.isfinite(a).all()):
                problems.append(f"{f.path.name}: outputs {len(v)}/{len(a)} frames (input {frames}), "
                                f"errors {errors[f.path]}")
        elif any(done) or (out / f.path.stem).exists() and any((out / f.path.stem).iterdir()):
            problems.append(f"{f.path.name}: partial output")
        else:
            problems += _refusal_problems(f, errors[f.path])
    assert not _no_temp_files(out)
    assert not problems, "\n".join(problems[:20])
    assert proc.returncode != 0  # some inputs failed: the exit status says so


@pytest.mark.timeout(1500)
def test_melody_500_bad_files(bad_files, tmp_path):
    out = tmp_path / "melody"
    proc = _run(["melody", str(bad_files[0].path.parent), "-o", str(out)], timeout=1400)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = _errors_by_file(proc.stderr, bad_files)
    problems = []
    for f in bad_files:
        csv = out / f"{f.path.stem}.csv"
        if csv.is_file():
            rows = csv.read_text().splitlines()
            if errors[f.path] or not rows or not rows[0].startswith("time_s"):
                problems.append(f"{f.path.name}: csv {len(rows)} rows, errors {errors[f.path]}")
        else:
            problems += _refusal_problems(f, errors[f.path])
    assert not _no_temp_files(out)
    assert not problems, "\n".join(problems[:20])
