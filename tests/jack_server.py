"""Fixtures: a private JACK server (dummy backend) for the live-host tests.

Imported by the live-audio test modules (not a conftest): the ``jack_server`` fixture, or
``private_jack_server(rate, period)`` for a fixture of other settings. The server runs
``jackd --no-realtime -d dummy -r 48000 -p 256`` under a unique name
(``-n``), so parallel runs and anybody's own server are left alone; PortAudio and
JACK-Client find it through ``JACK_DEFAULT_SERVER``. Tests skip with a reason when
jackd or PortAudio is missing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

RATE = 48000
PERIOD = 256


def _need_audio_stack():
    from rtsep.host.jack import have_jackd

    if not have_jackd():
        pytest.skip("jackd / jack_wait not installed (apt-get install jackd2)")
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("PortAudio (libportaudio2) not installed")
    try:
        import jack  # noqa: F401
    except Exception:
        pytest.skip("JACK-Client (python module `jack`) not usable")


@contextlib.contextmanager
def private_jack_server(rate: int = RATE, period: int = PERIOD):
    """A running dummy-backend JACK server that PortAudio (initialised after it started) sees.

    PortAudio must never hold a JACK client of a server that is gone: terminating it then
    aborts the process (an assert in PortAudio's JACK code), and a stream left open can block
    its close for minutes. So PortAudio is terminated (bounded, streams a failed test left
    open closed first) before the server starts and again before it stops, and initialised
    lazily in between (``audio.sd()``), never against a stopped server.
    """
    _need_audio_stack()
    from rtsep.host import audio
    from rtsep.host.jack import JackServer

    if not audio.terminate():
        pytest.fail(f"PortAudio stopped answering earlier in this run ({audio.stuck()})")
    srv = JackServer(rate=rate, period=period).start()
    released = False
    try:
        if not any("JACK" in d["hostapi"] for d in audio.list_devices()):
            pytest.skip("PortAudio was built without JACK support")
        yield srv
    finally:
        # Every JACK client of ours leaves while the server still answers: PortAudio's (bounded),
        # and any JACK-Client client a failed test left open (the garbage collector closing one
        # after its server has gone can crash the process).
        try:
            released = audio.terminate() and close_jack_clients()
        finally:  # the server never outlives the run (an error above: after the process exits)
            if released:
                srv.stop()
            else:
                stop_after_exit(srv)
    if not released:
        pytest.fail(f"PortAudio or a JACK client did not close within {audio.TERMINATE_TIMEOUT_S:.0f} s "
                    f"({audio.stuck() or 'a JACK-Client client'}); its server is stopped after this run")


@pytest.fixture(scope="module")
def jack_server():
    """:func:`private_jack_server` at 48 kHz, 256-frame periods, for a test module."""
    with private_jack_server() as srv:
        yield srv


def close_jack_clients(timeout_s: float = 5.0) -> bool:
    """Close every JACK-Client client still open in this process; False if that hung."""
    import gc
    import threading

    import jack

    clients = [o for o in gc.get_objects() if issubclass(type(o), jack.Client)]  # (not isinstance: weak proxies)

    def close_all():
        for c in clients:
            try:
                c.deactivate()
            except Exception:
                pass
            c.close()
    t = threading.Thread(target=close_all, name="close-jack-clients", daemon=True)
    t.start()
    t.join(timeout_s)
    return not t.is_alive()


def stop_after_exit(srv) -> None:
    """Stop ``srv`` once this process has exited. A thread is still inside PortAudio, waiting
    on the server: stopping the server now could wake it into PortAudio's abort."""
    subprocess.Popen(["sh", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 0.2; done; "
                      f"kill {srv.proc.pid}; sleep 10; kill -9 {srv.proc.pid}"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv.proc = None  # stop() then only restores JACK_DEFAULT_SERVER
    srv.stop()


def free_registry_slot(name: str) -> None:
    """Free the slot a killed server ``name`` leaves in JACK's shared registry of servers (8
    per machine; a dead server's stays taken until a server of the same name starts), by
    starting and stopping one: else every killed server takes one for good."""
    from rtsep.host.jack import JackServer

    JackServer(name=name).start().stop()


def run_cli(args, server=None, timeout=60, env=None):
    """``python -m rtsep ARGS`` in a subprocess on ``server``; returns CompletedProcess."""
    e = dict(os.environ)
    if server is not None:
        e["JACK_DEFAULT_SERVER"] = server.name
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def rtsep_error_lines(stderr: str) -> list[str]:
    """rtsep's own lines on stderr (libjack may add its own chatter when a server dies)."""
    return [ln for ln in stderr.splitlines() if ln.startswith("rtsep:")]


def xrun_problems(jack_server, before, s):
    """What in a run's stats ``s`` is of our making, given the server's xrun counts ``before`` it.

    The dummy server's own clock may wake late on a virtualised machine (it does so with an
    empty client too): each such late cycle may flag one callback and cost the worker at most
    two blocks. Client overruns beyond the periods our callbacks overran (our own timing,
    ``overrun_periods``) are the OS waking the audio thread late, not our code. Besides, a VM jitter
    budget of 1 in 500 blocks; a systematic fault (a GC pause or an allocation every few
    hundred blocks, a lock on the audio path) misses far more often. Empty list: none.
    """
    driver, client = (n - n0 for n, n0 in zip(jack_server.xrun_counts(), before))
    # a client xrun is ours only as far as our callbacks overran their periods (one callback
    # preempted on a loaded machine must not make every xrun of the run ours)
    ours = min(client, s.get("overrun_periods", client if s["callback_pct_max"] >= 100 else 0))
    explained = driver + client - ours  # late wake-ups of the server or of the audio thread
    budget = s["callbacks"] // 500
    problems = []
    if ours > budget:
        problems.append(f"{ours} client xruns with a callback past its period")
    if s["dropouts"] > explained + budget:
        problems.append(f"{s['dropouts']} dropouts for {explained} late wake-ups")
    if s["deadline_misses"] > 2 * explained + budget:
        problems.append(f"{s['deadline_misses']} deadline misses for {explained} late wake-ups")
    return problems
