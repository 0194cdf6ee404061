"""Lazy access to PortAudio (through ``sounddevice``) and device lookup.

Nothing in :mod:`rtsep` imports ``sounddevice`` at import time: only the live commands
need PortAudio, and on a machine without ``libportaudio2`` they fail with one line.
"""

from __future__ import annotations

import os

from ..errors import DeviceError

_sd = None


def sd():
    """The ``sounddevice`` module, imported on first use; one-line :class:`DeviceError`
    if PortAudio is missing."""
    global _sd
    if _sd is None:
        try:
            import sounddevice
        except OSError as exc:  # sounddevice raises OSError when libportaudio is absent
            raise DeviceError("PortAudio not found: install the libportaudio2 package "
                              f"(apt-get install libportaudio2) ({str(exc).strip().splitlines()[0]})") from None
        except ImportError:
            raise DeviceError("the sounddevice Python package is not installed (pip install sounddevice), "
                              "and it needs the libportaudio2 system package") from None
        _sd = sounddevice
    return _sd


def reinitialize() -> None:
    """Re-scan host APIs and devices (e.g. after a JACK server started or stopped).

    PortAudio enumerates devices once, at initialisation; the JACK host API only appears
    if a server was running then. Must not be called while a stream is open.
    """
    s = sd()
    try:
        s._terminate()
    except Exception:
        pass
    s._initialize()


def abandon_portaudio() -> None:
    """After a stream hung on close (its JACK server died), skip sounddevice's exit handler,
    which would terminate PortAudio and hang the same way: the process exits instead."""
    import atexit

    if _sd is not None and hasattr(_sd, "_exit_handler"):
        atexit.unregister(_sd._exit_handler)


def hostapi_name(index: int) -> str:
    return sd().query_hostapis(index)["name"]


def list_devices() -> list[dict]:
    """Every device PortAudio sees, as plain dicts."""
    s = sd()
    out = []
    try:
        devs = s.query_devices()
    except Exception as exc:
        raise DeviceError(f"cannot list audio devices: {_first_line(exc)}") from None
    for d in devs:
        out.append({
            "index": d["index"], "name": d["name"], "hostapi": hostapi_name(d["hostapi"]),
            "max_input_channels": d["max_input_channels"], "max_output_channels": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"],
            "default_low_input_latency": d["default_low_input_latency"],
            "default_low_output_latency": d["default_low_output_latency"],
        })
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
        return False, _first_line(exc)


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
        raise DeviceError(f"cannot open the audio stream: {_first_line(exc)}") from None
    ports = {"in": [], "out": []}
    if before is not None:
        new = [p for p in _portaudio_jack_ports(output_device) or [] if p not in before]
        ports = {"in": [p for p in new if ":in_" in p], "out": [p for p in new if ":out_" in p]}
    return stream, lat, ports


def close_stream(stream, timeout_s: float) -> bool:
    """Abort and close ``stream``; False if PortAudio hung (its JACK server died): the
    stream is then abandoned after ``timeout_s`` (see :func:`abandon_portaudio`)."""
    import threading

    def close():
        for op in (stream.abort, stream.close):
            try:
                op()
            except Exception:
                pass
    t = threading.Thread(target=close, name="rtsep-stream-close", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        abandon_portaudio()
        return False
    return True


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
