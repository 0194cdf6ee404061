"""Batch jobs: ``rtsep separate --ray ADDRESS`` on a real local Ray cluster (a head node and
a worker node started here) and ``--workers N`` local processes, each checked against a
plain local run of the same files: same stems, a worker node killed mid-run, reruns."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_one_line_error, run_cli
from rtsep.cli import main

TIMEOUT_S = 300  # generous: this 2-core machine is shared with other jobs
# Different rates and channel counts; each file takes a worker about a second, so that
# a node can be killed while it is writing one.
INPUTS = {"a_mono16k": (16000, 1, 24.0), "b_stereo44k": (44100, 2, 6.0), "c_mono22k": (22050, 1, 14.0),
          "d_stereo16k": (16000, 2, 14.0), "e_mono48k": (48000, 1, 8.0), "f_mono16k": (16000, 1, 20.0)}
# The fast recurrent model keeps the test quick.
MODEL_ARGS = ("--latency", "low")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(7)
    for name, (rate, channels, seconds) in INPUTS.items():
        n = int(rate * seconds)
        t = np.arange(n) / rate
        tone = 0.2 * np.sin(2 * np.pi * 220 * t * (1 + 0.5 * np.sin(2 * np.pi * 0.3 * t)))
        x = tone[:, None] + 0.05 * rng.standard_normal((n, channels))
        sf.write(folder / f"{name}.wav", x.astype(np.float32), rate, subtype="FLOAT")
    return folder


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> Path:
    """The same files separated by a plain local run (one process, one file after another)."""
    out = tmp_path_factory.mktemp("reference")
    proc = run_cli("separate", str(inputs), "-o", str(out), *MODEL_ARGS, "--quiet", timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return out


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = np.sum((ref.astype(np.float64) - test) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / noise)


def assert_same_as_reference(out: Path, reference: Path) -> None:
    """Every stem is whole and equals the local run's (>= 60 dB SNR; bit-exact here, where
    every worker runs the same binaries with one ONNX Runtime thread); no temporary files."""
    for name in INPUTS:
        for stem in ("vocals", "accompaniment"):
            ref, sr_ref = sf.read(reference / name / f"{stem}.wav", dtype="float32", always_2d=True)
            got, sr = sf.read(out / name / f"{stem}.wav", dtype="float32", always_2d=True)
            assert sr == sr_ref and got.shape == ref.shape, (name, stem)
            snr = snr_db(ref, got)
            assert snr >= 60, f"{name}/{stem}: {snr:.1f} dB from the local run"
            assert np.array_equal(ref, got), f"{name}/{stem}: not bit-exact ({snr:.1f} dB)"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "temporary files left behind"


def file_identities(out: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, mtime and size of every file under ``out``: a rewrite changes them."""
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*") if p.is_file()}


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def total_audio_s() -> float:
    return sum(int(rate * seconds) / rate for rate, _, seconds in INPUTS.values())


# --- a local Ray cluster -------------------------------------------------------------------


def _processes() -> list[tuple[int, int, int, str]]:
    """``(pid, ppid, pgid, title)`` of every process (Linux /proc)."""
    procs = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            title = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        procs.append((int(d), int(fields[1]), int(fields[2]), title))
    return procs


