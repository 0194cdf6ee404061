"""The live U-Net's worker as a process of its own, beside the host's audio callback.

Why a process: the worker's Python (the STFT bookkeeping around each network call, the stem
copies) holds the interpreter lock that the audio callback needs every block, and on two cores
the network's own threads compete with the worker for the CPU. A worker thread that holds the
lock while it waits for a core holds off the real-time callback with it: in alternating 20 s runs
on a JACK server (``benchmarks/xrun_split.py``) the host with a worker thread had client-late
cycles that neither half alone gave (the network's CPU load in another process, or the worker's
lock use with the network replaced by a sleep). In a process of its own the worker shares only
memory with the callback (:class:`~rtsep.unet.exchange.Exchange` on a memfd) and a pipe that
wakes it.

The child is ``python -m rtsep.unet.worker_process SPEC``: SPEC (JSON) names the ladder point,
rate, channels, network threads, model file, the exchange's layout and the two inherited file
descriptors. It answers one line on its stdout: ``ready``, or ``error <one line>``; it ends when
told to (``STOP``), or when the host's end of the wake-up pipe closes (the host exited or died).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from ..errors import RtsepError, one_line
from . import exchange as X

START_TIMEOUT_S = 120.0  # importing, the network session, compiling kernels, warming up


def available() -> bool:
    """Whether this OS can share the exchange with a child process (Linux: memfd)."""
    return hasattr(os, "memfd_create")


class WorkerProcess:
    """Start the worker process on the exchange in the memfd ``mem_fd`` and the read end ``rfd``
    of the wake-up pipe; returns once it is ready (its network built and warmed), else raises
    :class:`RtsepError` with its one line."""

    kind = "process"

    def __init__(self, ex: X.Exchange, mem_fd: int, rfd: int, point, sample_rate: int, channels: int,
                 threads: int, model_path: str):
        spec = {"point": dataclasses.asdict(point), "sample_rate": int(sample_rate), "channels": int(channels),
                "threads": int(threads), "model": str(model_path), "layout": ex.layout(), "mem_fd": mem_fd,
                "wake_fd": rfd}
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the rtsep package
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.unet = None
        self._status = b""
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "rtsep.unet.worker_process", json.dumps(spec)],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          pass_fds=(mem_fd, rfd), env=env, close_fds=True,
                                          start_new_session=True)  # the host's Ctrl-C is the host's
        except OSError as exc:
            raise RtsepError(f"cannot start the streaming U-Net's worker process: {one_line(exc)}") from None
        line = self._first_line(START_TIMEOUT_S)
        if line != "ready":
            self.stop(0.0)
            raise RtsepError(f"the streaming U-Net's worker process failed: {line}")

    def _first_line(self, timeout_s: float) -> str:
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._status:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"not ready within {timeout_s:g} s"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                self._status += chunk
        text = self._status.decode("utf-8", "replace").split("\n", 1)[0].strip()
        if text.startswith("error "):
            return text[len("error "):]
        return text or f"it exited with status {self._proc.wait()}"

    def alive(self) -> bool:
        return self._proc.poll() is None

    def failure(self) -> BaseException | None:
        """What ended the process early (``None`` while it runs)."""
        if self.alive():
            return None
        rest = self._proc.stdout.read() if self._proc.stdout else b""
        lines = [ln for ln in (self._status + rest).decode("utf-8", "replace").splitlines() if ln.startswith("error ")]
        why = lines[-1][len("error "):] if lines else f"exited with status {self._proc.returncode}"
        return RtsepError(f"the streaming U-Net's worker process ended: {why}")

    def join(self, timeout: float) -> None:
        self.stop(timeout)

    def stop(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for it to end (told by ``STOP`` or the pipe), then kill it."""
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()


def _child(spec: dict) -> int:
    """The worker process: attach, build, warm, report, serve."""
    from .ladder import LadderPoint
    from .streaming import StreamingUNet
    from .worker import make_worker

    ex = X.Exchange.attach(spec["mem_fd"], spec["layout"])
    point = LadderPoint(**spec["point"])

    def build():
        return StreamingUNet(point, spec["sample_rate"], spec["channels"], model=spec["model"],
                             threads=spec["threads"])

    worker = make_worker(ex, build, warm=True)
    _say("ready")
    worker.serve(spec["wake_fd"])
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _child(json.loads(argv[0]))
    except KeyboardInterrupt:
        return 1
    except BaseException as exc:  # one line to the host, never a traceback
        try:
            _say(f"error {one_line(exc)}")
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
