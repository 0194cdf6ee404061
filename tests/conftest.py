"""Shared fixtures: the placeholder model, the shared data folder, a CLI runner; time limits
and PortAudio's bounded shutdown at the end of the run."""

from __future__ import annotations

import atexit
import faulthandler
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RTSEP_DATA", ROOT.parent / "shared" / "data"))
PLACEHOLDER = ROOT / "models" / "placeholder.onnx"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The CLI keeps songs' stems in ~/.cache/rtsep/stems by default: the tests (and the CLI processes
# they start, which inherit this) keep theirs in a folder of the run's own, removed at its end.
_STEM_CACHE = tempfile.mkdtemp(prefix="rtsep-test-stems-")
os.environ["RTSEP_STEM_CACHE"] = _STEM_CACHE
atexit.register(shutil.rmtree, _STEM_CACHE, True)

STUCK_GRACE_S = 60  # past a test's time limit: it is stuck where the signal cannot reach


def _time_limit_s(item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
        if value is not None:
            return float(value)
    try:
        return float(item.config.getini("timeout") or 0)
    except (ValueError, TypeError):  # pytest-timeout not installed
        return 0.0


def _end_stuck_run(config, nodeid: str, limit_s: float) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # else the message would go to the test's captured output, unseen
        capture.suspend_global_capture(in_=True)
    err = sys.stderr
    err.write(f"\n{nodeid} is still running {STUCK_GRACE_S} s past its {limit_s:.0f} s limit (stuck in a "
              "call the timeout signal cannot interrupt); ending the test run. Every thread's stack:\n")
    err.flush()
    faulthandler.dump_traceback(file=err, all_threads=True)
    err.flush()
    os._exit(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """pytest-timeout's signal fails a test at its limit; this thread ends the whole run (with
    every stack) if the test is stuck in C code the signal never interrupts."""
    limit = _time_limit_s(item)
    timer = None
    if limit > 0:
        timer = threading.Timer(limit + STUCK_GRACE_S, _end_stuck_run, (item.config, item.nodeid, limit))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def pytest_sessionfinish(session, exitstatus):
    """Close PortAudio with a bounded wait and unregister sounddevice's exit handler, which
    terminates PortAudio without a time limit and aborts the interpreter (an assert in
    PortAudio's JACK code) when a JACK server its client was on has gone."""
    if "sounddevice" in sys.modules or "rtsep.host.audio" in sys.modules:
        from rtsep.host import audio

        audio.shutdown()


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


def fifo_allowed() -> bool:
    """Whether a thread may take SCHED_FIFO here (asked on a thread that then ends)."""
    import threading

    from rtsep.host.realtime import make_realtime

    status = []
    t = threading.Thread(target=lambda: status.append(make_realtime(1)))
    t.start()
    t.join()
    return status[0].startswith("SCHED_FIFO")