class LocalRayCluster:
    """Ray nodes started on this machine with ``ray start --block``, each in its own process
    group, so that teardown (and the kill test) ends exactly the processes started here."""

    def __init__(self):
        exe = Path(sys.executable).with_name("ray")
        self.ray = str(exe) if exe.is_file() else shutil.which("ray")
        self.temp_dir = tempfile.mkdtemp(prefix="rtsep-ray-", dir="/tmp")  # short: Ray's socket paths
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")

    def start_node(self, head: bool) -> subprocess.Popen:
        cmd = [self.ray, "start", "--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
               "--temp-dir", self.temp_dir, "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
        cmd += ["--head", "--port", str(self.port), "--include-dashboard", "false"] if head else \
            ["--address", self.address]
        log = open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "w")
        node = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, count: int, timeout_s: float = 180) -> None:
        code = ("import ray, sys, time\n"
                f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
                f"end = time.time() + {timeout_s}\n"
                f"while sum(n['Alive'] for n in ray.nodes()) < {count} and time.time() < end:\n"
                "    time.sleep(0.5)\n"
                f"sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= {count} else 1)\n")
        end = time.time() + timeout_s
        while time.time() < end:  # the head's GCS port first
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                break
            except OSError:
                assert all(n.poll() is None for n in self.nodes), self.log()
                time.sleep(0.5)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s + 60,
                              env=self.env)
        assert proc.returncode == 0, f"{count} Ray nodes did not come up:\n{proc.stderr[-2000:]}\n{self.log()}"

    def processes_of(self, node: subprocess.Popen) -> list[tuple[int, int, int, str]]:
        """The node's processes: its process group (raylet, agents) and the task workers
        its raylet started (each in a process group of its own)."""
        procs = _processes()
        group = {p[0] for p in procs if p[2] == node.pid}
        return [p for p in procs if p[0] in group or p[1] in group]

    def kill_node(self, node: subprocess.Popen, sig=signal.SIGKILL) -> None:
        procs = self.processes_of(node)
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            pass
        for pid, *_ in procs:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.kill_node(node, signal.SIGTERM)
        deadline = time.time() + 10
        for node in self.nodes:
            try:
                node.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for node in reversed(self.nodes):
            self.kill_node(node, signal.SIGKILL)
            node.wait(30)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def log(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in sorted(Path(self.temp_dir).glob("node*.log")))


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray", reason='Ray is not installed (pip install "rtsep[cluster]")')
    if not Path("/proc/self/stat").exists():
        pytest.skip("the cluster test finds Ray's processes through Linux /proc")
    cluster = LocalRayCluster()
    if not cluster.ray:
        pytest.skip("the `ray` command is not on PATH")
    try:
        cluster.start_node(head=True)
        cluster.wait_for_nodes(1)
        cluster.start_node(head=False)
        cluster.wait_for_nodes(2)
        yield cluster
    finally:
        cluster.stop()


def separate_on_ray(cluster, *args: str) -> subprocess.CompletedProcess:
    return run_cli("separate", *args, *MODEL_ARGS, "--ray", cluster.address, "--json", "--quiet",
                   timeout=TIMEOUT_S)


