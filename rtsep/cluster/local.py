"""A throw-away Ray cluster on this machine, for the tests and the benchmark.

Each node is ``ray start --block`` in a process group of its own, with a private temp
dir, so that stopping the cluster (or killing one node) ends exactly the processes this
object started, never another Ray on the machine (``ray stop`` would end them all).
Linux only: a node's task workers are found through ``/proc``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NODE_OBJECT_STORE_BYTES = 100 * 2**20  # the smallest Ray accepts is 75 MiB; files never go through it


def processes() -> list[tuple[int, int, int, str]]:
    """``(pid, ppid, pgid, command line)`` of every process (Linux /proc); Ray's workers
    show their task in it (``ray::separate_file``, ``ray::IDLE``)."""
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    """Ray nodes on 127.0.0.1: :meth:`start_node` (the first is the head), :meth:`kill_node`,
    :meth:`stop`. ``address`` (``HOST:PORT``) and ``client_address`` (``ray://HOST:PORT``, or
    ``None`` without ``ray[client]``) are what ``rtsep separate --ray`` takes.

    Args:
        cpus_per_node: CPUs each node offers Ray (one task per CPU).
    """

    def __init__(self, cpus_per_node: int = 1):
        exe = Path(sys.executable).with_name("ray")
        self.ray = str(exe) if exe.is_file() else shutil.which("ray")
        if not self.ray:
            raise RuntimeError("the `ray` command is not installed (pip install \"rtsep[cluster]\")")
        self.cpus_per_node = int(cpus_per_node)
        self.temp_dir = tempfile.mkdtemp(prefix="rtsep-ray-", dir="/tmp")  # short: Ray's socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Ray Client (ray://) is served by the head when ray[client] (grpcio) is installed
        # (its per-client server can fail to start on a loaded machine: the tests use ``address``).
        have_client = importlib.util.find_spec("grpc") is not None
        self.client_port = free_port() if have_client else None
        self.client_address = f"ray://127.0.0.1:{self.client_port}" if have_client else None
        self.nodes: list[subprocess.Popen] = []
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")

    def start_node(self) -> subprocess.Popen:
        """Start the head node, or a worker node once the head runs; see :meth:`wait_for_nodes`."""
        head = not self.nodes
        cmd = [self.ray, "start", "--block", "--num-cpus", str(self.cpus_per_node), "--node-ip-address",
               "127.0.0.1", "--temp-dir", self.temp_dir, "--object-store-memory", str(NODE_OBJECT_STORE_BYTES),
               "--disable-usage-stats"]
        if head:
            cmd += ["--head", "--port", str(self.port), "--include-dashboard", "false"]
            if self.client_port:
                cmd += ["--ray-client-server-port", str(self.client_port)]
        else:
            cmd += ["--address", self.address]
        with open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "w") as log:
            node = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, count: int, timeout_s: float = 180) -> None:
        """Return once ``count`` nodes are alive in the cluster (``RuntimeError`` after ``timeout_s``)."""
        end = time.time() + timeout_s
        while True:  # the head's GCS port first
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                break
            except OSError:
                if time.time() > end or any(n.poll() is not None for n in self.nodes):
                    raise RuntimeError(f"the Ray head did not start:\n{self.log()}") from None
                time.sleep(0.5)
        code = ("import ray, sys, time\n"
                f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
                f"end = time.time() + {timeout_s}\n"
                f"while sum(n['Alive'] for n in ray.nodes()) < {count} and time.time() < end:\n"
                "    time.sleep(0.5)\n"
                f"sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= {count} else 1)\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s + 60,
                              env=self.env)
        if proc.returncode:
            raise RuntimeError(f"{count} Ray nodes did not come up:\n{proc.stderr[-2000:]}\n{self.log()}")

    def processes_of(self, node: subprocess.Popen) -> list[tuple[int, int, int, str]]:
        """The node's processes: its process group (raylet, agents) and the task workers its
        raylet started (each in a process group of its own)."""
        procs = processes()
        group = {p[0] for p in procs if p[2] == node.pid}
        return [p for p in procs if p[0] in group or p[1] in group]

    def busy_workers(self, node: subprocess.Popen, task: str = "separate_file") -> list[int]:
        """Pids of the node's workers running ``task`` now."""
        return [p[0] for p in self.processes_of(node) if p[3].startswith(f"ray::{task}")]

    def kill_node(self, node: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal every process of ``node`` at once (SIGKILL: the machine dies)."""
        procs = self.processes_of(node)
        for kill, target in [(os.killpg, node.pid)] + [(os.kill, p[0]) for p in procs]:
            try:
                kill(target, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self) -> None:
        """End every node (SIGTERM, then SIGKILL after 3 s) and delete the temp dir."""
        for node in reversed(self.nodes):
            self.kill_node(node, signal.SIGTERM)
        deadline = time.time() + 3
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

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
