"""A separation job over many files: one task per file, run by a backend, one summary.

The job is a list of input files; each becomes one task, :func:`separate_file`, which
calls exactly what a local ``rtsep separate`` calls (``FileSeparator(...).separate``) so
the stems are the same whichever backend ran it. A backend runs the tasks and yields
their :class:`FileOutcome` as they finish: :class:`InlineBackend` (this process, one file
after another), :class:`ProcessBackend` (``--workers N`` local processes) and
``rtsep.cluster.RayBackend`` (``--ray ADDRESS``). :func:`run_job` drives one progress bar
from those outcomes and returns a :class:`JobSummary`.

Tasks are idempotent: a file whose stems all exist is skipped (nothing rewritten), and a
task first deletes the temporary files a killed earlier attempt may have left beside the
outputs, so a retry, on this machine or another, leaves no partial output.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import RtsepError, one_line
from .filemode import STEMS, FileSeparator, output_paths

# A task whose worker dies is run again this many times before its file counts as failed.
MAX_RETRIES = 3


@dataclass(frozen=True)
class JobSpec:
    """What every task of a job needs, picklable and the same on every worker.

    Attributes:
        outdir: absolute output folder; stems go to ``outdir/<input name>/<stem>.wav``.
        stems: the stems to write, e.g. ``("vocals", "accompaniment")``.
        separator: keyword arguments of :class:`rtsep.filemode.FileSeparator` (model,
            latency, method, blocksize, ...), passed through unchanged.
        force: rewrite stems that exist.
        plot: also write ``spectrograms.png`` beside the stems.
    """

    outdir: str
    stems: tuple[str, ...] = STEMS
    separator: tuple[tuple[str, object], ...] = ()
    force: bool = False
    plot: bool = False

    @classmethod
    def create(cls, outdir: str | os.PathLike, stems: Iterable[str] = STEMS, separator: dict | None = None,
               force: bool = False, plot: bool = False) -> JobSpec:
        """A spec with absolute paths, so that a worker with another working folder finds them.

        A ``model`` naming an existing file is made absolute; any other value (a model
        name such as ``release-low``) is passed on for the worker to resolve.
        """
        opts = dict(separator or {})
        model = opts.get("model")
        if model is not None and Path(model).exists():
            opts["model"] = str(Path(model).resolve())
        opts.pop("progress", None)  # one bar for the whole job, on the driver
        return cls(str(Path(outdir).resolve()), tuple(stems), tuple(sorted(opts.items())), force, plot)

    def with_threads(self, threads: int) -> JobSpec:
        """This spec with ``threads`` per task (ONNX Runtime / FFT threads of the U-Net) unless
        the caller chose a number: ``workers`` tasks side by side must not each take every core."""
        opts = dict(self.separator)
        if opts.get("threads") is not None:
            return self
        opts["threads"] = max(1, int(threads))
        return replace(self, separator=tuple(sorted(opts.items())))


@dataclass
class FileOutcome:
    """What one task did to one input file.

    Attributes:
        status: ``"done"``, ``"skipped"`` (every stem existed) or ``"failed"``.
        audio_s: seconds of audio separated (0 unless done).
        compute_s: seconds the task took on its worker.
        error: the one-line reason of a failure.
        host: the machine that ran the task.
        stale_temp_files: temporary files of an interrupted earlier attempt that the
            task deleted before it started.
    """

    path: str
    status: str
    audio_s: float = 0.0
    compute_s: float = 0.0
    error: str = ""
    outputs: list[str] = field(default_factory=list)
    nonfinite_samples: int = 0
    placeholder: bool = False
    host: str = ""
    stale_temp_files: int = 0


# One FileSeparator per worker process and set of options: the model is loaded once,
# not once per file (Ray and the process pool keep their workers between tasks).
_SEPARATORS: dict[tuple, FileSeparator] = {}


def _file_separator(spec: JobSpec) -> FileSeparator:
    if spec.separator not in _SEPARATORS:
        _SEPARATORS[spec.separator] = FileSeparator(progress=False, **dict(spec.separator))
    return _SEPARATORS[spec.separator]


def stale_temp_files(folder: Path, stems: Iterable[str] = STEMS) -> list[Path]:
    """Temporary outputs a killed writer left in ``folder`` (``atomic_outputs`` names them
    ``.<stem>-XXXXXXXX.tmp.wav``)."""
    if not folder.is_dir():
        return []
    return [p for stem in stems for p in folder.glob(f".{stem}-*.tmp.wav")]


def remove_stale_temp_files(path: str | os.PathLike, spec: JobSpec) -> int:
    """Delete what an interrupted attempt at ``path`` left beside its outputs; returns how many."""
    folder = Path(spec.outdir) / Path(path).stem
    stale = stale_temp_files(folder)
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _path_line(exc: BaseException, path: str) -> str:
    text = one_line(exc) if str(exc).strip() else ""
    if not isinstance(exc, RtsepError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if path in text else f"{path}: {text}"


def is_done(path: str | os.PathLike, spec: JobSpec) -> bool:
    """Every stem of ``path`` exists (outputs are renamed into place only when whole)."""
    return all(p.exists() for p in output_paths(Path(spec.outdir), Path(path), spec.stems).values())


def separate_file(path: str, spec: JobSpec) -> FileOutcome:
    """The task: separate one file into ``spec.outdir/<name>/`` (or skip it when done).

    Never raises for a bad file: the failure comes back as a ``"failed"`` outcome with
    a one-line reason, so one file cannot stop the others.
    """
    t0 = time.perf_counter()
    host = socket.gethostname()
    outs = output_paths(Path(spec.outdir), Path(path), spec.stems)
    todo = tuple(stem for stem, p in outs.items() if spec.force or not p.exists())
    stale = remove_stale_temp_files(path, spec)
    if not todo:
        return FileOutcome(path, "skipped", outputs=[str(p) for p in outs.values()], host=host,
                           stale_temp_files=stale)
    try:
        written, res = _file_separator(spec).separate(Path(path), Path(spec.outdir), stems=todo)
        if spec.plot:
            from .plot import plot_separation
            plot_separation(path, outs, res, Path(spec.outdir) / Path(path).stem / "spectrograms.png")
    except Exception as exc:  # any failure of one file is that file's, reported in one line
        return FileOutcome(path, "failed", compute_s=time.perf_counter() - t0, error=_path_line(exc, path),
                           host=host, stale_temp_files=stale)
    return FileOutcome(path, "done", audio_s=float(res.extra["duration_s"]), compute_s=time.perf_counter() - t0,
                       outputs=[str(p) for p in written.values()], nonfinite_samples=res.nonfinite_samples,
                       placeholder=bool(getattr(res.extra.get("card"), "placeholder", False)), host=host,
                       stale_temp_files=stale)


def lost_file(path: str, spec: JobSpec, reason: str) -> FileOutcome:
    """The outcome of a file whose worker died on every attempt; cleans what it left."""
    stale = remove_stale_temp_files(path, spec)
    return FileOutcome(path, "failed", error=f"{path}: {reason}", stale_temp_files=stale)


class InlineBackend:
    """Runs the tasks one after another in this process."""

    name = "inline"
    workers = 1

    def run(self, paths: list[str], spec: JobSpec) -> Iterator[FileOutcome]:
        for path in paths:
            yield separate_file(path, spec)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the driver handles it, workers finish their file.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessBackend:
    """``workers`` local processes, one file each at a time (``--workers N``).

    A process that dies (killed, out of memory, a crash in native code) breaks the pool:
    the files it had not finished are run again in a fresh pool, up to ``max_retries``
    times each.
    """

    name = "processes"

    def __init__(self, workers: int, max_retries: int = MAX_RETRIES):
        if workers < 1:
            raise RtsepError(f"--workers must be at least 1, got {workers}")
        self.workers = int(workers)
        self.max_retries = int(max_retries)

    def run(self, paths: list[str], spec: JobSpec) -> Iterator[FileOutcome]:
        spec = spec.with_threads((os.cpu_count() or 1) // self.workers)
        attempts = dict.fromkeys(paths, 0)
        todo = list(paths)
        # spawn, not fork: the driver may hold ONNX Runtime / Numba threads a fork would copy half-way.
        ctx = multiprocessing.get_context("spawn")
        while todo:
            retry = []
            pool = ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=ctx, initializer=_ignore_sigint)
            try:
                pending = {pool.submit(separate_file, p, spec): p for p in todo}
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        path = pending.pop(fut)
                        try:
                            yield fut.result()
                        except BrokenProcessPool:
                            attempts[path] += 1
                            if attempts[path] > self.max_retries:
                                yield lost_file(path, spec, f"worker process died {attempts[path]} times")
                            else:
                                retry.append(path)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            todo = retry


@dataclass
class JobSummary:
    """The job's totals; ``x_real_time`` = seconds of audio separated per second of job;
    ``stale_temp_files``: leftovers of interrupted attempts (a dead worker) deleted."""

    backend: str
    workers: int
    files: int
    separated: int
    skipped: int
    failed: int
    audio_s: float
    wall_s: float
    failures: list[dict] = field(default_factory=list)
    stale_temp_files: int = 0
    placeholder: bool = False

    @property
    def x_real_time(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def files_per_s(self) -> float:
        return self.separated / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("placeholder")
        d["x_real_time"] = round(self.x_real_time, 2)
        d["files_per_s"] = round(self.files_per_s, 3)
        d["audio_s"] = round(self.audio_s, 3)
        d["wall_s"] = round(self.wall_s, 3)
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    def line(self) -> str:
        return (f"{self.separated} of {self.files} file(s) separated ({self.audio_s:.1f} s of audio in "
                f"{self.wall_s:.1f} s, {self.x_real_time:.1f}x real time, {self.workers} worker(s), "
                f"{self.backend}); {self.skipped} skipped (done), {self.failed} failed")


def duplicate_outputs(paths: list[str]) -> dict[str, str]:
    """Inputs whose output folder (``OUT/<name>``) an earlier input of the job already has:
    ``{path: the earlier path}``. Run side by side they would write the same files."""
    first: dict[str, str] = {}
    dupes = {}
    for p in paths:
        name = Path(p).stem
        if name in first:
            dupes[p] = first[name]
        else:
            first[name] = p
    return dupes


def run_job(paths: Iterable[str | os.PathLike], spec: JobSpec, backend, progress: bool = True,
            err=None) -> JobSummary:
    """Run every file of the job on ``backend``; one progress bar, one line per failure.

    Args:
        paths: input files, made absolute but not resolved: a symbolic link stays the link, so
            its outputs are named after it (``OUT/<link name>/``) as in a local run; workers
            open the link in place.
        backend: an object with ``name``, ``workers`` and ``run(paths, spec)`` yielding
            :class:`FileOutcome` as tasks finish.
        err: where failure lines go (default ``sys.stderr``).
    """
    from tqdm import tqdm

    err = err or sys.stderr
    paths = [str(Path(p).absolute()) for p in paths]  # not resolve(): that would name outputs after link targets
    t0 = time.perf_counter()
    outcomes: list[FileOutcome] = []
    bar = tqdm(total=len(paths), unit="file", desc="separating", disable=None if progress else True, file=err)

    def record(outcome: FileOutcome) -> None:
        outcomes.append(outcome)
        if outcome.status == "failed":
            bar.write(f"rtsep: error: {outcome.error}", file=err)
        bar.update(1)
        audio = sum(o.audio_s for o in outcomes)
        bar.set_postfix_str(f"{audio / max(time.perf_counter() - t0, 1e-9):.1f}x real time", refresh=False)

    dupes = duplicate_outputs(paths)
    for path, earlier in dupes.items():
        record(FileOutcome(path, "failed", error=f"{path}: same output folder "
                           f"{Path(spec.outdir) / Path(path).stem} as {earlier}; rename one of them"))
    # Done files are skipped here already, so that a rerun costs no worker a task.
    todo = []
    for p in paths:
        if p in dupes:
            continue
        if not spec.force and is_done(p, spec):
            record(FileOutcome(p, "skipped", stale_temp_files=remove_stale_temp_files(p, spec)))
        else:
            todo.append(p)
    try:
        for outcome in backend.run(todo, spec):
            record(outcome)
    finally:
        bar.close()
    failed = [o for o in outcomes if o.status == "failed"]
    return JobSummary(
        backend=backend.name, workers=backend.workers, files=len(paths),
        separated=sum(o.status == "done" for o in outcomes), skipped=sum(o.status == "skipped" for o in outcomes),
        failed=len(failed), audio_s=sum(o.audio_s for o in outcomes), wall_s=time.perf_counter() - t0,
        failures=[{"path": o.path, "error": o.error, "host": o.host} for o in failed],
        stale_temp_files=sum(o.stale_temp_files for o in outcomes),
        placeholder=any(o.placeholder for o in outcomes))


def run_and_report(paths: Iterable[str | os.PathLike], spec: JobSpec, backend, as_json: bool = False,
                   progress: bool = True) -> int:
    """``rtsep separate`` with a backend: run the job, print the summary (one JSON object
    with ``as_json``) and return the exit status (1 when a file failed)."""
    try:
        summary = run_job(paths, spec, backend, progress=progress)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    print(summary.to_json() if as_json else summary.line())
    if summary.placeholder:
        print("note: the model used is the untrained placeholder; separation quality is meaningless",
              file=sys.stderr)
    if summary.failed:
        print(f"rtsep: {summary.failed} of {summary.files} input(s) failed", file=sys.stderr)
        return 1
    return 0