def test_ray_job_equals_the_local_run_and_a_rerun_rewrites_nothing(ray_cluster, inputs, reference, tmp_path):
    bad = tmp_path / "zz_bad.wav"
    bad.write_text("not audio at all")
    out = tmp_path / "out"
    proc = separate_on_ray(ray_cluster, str(inputs), str(bad), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("rtsep: error:")]
    assert len(errors) == 1 and "zz_bad.wav" in errors[0] and "not a readable audio file" in errors[0], proc.stderr
    s = summary_of(proc)
    assert (s["backend"], s["workers"], s["files"], s["separated"], s["failed"]) == ("ray", 2, len(INPUTS) + 1,
                                                                                    len(INPUTS), 1)
    assert s["failures"][0]["path"] == str(bad)
    assert abs(s["audio_s"] - total_audio_s()) < 1e-2 and s["x_real_time"] > 0
    assert not (out / "zz_bad").exists()
    assert_same_as_reference(out, reference)

    before = file_identities(out)
    proc = separate_on_ray(ray_cluster, str(inputs), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    s = summary_of(proc)
    assert (s["separated"], s["skipped"], s["failed"]) == (0, len(INPUTS), 0)
    assert file_identities(out) == before, "a rerun rewrote outputs"


def test_a_worker_node_killed_mid_run_is_retried_elsewhere(ray_cluster, inputs, reference, tmp_path):
    """Runs last in this module: it kills the cluster's worker node for good."""
    out = tmp_path / "out"
    job = subprocess.Popen([sys.executable, "-m", "rtsep", "separate", str(inputs), "-o", str(out), *MODEL_ARGS,
                            "--ray", ray_cluster.address, "--json", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker_node = ray_cluster.nodes[1]
    try:
        # Kill when both nodes are writing a file (each node has one CPU: one task each), so
        # the worker node dies with a half-written stem on disk.
        end = time.time() + TIMEOUT_S
        while time.time() < end and job.poll() is None:
            busy = [p for p in ray_cluster.processes_of(worker_node) if p[3].startswith("ray::separate_file")]
            writing = {p.parent for p in out.rglob(".*.tmp.wav")} if out.exists() else set()
            if busy and len(writing) == 2:
                break
            time.sleep(0.05)
        assert job.poll() is None, "the job ended before the worker node could be killed mid-file"
        ray_cluster.kill_node(worker_node)
        stdout, stderr = job.communicate(timeout=TIMEOUT_S)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr
    s = json.loads(stdout.strip().splitlines()[-1])
    assert (s["separated"], s["failed"]) == (len(INPUTS), 0), stderr
    # The retry found the dead attempt's temporary stems and deleted them first.
    assert s["stale_temp_files"] >= 1, s
    assert_same_as_reference(out, reference)


def test_local_worker_processes_equal_the_local_run(inputs, reference, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("separate", str(inputs), "-o", str(out), *MODEL_ARGS, "--workers", "2", "--json", "--quiet",
                   timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    s = summary_of(proc)
    assert (s["backend"], s["workers"], s["separated"], s["failed"]) == ("processes", 2, len(INPUTS), 0)
    assert_same_as_reference(out, reference)
    before = file_identities(out)
    proc = run_cli("separate", str(inputs), "-o", str(out), *MODEL_ARGS, "--workers", "2", "--json", "--quiet",
                   timeout=TIMEOUT_S)
    assert proc.returncode == 0 and summary_of(proc)["skipped"] == len(INPUTS), proc.stderr
    assert file_identities(out) == before, "a rerun rewrote outputs"


def test_a_retry_deletes_what_a_killed_attempt_left(tmp_path, rng, placeholder_model, capsys):
    """What a SIGKILLed writer leaves (temporary stems, one stem renamed) is cleaned and
    completed by the next run; the stem already in place is not rewritten."""
    path = tmp_path / "song.wav"
    sf.write(path, (0.1 * rng.standard_normal((16000, 1))).astype(np.float32), 16000)
    folder = tmp_path / "o" / "song"
    folder.mkdir(parents=True)
    for stale in (".vocals-abc123.tmp.wav", ".accompaniment-x_y.tmp.wav"):
        (folder / stale).write_bytes(b"half a file")
    (folder / "vocals.wav").write_bytes(b"renamed before the kill")
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--model", str(placeholder_model),
                 "--json", "--quiet"]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (s["backend"], s["separated"], s["stale_temp_files"]) == ("inline", 1, 2)
    assert sorted(p.name for p in folder.iterdir()) == ["accompaniment.wav", "vocals.wav"]
    assert (folder / "vocals.wav").read_bytes() == b"renamed before the kill"
    assert sf.info(str(folder / "accompaniment.wav")).frames == 16000


def test_two_inputs_with_one_output_folder_fail_in_one_line(tmp_path, rng, placeholder_model, capsys):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "take.wav", (0.1 * rng.standard_normal((8000, 1))).astype(np.float32), 16000)
    code = main(["separate", str(tmp_path / "x" / "take.wav"), str(tmp_path / "y" / "take.wav"),
                 "-o", str(tmp_path / "o"), "--model", str(placeholder_model), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    errors = [ln for ln in err.splitlines() if ln.startswith("rtsep: error:")]
    assert len(errors) == 1 and "same output folder" in errors[0] and str(tmp_path / "y") in errors[0]
    s = json.loads(out.strip().splitlines()[-1])
    assert (s["separated"], s["failed"]) == (1, 1)


def test_ray_not_installed_is_one_line(tmp_path, rng, monkeypatch, capsys):
    path = tmp_path / "s.wav"
    sf.write(path, np.zeros((1600, 1), np.float32), 16000)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--ray", "auto"]) == 2
    err = capsys.readouterr().err
    assert err.count("rtsep: error:") == 1 and 'pip install "rtsep[cluster]"' in err
    assert not (tmp_path / "o" / "s").exists()


def test_unreachable_cluster_is_one_quick_line(tmp_path):
    pytest.importorskip("ray", reason='Ray is not installed (pip install "rtsep[cluster]")')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    path = tmp_path / "s.wav"
    sf.write(path, np.zeros((1600, 1), np.float32), 16000)
    t0 = time.time()
    proc = run_cli("separate", str(path), "-o", str(tmp_path / "o"), "--ray", f"127.0.0.1:{port}")
    assert "cannot connect to the Ray cluster" in assert_one_line_error(proc)
    assert time.time() - t0 < 60, "ray.init kept retrying a dead address"
