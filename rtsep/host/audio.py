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
