"""Lazy access to PortAudio (through ``sounddevice``) and device lookup.

Nothing in :mod:`rtsep` imports ``sounddevice`` at import time: only the live commands
need PortAudio, and on a machine without ``libportaudio2`` they fail with one line.

PortAudio's life cycle, bounded: with a JACK server, closing a stream or terminating
PortAudio waits on the server (``Pa_CloseStream`` can block for minutes when the server
dropped the client), and terminating after the server is gone aborts the process (an
``assert`` in PortAudio's JACK code). So every close and terminate runs on a helper thread
with a time limit; one that does not return marks PortAudio *stuck* (:func:`stuck`) and it
is not called again while that call runs. It is initialised lazily (:func:`sd`), so a terminated PortAudio
picks up whichever server runs when it is next needed, and :func:`shutdown` replaces
``sounddevice``'s exit handler (an unbounded terminate) at process exit.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from ..errors import DeviceError, one_line

START_TIMEOUT_S = 10.0  # Pa_StartStream (on JACK: until the server first runs the client)
CLOSE_TIMEOUT_S = 2.0  # one stream's abort + close
TERMINATE_TIMEOUT_S = 5.0  # Pa_Terminate (closes PortAudio's JACK client)

_sd = None
_open_streams: set = set()  # strong references: PortAudio calls a stream's callback until it is closed
_stuck: str | None = None  # what did not return in time; PortAudio is left alone while it runs
_stuck_threads: list = []  # the helper threads still inside PortAudio
_jack_server: str | None = None  # the JACK server PortAudio's client was opened on (at initialisation)


def sd():
    """The ``sounddevice`` module, imported (and PortAudio initialised) on first use; one-line
    :class:`DeviceError` if PortAudio is missing or stuck."""
    if stuck() is not None:
        raise DeviceError(f"PortAudio stopped answering ({_stuck}; the audio server did not answer): "
                          "restart rtsep")
    if _sd is None:
        try:
            import sounddevice  # initialises PortAudio
        except OSError as exc:  # sounddevice raises OSError when libportaudio is absent
            raise DeviceError("PortAudio not found: install the libportaudio2 package "
                              f"(apt-get install libportaudio2) ({one_line(exc)})") from None
        except ImportError:
            raise DeviceError("the sounddevice Python package is not installed (pip install sounddevice), "
                              "and it needs the libportaudio2 system package") from None
        _adopt(sounddevice)
    elif not _initialized():
        try:
            _sd._initialize()
        except Exception as exc:
            raise DeviceError(f"cannot initialise PortAudio: {one_line(exc)}") from None
        _note_jack_server()
    return _sd


def _adopt(module) -> None:
    global _sd
    _sd = module
    _note_jack_server()
    atexit.register(shutdown)  # runs before sounddevice's own handler (last registered, first run)


def _imported() -> bool:
    """Whether ``sounddevice`` was imported (here or by anybody else: it initialises PortAudio)."""
    if _sd is None and "sounddevice" in sys.modules:
        _adopt(sys.modules["sounddevice"])
    return _sd is not None


def _initialized() -> bool:
    return bool(getattr(_sd, "_initialized", 0))


def _note_jack_server() -> None:
    global _jack_server
    _jack_server = os.environ.get("JACK_DEFAULT_SERVER") or "default"


def stuck() -> str | None:
    """What in PortAudio did not return within its time limit (None: nothing); PortAudio is
    not called again until that call has returned (it may, late: a loaded machine)."""
    global _stuck
    if _stuck is not None and not any(t.is_alive() for t in _stuck_threads):
        _stuck = None
        _stuck_threads.clear()
    return _stuck


def _mark_stuck(what: str, thread: threading.Thread) -> None:
    global _stuck
    _stuck = _stuck or what
    _stuck_threads.append(thread)
    if _sd is not None:  # its exit handler would terminate PortAudio without a time limit
        atexit.unregister(_sd._exit_handler)


def _bounded(fn, timeout_s: float, what: str) -> bool:
    """Run ``fn`` on a daemon thread for at most ``timeout_s``; errors it raises are ignored.
    False (and PortAudio marked stuck) if it did not return in time."""
    t = threading.Thread(target=_quiet(fn), name=f"rtsep-{what.replace(' ', '-')}", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        _mark_stuck(what, t)
        return False
    return True


def _quiet(fn):
    def run():
        try:
            fn()
        except Exception:
            pass
    return run


def terminate(timeout_s: float = TERMINATE_TIMEOUT_S) -> bool:
    """Close the streams still open and terminate PortAudio (its JACK client leaves the
    server), each with a bounded wait. Call it while the JACK server still runs. The next
    :func:`sd` initialises PortAudio again. False if PortAudio did not answer (see :func:`stuck`)."""
    if not _imported() or stuck() is not None:
        return stuck() is None
    for stream in list(_open_streams):
        if not close_stream(stream, min(timeout_s, CLOSE_TIMEOUT_S)):
            return False

    def pa_terminate():
        while _initialized():
            _sd._terminate()
    return _bounded(pa_terminate, timeout_s, "terminating PortAudio")


def reinitialize() -> None:
    """Re-scan host APIs and devices (e.g. after a JACK server started or stopped).

    PortAudio enumerates devices once, at initialisation; the JACK host API only appears
    if a server was running then. Closes any open stream (bounded, see :func:`terminate`).
    """
    if not terminate():
        raise DeviceError(f"PortAudio stopped answering ({stuck()}; the audio server did not answer): "
                          "restart rtsep")
    sd()


def shutdown(timeout_s: float = TERMINATE_TIMEOUT_S) -> None:
    """At process exit: close the streams and terminate PortAudio, bounded, and only when
    that is safe (nothing stuck, and a JACK server PortAudio's client is on still answers:
    PortAudio aborts the process terminating a client of a dead server; the process exit
    releases everything anyway). ``sounddevice``'s own exit handler is unregistered."""
    if not _imported():
        return
    atexit.unregister(_sd._exit_handler)
    if stuck() is not None:
        return
    for stream in list(_open_streams):
        if not close_stream(stream, CLOSE_TIMEOUT_S):
            return
    if _initialized() and _jack_client_safe_to_close(timeout_s):
        terminate(timeout_s)


