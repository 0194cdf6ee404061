"""Shared fixtures: the placeholder model, the shared data folder, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RTSEP_DATA", ROOT.parent / "shared" / "data"))
PLACEHOLDER = ROOT / "models" / "placeholder.onnx"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def placeholder_model() -> Path:
    assert PLACEHOLDER.is_file(), "models/placeholder.onnx is committed with the project"
    return PLACEHOLDER


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mir1k" / "splits.json").is_file():
        pytest.skip(f"MIR-1K not found at {SHARED_DATA}/mir1k (research data; present in CI, "
                    "absent from a user's clone)")
    return SHARED_DATA


@pytest.fixture
def torch_one_thread():
    """Torch on one thread for the test (the 2-core machine runs other work beside it)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``python -m rtsep ARGS`` in a subprocess (what a user sees, tracebacks included)."""
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    """A failed command printed exactly one ``rtsep: error:`` line and no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("rtsep: error:")]
    assert len(errors) >= 1, proc.stderr
    return errors[0]
