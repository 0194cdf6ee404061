"""The Ray backend of a separation job (``rtsep separate --ray ADDRESS``).

Each input file becomes one Ray task running :func:`rtsep.batch.separate_file` on some
worker of an existing cluster; the driver (this process) only submits paths and collects
small :class:`~rtsep.batch.FileOutcome` records, so inputs and outputs must live on a path
every node sees at the same place (shared storage): workers read the inputs in place and
write the stems there themselves. A task whose worker or node dies is retried elsewhere
by Ray (``max_retries``); the retry first deletes the dead attempt's temporary files.

Ray is an optional dependency: ``pip install "rtsep[cluster]"``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

from ..batch import MAX_RETRIES, FileOutcome, JobSpec, lost_file, separate_file
from ..errors import RtsepError, one_line


def import_ray():
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RtsepError('--ray needs Ray, which is not installed: pip install "rtsep[cluster]"') from None
    return ray


def _gcs_address(address: str) -> str:
    """``HOST:PORT`` that ``address`` stands for (``auto``: the cluster started on this machine)."""
    if address != "auto":
        return address.removeprefix("ray://")
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die  # how ray.init resolves it
    except ImportError:
        return ""
    try:
        return canonicalize_bootstrap_address_or_die("auto")
    except Exception as exc:  # ConnectionError: no cluster, or several, on this machine
        raise RtsepError(f"cannot connect to the Ray cluster at 'auto': {one_line(exc)}") from None


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast with one line when nothing answers at the cluster's address
    (``ray.init`` itself keeps retrying a dead address for minutes)."""
    target = _gcs_address(address)
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # an address form we do not know: let ray.init judge it
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RtsepError(f"cannot connect to the Ray cluster at {address!r}: nothing answers at {target} "
                         f"({exc.strerror or exc}); is `ray start` running there?") from None


def _cluster_failure(exc: BaseException, retries: int) -> str:
    """One line for a task Ray could not complete: its worker died on every attempt, or the
    task could not even start there (e.g. rtsep missing on a node: the cause's message)."""
    cause = getattr(exc, "cause", None)  # RayTaskError: what was raised on the worker
    if cause is not None:
        return f"the cluster could not run it ({type(cause).__name__}: {one_line(cause)})"
    return f"lost on the cluster after {retries} retries ({type(exc).__name__}: {one_line(exc)})"


class RayBackend:
    """Runs a job's tasks on the Ray cluster at ``address``.

    Args:
        address: ``auto`` (the cluster ``ray start`` brought up on this machine),
            ``HOST:PORT`` of the head node's GCS (the driver runs on a cluster node), or
            ``ray://HOST:10001`` (Ray Client, from outside the cluster).
        max_in_flight: at most this many files at a time (``None``: twice the cluster's
            CPUs, so that a worker finishing a file finds the next one already queued).
        max_retries: times a task is rerun when its worker dies.
    """

    name = "ray"

    def __init__(self, address: str, max_in_flight: int | None = None, max_retries: int = MAX_RETRIES):
        self.ray = import_ray()
        self.address = address
        self.max_retries = int(max_retries)
        if max_in_flight is not None and max_in_flight < 1:
            raise RtsepError(f"--workers must be at least 1, got {max_in_flight}")
        self._limit = max_in_flight
        self.workers = 0

    def connect(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            check_reachable(self.address)
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError... depending on the address
                raise RtsepError(f"cannot connect to the Ray cluster at {self.address!r}: {one_line(exc)}") from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise RtsepError(f"the Ray cluster at {self.address!r} has no CPUs to run tasks on")
        self.workers = min(cpus, self._limit) if self._limit else cpus

    def close(self) -> None:
        """Disconnect this driver (the cluster keeps running)."""
        if self.ray.is_initialized():
            self.ray.shutdown()

    def run(self, paths: list[str], spec: JobSpec) -> Iterator[FileOutcome]:
        ray = self.ray
        if not self.workers:
            self.connect()
        # One CPU per task, and one ONNX Runtime thread in it.
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(separate_file)
        spec = spec.with_threads(1)
        in_flight = self._limit or 2 * self.workers
        queue = iter(paths)
        pending: dict = {}
        try:
            while True:
                while len(pending) < in_flight:
                    path = next(queue, None)
                    if path is None:
                        break
                    pending[task.remote(path, spec)] = path
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    path = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        yield lost_file(path, spec, _cluster_failure(exc, self.max_retries))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