def _jack_client_safe_to_close(timeout_s: float) -> bool:
    """No JACK host API in PortAudio, or its server answers a new client (JACK-Client)."""
    try:
        if not any("JACK" in h["name"] for h in _sd.query_hostapis()):
            return True
        import jack
    except Exception:
        return False  # cannot tell: leave it to the process exit
    answered = []

    def probe():
        jack.set_error_function(lambda msg: None)  # no libjack chatter when the server is gone
        jack.set_info_function(lambda msg: None)
        jack.Client("rtsep-exit-probe", no_start_server=True, servername=_jack_server).close()
        answered.append(True)
    if not _bounded(probe, timeout_s, "asking the JACK server"):
        return False
    return bool(answered)


def hostapi_name(index: int) -> str:
    return sd().query_hostapis(index)["name"]


def list_devices() -> list[dict]:
    """Every device PortAudio sees, as plain dicts."""
    s = sd()
    out = []
    try:
        devs = s.query_devices()
    except Exception as exc:
        raise DeviceError(f"cannot list audio devices: {one_line(exc)}") from None
    for d in devs:
        out.append({
            "index": d["index"], "name": d["name"], "hostapi": hostapi_name(d["hostapi"]),
            "max_input_channels": d["max_input_channels"], "max_output_channels": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"],
            "default_low_input_latency": d["default_low_input_latency"],
            "default_low_output_latency": d["default_low_output_latency"],
        })
    return out


