"""JACK helpers: start a private server, wire PortAudio's ports, record, run jack_iodelay.

Uses the ``jack`` module (JACK-Client) and the ``jackd``/``jack_wait``/``jack_iodelay``
programs of the jackd2 package. A server name (``-n``) keeps tests and benchmarks off
anybody else's server; PortAudio and JACK-Client pick it up from the
``JACK_DEFAULT_SERVER`` environment variable.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import numpy as np

from ..errors import DeviceError, one_line
from .realtime import RT_PRIORITY_CALLBACK, make_realtime

PORTAUDIO_CLIENT = "PortAudio"


def jack_module():
    try:
        import jack
    except Exception as exc:  # OSError: libjack missing
        raise DeviceError(f"the JACK client library is not available ({one_line(exc)}); "
                          "install jackd2 / libjack-jackd2-0 and the JACK-Client package") from None
    return jack


def have_jackd() -> bool:
    return shutil.which("jackd") is not None and shutil.which("jack_wait") is not None


class JackServer:
    """A ``jackd`` with the dummy backend (no sound card), started and stopped by us.

    ``realtime=False`` runs ``jackd --no-realtime``; ``boost=True`` then still tries to
    give the server's threads SCHED_FIFO (``chrt``) if the OS allows it, which makes the
    dummy driver's clock robust on a loaded machine; without permission it runs as is.
    """

    def __init__(self, name: str | None = None, rate: int = 48000, period: int = 256,
                 realtime: bool = False, boost: bool = True, timeout_s: float = 10.0):
        self.name = name or f"rtsep-{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        self.rate, self.period = int(rate), int(period)
        self.realtime, self.boost = realtime, boost
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None
        self.log = b""
        self._logfile = None
        self._old_env = None

    def start(self) -> "JackServer":
        if not have_jackd():
            raise DeviceError("jackd is not installed (apt-get install jackd2)")
        cmd = ["jackd", "-n", self.name, "--no-realtime" if not self.realtime else "--realtime",
               "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        # Its output goes to a file, not a pipe: a pipe nobody drains fills up (xrun reports on a
        # loaded machine) and jackd then blocks writing to it, and with it every client.
        self._logfile = tempfile.TemporaryFile(prefix="jackd-log-")
        self.proc = subprocess.Popen(cmd, stdout=self._logfile, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        try:
            subprocess.run(["jack_wait", "-w", "-s", self.name, "-t", str(int(self.timeout_s))],
                           check=True, capture_output=True, timeout=self.timeout_s + 5)
        except (subprocess.SubprocessError, OSError) as exc:
            self.stop()
            raise DeviceError(f"jackd did not come up ({exc}): {self.log.decode(errors='replace')[-300:]}")
        if self.proc.poll() is not None:
            self.stop()
            raise DeviceError("jackd exited at start")
        if self.boost and not self.realtime and shutil.which("chrt"):
            subprocess.run(["chrt", "-f", "-a", "-p", "70", str(self.proc.pid)], capture_output=True)
        self._old_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        return self

    def _drain(self) -> None:
        try:
            while chunk := os.pread(self._logfile.fileno(), 65536, len(self.log)):
                self.log += chunk
        except (AttributeError, OSError, ValueError):
            pass

    def read_log(self) -> str:
        """The server's output so far (its xrun reports among it)."""
        self._drain()
        return self.log.decode(errors="replace")

    def xrun_counts(self) -> tuple[int, int]:
        """``(driver, client)`` xruns the server has reported so far: *driver* xruns are its own
        clock waking late (``JackTimedDriver::Process XRun``; the dummy backend on a busy or
        virtualised machine), *client* xruns a client that was not finished in its cycle and
        not just after such a late wake-up (which leaves every client unfinished)."""
        driver = client = 0
        after_driver = False
        for line in self.read_log().splitlines():
            if "JackTimedDriver::Process XRun" in line:
                driver += 1
                after_driver = True
            elif "was not finished" in line:
                client += 0 if after_driver else 1
            elif line.strip():
                after_driver = False
        return driver, client

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        if self._logfile is not None:
            self._drain()
            self._logfile.close()
            self._logfile = None
        if self._old_env is not None:
            os.environ["JACK_DEFAULT_SERVER"] = self._old_env
        elif os.environ.get("JACK_DEFAULT_SERVER") == self.name:
            del os.environ["JACK_DEFAULT_SERVER"]
        self._old_env = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def client(name: str = "rtsep-ctl"):
    jack = jack_module()
    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackError as exc:
        raise DeviceError(f"cannot connect to the JACK server ({exc})") from None


def portaudio_port_names(cl) -> list[str]:
    """Ports of every PortAudio client on the server (JACK renames a second client
    ``PortAudio-01``...; diff two snapshots to find one stream's ports)."""
    return [p.name for p in cl.get_ports(f"^{PORTAUDIO_CLIENT}[^:]*:", is_audio=True)]