def resolve_device(spec, kind: str) -> int:
    """Index of the ``kind`` ("input"/"output") device ``spec``: ``None`` (the default),
    an index, or a case-insensitive substring of its name (``"name@hostapi"`` also
    matches "name (hostapi)"). A one-line :class:`DeviceError` if nothing fits."""
    s = sd()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = list_devices()
    if spec is None or spec == "":
        idx = s.default.device[0 if kind == "input" else 1]
        if idx is None or idx < 0:
            with_ch = [d for d in devices if d[key] > 0]
            # Prefer JACK when a server runs: it is what the live host is tuned for.
            with_ch.sort(key=lambda d: 0 if "JACK" in d["hostapi"] else 1)
            if not with_ch:
                raise DeviceError(f"no {kind} audio device found (is a sound card or a JACK server present? "
                                  "run `rtsep devices`)")
            idx = with_ch[0]["index"]
        return int(idx)
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        match = [d for d in devices if d["index"] == idx]
        if not match:
            raise DeviceError(f"no audio device with index {idx} (run `rtsep devices` to list them)")
        if match[0][key] < 1:
            raise DeviceError(f"device {idx} ({match[0]['name']}) has no {kind} channels")
        return idx
    low = text.lower()
    match = [d for d in devices if d[key] > 0 and (low in d["name"].lower()
                                                   or low in f"{d['name']} ({d['hostapi']})".lower())]
    if not match:
        raise DeviceError(f"no {kind} device matches {text!r} (run `rtsep devices` to list them)")
    exact = [d for d in match if d["name"].lower() == low]
    return int((exact or match)[0]["index"])