def _port_index(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def connect_loopback(cl, outs: list[str], ins: list[str], channels: int = 1) -> None:
    """Disconnect the given (PortAudio) ports from everything and wire ``outs[k] → ins[k]``."""
    outs = sorted(outs, key=_port_index)
    ins = sorted(ins, key=_port_index)
    if not outs or not ins:
        raise DeviceError("the stream's JACK ports (PortAudio:out_N / in_N) were not found: "
                          "is the stream running on the JACK host API?")
    for name in outs + ins:
        port = cl.get_port_by_name(name)
        for other in cl.get_all_connections(port):
            try:
                cl.disconnect(port, other) if port.is_output else cl.disconnect(other, port)
            except Exception:
                pass
    for k in range(min(channels, len(outs), len(ins))):
        cl.connect(outs[k], ins[k])


class JackRecorder:
    """Records JACK ports (e.g. ``PortAudio:out_0``) into a preallocated buffer.

    Its process callback runs in JACK's thread: copies only. ``start_frame`` is the JACK
    frame time of the first recorded sample.
    """

    def __init__(self, sources: list[str], seconds: float, name: str = "rtsep-rec"):
        jack = jack_module()
        self.client = jack.Client(name, no_start_server=True)
        self.sources = list(sources)
        self.rate = self.client.samplerate
        self.buf = np.zeros((int(seconds * self.rate), len(sources)), dtype=np.float32)
        self.pos = 0
        self.start_frame = -1
        self.xruns = 0
        self.rt_status = ""
        self.ports = [self.client.inports.register(f"in_{k}") for k in range(len(sources))]
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    def _xrun(self, delay):
        self.xruns += 1

    def _process(self, frames):
        if not self.rt_status:
            self.rt_status = make_realtime(RT_PRIORITY_CALLBACK)
        p = self.pos
        n = min(frames, len(self.buf) - p)
        if p == 0:
            self.start_frame = self.client.last_frame_time
        if n > 0:
            for k, port in enumerate(self.ports):
                self.buf[p:p + n, k] = port.get_array()[:n]
            self.pos = p + n

    def start(self) -> "JackRecorder":
        self.client.activate()
        for src, port in zip(self.sources, self.ports):
            self.client.connect(src, port)
        return self

    def stop(self) -> np.ndarray:
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:
            pass
        return self.buf[:self.pos]


class JackPlayer:
    """Plays a preallocated ``(frames,)`` signal into JACK ports (e.g. a stream's
    ``PortAudio:in_0``) once :meth:`play` is called; ``start_frame`` is the JACK frame time
    of its first sample (the same clock as :class:`JackRecorder`'s).

    Its process thread makes itself real-time (like the recorder's): it stands in for a sound
    card's capture, which the host under test must not be able to delay. Beside a server that
    is not real-time its thread is an ordinary one, and the server wakes it first in each cycle:
    traced on a 2-core VM, it then waited up to 2.9 ms (a 128-frame period is 2.7) for the
    host's GUI thread to end its time slice on one core while the other was idle, and the
    host's stream, next in the graph, was reported late for it (most of the soak's dropouts,
    in the bypassed run as in the evening)."""

    def __init__(self, signal: np.ndarray, targets: list[str], name: str = "rtsep-play"):
        jack = jack_module()
        self.client = jack.Client(name, no_start_server=True)
        self.signal = np.ascontiguousarray(signal, dtype=np.float32)
        self.targets = list(targets)
        self.port = self.client.outports.register("out")
        self.pos = 0
        self.start_frame = -1
        self.armed = False
        self.rt_status = ""
        self.client.set_process_callback(self._process)

    def _process(self, frames):
        if not self.rt_status:
            self.rt_status = make_realtime(RT_PRIORITY_CALLBACK)
        buf = self.port.get_array()
        buf.fill(0.0)
        if not self.armed:
            return
        p = self.pos
        if p == 0:
            self.start_frame = self.client.last_frame_time
        n = min(frames, len(self.signal) - p)
        if n > 0:
            buf[:n] = self.signal[p:p + n]
            self.pos = p + n

    def start(self) -> "JackPlayer":
        self.client.activate()
        for t in self.targets:
            self.client.connect(self.port, t)
        return self

    def play(self) -> None:
        self.armed = True

    @property
    def done(self) -> bool:
        return self.pos >= len(self.signal)

    def stop(self) -> None:
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:
            pass


def run_iodelay(seconds: float = 3.0) -> float:
    """Round trip of a direct JACK loop measured by ``jack_iodelay`` (frames): it is run,
    its ``jack_delay:out`` wired to its ``jack_delay:in``, and its last stable reading
    returned. Raises :class:`DeviceError` if it reports nothing."""
    if shutil.which("jack_iodelay") is None:
        raise DeviceError("jack_iodelay is not installed (jackd2 package)")
    p = subprocess.Popen(["stdbuf", "-oL", "jack_iodelay"] if shutil.which("stdbuf") else ["jack_iodelay"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(iter(p.stdout.readline, b"")), daemon=True)
    reader.start()
    try:
        cl = client("rtsep-iodelay-ctl")
        t_end = time.monotonic() + 5
        while not cl.get_ports("^jack_delay:"):
            if time.monotonic() > t_end:
                raise DeviceError("jack_iodelay did not register its ports")
            time.sleep(0.05)
        cl.connect("jack_delay:out", "jack_delay:in")
        time.sleep(seconds)
        cl.close()
    finally:
        p.terminate()
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
        reader.join(timeout=2)
    text = b"".join(out).decode(errors="replace").replace("\r", "\n")
    vals = [float(m.group(1)) for m in re.finditer(r"([\d.]+) frames\s+[\d.]+ ms total roundtrip", text)]
    if not vals:
        raise DeviceError(f"jack_iodelay reported no round trip: {text.strip()[-200:]!r}")
    return vals[-1]