def device_info(index: int) -> dict:
    d = sd().query_devices(index)
    return {"index": index, "name": d["name"], "hostapi": hostapi_name(d["hostapi"]),
            "max_input_channels": d["max_input_channels"], "max_output_channels": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"]}


def jack_server_name() -> str | None:
    return os.environ.get("JACK_DEFAULT_SERVER") or None


class StreamFormat:
    """What a device pair can run: devices, channel counts and rate, with notes for the user."""

    def __init__(self, output_device: int, input_device: int | None, in_channels: int, out_channels: int,
                 sample_rate: int, notes: list[str]):
        self.output_device, self.input_device = output_device, input_device
        self.in_channels, self.out_channels = in_channels, out_channels
        self.sample_rate, self.notes = sample_rate, notes


def negotiate(output_device, input_device, *, duplex: bool, channels: int, samplerate: int | None,
              min_in_channels: int = 1) -> StreamFormat:
    """Resolve the devices and pick channel counts and a rate both accept. A rate the device
    refuses falls back to its default (with a note); anything else is a one-line DeviceError."""
    notes: list[str] = []
    out_dev = resolve_device(output_device, "output")
    in_dev = resolve_device(input_device, "input") if duplex else None
    out_info = device_info(out_dev)
    in_info = device_info(in_dev) if in_dev is not None else None
    out_ch = min(channels, out_info["max_output_channels"])
    in_ch = min(max(channels, min_in_channels), in_info["max_input_channels"]) if in_info else 0
    if out_ch < 1:
        raise DeviceError(f"output device {out_info['name']!r} has no output channels")
    if in_info is not None and in_ch < min_in_channels:
        raise DeviceError(f"input device {in_info['name']!r} has {in_info['max_input_channels']} input "
                          f"channel(s); {min_in_channels} needed")
    if in_ch and in_ch not in (1, channels) and min_in_channels <= 1:
        notes.append(f"input has {in_ch} channels; using them, the rest silent")
    if out_ch < channels:
        notes.append(f"output device has {out_ch} channel(s); playing the first")
    default_rate = int(out_info["default_samplerate"])
    rate = int(samplerate or default_rate)
    ok, why = _rate_ok(out_dev, out_ch, in_dev, in_ch, rate)
    if not ok:
        if rate != default_rate and _rate_ok(out_dev, out_ch, in_dev, in_ch, default_rate)[0]:
            notes.append(f"the device does not run at {rate} Hz: streaming at {default_rate} Hz "
                         f"(a source file is resampled)")
            rate = default_rate
        else:
            raise DeviceError(f"the audio device does not support {rate} Hz with "
                              f"{in_ch or out_ch} channel(s): {why}")
    return StreamFormat(out_dev, in_dev, in_ch, out_ch, rate, notes)


def _rate_ok(out_dev, out_ch, in_dev, in_ch, rate) -> tuple[bool, str]:
    s = sd()
    try:
        s.check_output_settings(device=out_dev, channels=out_ch, dtype="float32", samplerate=rate)
        if in_dev is not None:
            s.check_input_settings(device=in_dev, channels=in_ch, dtype="float32", samplerate=rate)
        return True, ""
    except Exception as exc:
        return False, one_line(exc)


def open_stream(output_device: int, input_device: int | None, rate: int, blocksize: int,
                channels: tuple[int, int], callback, latency) -> tuple[object, tuple[float, float], dict]:
    """Open (not start) an output-only (``input_device is None``) or duplex float32 stream.
    Returns ``(stream, (input_latency_s, output_latency_s), jack_ports)``; ``jack_ports`` are
    the stream's own ports ``{"in": [...], "out": [...]}`` on a JACK device (else empty)."""
    s = sd()
    before = _portaudio_jack_ports(output_device)
    try:
        if input_device is None:
            stream = s.OutputStream(device=output_device, samplerate=rate, blocksize=blocksize,
                                    channels=channels[1], dtype="float32", callback=callback, latency=latency)
            lat = (0.0, float(stream.latency))
        else:
            stream = s.Stream(device=(input_device, output_device), samplerate=rate, blocksize=blocksize,
                              channels=channels, dtype="float32", callback=callback, latency=latency)
            lat = tuple(float(v) for v in stream.latency)
    except Exception as exc:
        raise DeviceError(f"cannot open the audio stream: {one_line(exc)}") from None
    _open_streams.add(stream)
    ports = {"in": [], "out": []}
    if before is not None:
        new = [p for p in _portaudio_jack_ports(output_device) or [] if p not in before]
        ports = {"in": [p for p in new if ":in_" in p], "out": [p for p in new if ":out_" in p]}
    return stream, lat, ports


def start_stream(stream, timeout_s: float = START_TIMEOUT_S) -> None:
    """Start ``stream`` on a helper thread; one-line :class:`DeviceError` if it fails or does
    not return within ``timeout_s`` (PortAudio's JACK code waits for the server to run its
    client: minutes, when the server dropped it). PortAudio is then marked stuck."""
    failed: list[BaseException] = []

    def start():
        try:
            stream.start()
        except Exception as exc:
            failed.append(exc)
    if not _bounded(start, timeout_s, "starting an audio stream"):
        raise DeviceError(f"cannot start the audio stream: the audio server did not answer within "
                          f"{timeout_s:.0f} s")
    if failed:
        raise DeviceError(f"cannot start the audio stream: {one_line(failed[0])}")


def close_stream(stream, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Abort and close ``stream`` on a helper thread; False if PortAudio did not return
    within ``timeout_s`` (its JACK server died or dropped the client): the stream is then
    abandoned and PortAudio marked stuck (:func:`stuck`)."""
    _open_streams.discard(stream)
    if stuck() is not None:
        return False

    def close():
        for op in (stream.abort, stream.close):
            try:
                op()
            except Exception:
                pass
    return _bounded(close, timeout_s, "closing an audio stream")


def _portaudio_jack_ports(output_device: int) -> list[str] | None:
    """Names of PortAudio's JACK ports, if the output device is on JACK (else None)."""
    if "JACK" not in device_info(output_device)["hostapi"]:
        return None
    try:
        from .jack import client, portaudio_port_names

        cl = client("rtsep-ports")
        try:
            return portaudio_port_names(cl)
        finally:
            cl.close()
    except Exception:
        return None


if "sounddevice" in sys.modules:  # imported (PortAudio initialised) before rtsep: its exit is ours too
    _imported()
